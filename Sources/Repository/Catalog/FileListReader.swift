import PostgresFormat
import StorageInterface

/// A backup's file list read forward an entry at a time, on demand: a merge of two lists
/// in the same order (a backup and its parent) holds one entry of each, not a list. Each
/// line is checked as it is parsed; the seal and backup.ini's checksum once the end is
/// reached, so nothing `next` returned is trusted before it has returned nil.
public final class FileListReader {
    public let path: String
    private let stream: any StorageReadStream
    private let expected: UInt32?
    private var splitter: SealedTextStream.LineSplitter
    private var parser: FileList.LineParser
    private var pending: [FileEntry] = []
    private var index = 0
    private var ended = false
    private var chunk = [UInt8](repeating: 0, count: 64 << 10)

    public init(repository: Repository, info: BackupInfo) throws {
        path = repository.fileListPath(info.id)
        stream = try repository.storage.openRead(repository.fileListName(info.id))
        expected = info.fileListChecksum
        splitter = SealedTextStream.LineSplitter(path: path)
        parser = FileList.LineParser(path: path)
    }

    /// The next entry; nil at the end, once the whole list has passed its checks.
    public func next() throws -> FileEntry? {
        while index == pending.count {
            if ended { return nil }
            pending.removeAll(keepingCapacity: true)
            index = 0
            let n = try chunk.withUnsafeMutableBytes { try stream.read(into: $0) }
            if n == 0 {
                ended = true
                stream.close()
                try splitter.finish().check(path: path, expected: expected, expectedIn: "backup.ini")
                try parser.finish()
                return nil
            }
            try chunk.withUnsafeBytes { bytes in
                try splitter.take(UnsafeRawBufferPointer(rebasing: bytes[0..<n])) { line, number in
                    if let entry = try parser.take(line, number) { pending.append(entry) }
                }
            }
        }
        index += 1
        return pending[index - 1]
    }

    /// Reads to the end: the checks of a list only partly needed.
    public func finish() throws {
        while try next() != nil {}
    }

    deinit { if !ended { stream.close() } }
}

extension FileList {
    /// The order a backup walks and lists a data directory in: "." first, then by path
    /// component, each compared by its UTF-8 bytes (a directory before its contents). Byte
    /// order with "/" below every other byte is exactly that.
    public static func walkPrecedes(_ a: String, _ b: String) -> Bool {
        if a == "." || b == "." { return a == "." && b != "." }
        var x = a.utf8.makeIterator(), y = b.utf8.makeIterator()
        while true {
            switch (x.next(), y.next()) {
            case (nil, nil): return false
            case (nil, _): return true
            case (_, nil): return false
            case let (p?, q?) where p != q: return (p == 0x2F ? 0 : p) < (q == 0x2F ? 0 : q)
            default: continue
            }
        }
    }
}
