import PostgresFormat
import Repository

/// The segment `receive-wal` is writing: `wal/receiving/<name>.partial` in a directory
/// repository, made at the segment's full size (zeros past what was received, as
/// pg_receivewal's partial files), written at each byte's offset and fdatasync'ed at each
/// flush: what the status update reports flushed is on disk. Once whole it is renamed to
/// `<name>` and published as archive-push publishes (WALArchive), then removed.
final class ReceivingSegment {
    static let directoryName = "receiving"

    let segment: WALSegmentName
    let path: String
    private let file: OpenFile
    /// Bytes from the segment's start that were written (contiguous) and that are durable.
    private(set) var written: UInt64 = 0
    private(set) var flushed: UInt64 = 0

    /// Opens (a restart: overwrites from the start) the file for `segment` in `directory`.
    init(_ segment: WALSegmentName, in directory: String) throws {
        self.segment = segment
        path = directory + "/" + segment.name + ".partial"
        try FileSystem.makeDirectories(directory)
        file = try OpenFile(updating: path)
        try file.truncate(to: segment.segmentSize)
        try FileSystem.syncDirectory(directory)
    }

    deinit { file.close() }

    var isWhole: Bool { written == segment.segmentSize }
    var writtenLSN: LSN { LSN(segment.startLSN.value + written) }
    var flushedLSN: LSN { LSN(segment.startLSN.value + flushed) }

    /// `bytes` at `offset` in the segment: the next ones after what was written, else the
    /// stream has a gap and this says so.
    func write(_ bytes: ArraySlice<UInt8>, at offset: UInt64) throws {
        guard offset == written, offset + UInt64(bytes.count) <= segment.segmentSize else {
            throw EngineError.invalidWALFile(path: path, reason: "the server sent WAL at offset \(offset) of \(segment.name) after \(written) bytes: the stream is not contiguous")
        }
        try bytes.withUnsafeBytes { try file.write($0, at: offset) }
        written += UInt64(bytes.count)
    }

    func flush() throws {
        guard flushed < written else { return }
        try file.sync()
        flushed = written
    }

    /// The whole segment under its own name, ready for WALArchive.push.
    func close() throws -> String {
        try flush()
        try file.closeChecked()
        let whole = FileSystem.parentDirectory(of: path) + "/" + segment.name
        try FileSystem.rename(path, whole)
        try FileSystem.syncDirectory(FileSystem.parentDirectory(of: path))
        return whole
    }
}
