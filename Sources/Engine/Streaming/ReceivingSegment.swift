import PostgresFormat
import Repository
import StorageInterface

/// The segment `receive-wal` is writing, as `<name>.partial` in its receiving directory, made
/// at the segment's full size (zeros past what was received, as pg_receivewal's partial
/// files) and written at each byte's offset. Once whole it is renamed to `<name>` and
/// published as archive-push publishes (WALArchive), then removed.
///
/// Where a flush makes it durable depends on the repository (ReceivedPartials): a directory
/// repository's receiving directory is wal/receiving/ itself, and a flush is fdatasync; for
/// an object store the file is a local spool, and a flush replaces the repository's partial
/// object with what was received, at most once per upload interval (and at once for a new
/// segment, so the repository shows which segment is being received).
final class ReceivingSegment {
    /// Where the partial goes at a flush, when the local file is only a spool.
    struct Upload {
        let storage: any RepositoryStorage
        let intervalSeconds: Double
    }

    let segment: WALSegmentName
    let path: String
    private let file: OpenFile
    private let upload: Upload?
    private var lastUpload = -Double.infinity
    /// Bytes from the segment's start that were written (contiguous) and that are durable.
    private(set) var written: UInt64 = 0
    private(set) var flushed: UInt64 = 0

    /// Opens (a restart: overwrites from the start) the file for `segment` in `directory`.
    init(_ segment: WALSegmentName, in directory: String, upload: Upload?) throws {
        self.segment = segment
        self.upload = upload
        path = directory + "/" + segment.name + ".partial"
        try FileSystem.makeDirectories(directory)
        file = try OpenFile(updating: path)
        try Self.allocate(file, size: segment.segmentSize, zeroFilled: upload == nil)
        if upload == nil { try FileSystem.syncDirectory(directory) }
    }

    /// The file at the segment's size. A new one in the repository is written with zeros
    /// first, as PostgreSQL and pg_receivewal make their segments: each flush then writes
    /// data into allocated blocks instead of allocating them (a sparse file's fdatasync also
    /// commits the allocation). A file a killed receiver left keeps its content: that WAL was
    /// reported flushed and stays readable until it is written again, identically.
    private static func allocate(_ file: OpenFile, size: UInt64, zeroFilled: Bool) throws {
        let existing = try file.size()
        guard existing < size else { return }
        guard zeroFilled, existing == 0 else { return try file.truncate(to: size) }
        let zeros = [UInt8](repeating: 0, count: 1 << 20)
        var offset: UInt64 = 0
        while offset < size {
            let count = Int(min(UInt64(zeros.count), size - offset))
            try zeros.withUnsafeBytes { try file.write(UnsafeRawBufferPointer(rebasing: $0[0..<count]), at: offset) }
            offset += UInt64(count)
        }
        try file.sync()
    }

    deinit { file.close() }

    var isWhole: Bool { written == segment.segmentSize }
    var hasUnflushed: Bool { flushed < written }
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

    /// Makes what was written durable in the repository; an upload not yet due (`force`
    /// aside) waits for a later call.
    func flush(force: Bool = false) throws {
        guard flushed < written else { return }
        if let upload {
            let now = monotonicSeconds()
            guard force || now - lastUpload >= upload.intervalSeconds else { return }
            try store(upload.storage)
            lastUpload = now
        } else {
            try file.syncData()
        }
        flushed = written
    }

    /// The received prefix as the repository's partial object, replacing the previous one.
    private func store(_ storage: any RepositoryStorage) throws {
        let name = ReceivedPartials.name(of: segment.name)
        let stream = try storage.openWrite(name, expectedSize: written)
        do {
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            var offset: UInt64 = 0
            while offset < written {
                let count = Int(min(UInt64(buffer.count), written - offset))
                let n = try buffer.withUnsafeMutableBytes { try file.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<count]), at: offset) }
                guard n == count else { throw EngineError.invalidWALFile(path: path, reason: "read \(n) of \(count) bytes at \(offset)") }
                try buffer.withUnsafeBytes { try stream.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                offset += UInt64(n)
            }
            try stream.commit()
        } catch {
            stream.abandon()
            throw error
        }
    }

    /// The whole segment under its own name, ready for WALArchive.push.
    func close() throws -> String {
        if upload == nil { try flush() }
        try file.closeChecked()
        let whole = FileSystem.parentDirectory(of: path) + "/" + segment.name
        try FileSystem.rename(path, whole)
        if upload == nil { try FileSystem.syncDirectory(FileSystem.parentDirectory(of: path)) }
        return whole
    }
}
