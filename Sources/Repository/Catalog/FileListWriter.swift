import PostgresFormat
import StorageInterface

/// A file list written as its entries come (a backup stores each file's entry once the file
/// is stored), never held whole: one buffer and one atomic write stream, sealed at `commit`.
/// The same bytes FileList.encode makes of the same entries.
public final class FileListWriter {
    private let storage: any RepositoryStorage
    private let name: String
    private let stream: any StorageWriteStream
    private var buffer: [UInt8] = []
    private var body = CRC32C()
    private var whole = CRC32C()
    private var finished = false
    public private(set) var count = 0

    static let bufferSize = 256 << 10

    public init(storage: any RepositoryStorage, name: String) throws {
        self.storage = storage
        self.name = name
        stream = try storage.openWrite(name)
        buffer.reserveCapacity(Self.bufferSize + 4096)
        buffer.append(contentsOf: FileList.header.utf8)
    }

    public func append(_ entry: FileEntry) throws {
        buffer.append(contentsOf: FileList.line(entry).utf8)
        count += 1
        if buffer.count >= Self.bufferSize { try flush() }
    }

    /// Seals and stores the list; returns the CRC-32C of the whole file (what backup.ini
    /// records as the list's checksum).
    public func commit() throws -> UInt32 {
        try flush()
        let seal = Array((SealedText.prefix + CRC32C.hex(body.value) + "\n").utf8)
        whole.update(seal)
        try seal.withUnsafeBytes { try stream.write($0) }
        try stream.commit()
        finished = true
        try storage.syncDirectory(PosixStorage.parent(of: name))
        return whole.value
    }

    /// Drops what was written; nothing is stored under the list's name.
    public func abandon() {
        guard !finished else { return }
        finished = true
        stream.abandon()
    }

    private func flush() throws {
        guard !buffer.isEmpty else { return }
        body.update(buffer)
        whole.update(buffer)
        try buffer.withUnsafeBytes { try stream.write($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    deinit { abandon() }
}
