import PostgresFormat
import Repository

/// Writes restored files with PostgreSQL's permissions and the target's owner, and remembers
/// the directories to fsync once at the end.
struct RestoreWriter {
    let repository: Repository
    let info: BackupInfo
    let owner: (uid: UInt32, gid: UInt32)?
    /// false: files are not fsynced one by one; the caller syncs their filesystems at the end.
    var syncEachFile = true
    /// Shared by the workers of one restore: files are created one at a time. ext4 serialises
    /// creation in a directory anyway, and two workers creating side by side spun on its lock
    /// (perf: a fifth of their CPU); waiting on a mutex leaves that CPU to the other worker.
    var creationLock: SerialLock?
    private var directories: [String] = []
    private let buffer = AlignedBuffer(count: 1 << 20)
    /// The second buffer of the pair WriteBehind alternates between.
    private let spare = AlignedBuffer(count: 1 << 20)
    private let writeBehind = WriteBehind()
    private(set) var filesWritten = 0
    private(set) var bytesWritten: UInt64 = 0

    init(repository: Repository, info: BackupInfo, owner: (uid: UInt32, gid: UInt32)?) {
        self.repository = repository
        self.info = info
        self.owner = owner
    }

    /// PostgreSQL accepts 0700/0600, or 0750/0640 for clusters initialised with group access.
    static func directoryMode(_ recorded: UInt32) -> UInt32 { (recorded & 0o750) | 0o700 }
    static func fileMode(_ recorded: UInt32) -> UInt32 { (recorded & 0o640) | 0o600 }

    mutating func makeDirectory(_ path: String, mode: UInt32) throws {
        if !FileSystem.isDirectory(path) { try FileSystem.makeDirectories(path) }
        try setDirectoryMode(path, mode)
    }

    mutating func setDirectoryMode(_ path: String, _ mode: UInt32) throws {
        try FileSystem.setMode(path, Self.directoryMode(mode))
        try chown(path)
        directories.append(path)
    }

    mutating func makeTablespace(link: String, location: String) throws {
        try makeDirectory(location, mode: 0o700)
        try FileSystem.makeSymlink(link, target: location)
        try chown(link)
    }

    /// A whole stored file, from `source` (the restored backup itself, or for an entry marked
    /// unchanged, the chain member that stored it).
    mutating func restoreFile(_ entry: FileEntry, to path: String, from source: BackupInfo? = nil) throws {
        let origin = source ?? info
        let stored = repository.storedPath(origin.id, entry, compression: origin.compression)
        let reader = try repository.storedFileReader(origin.id, entry, compression: origin.compression)
        defer { reader.close() }
        let output = try create(path, entry)
        defer { output.close() }
        try copy(reader, to: output, at: 0, limit: entry.size)
        guard reader.size == entry.size, reader.checksum == entry.checksum else {
            throw EngineError.corruptFile(path: stored, reason: "\(entry.path) has size \(reader.size) and checksum \(CRC32C.hex(reader.checksum)), the backup recorded \(entry.size) and \(entry.checksum.map(CRC32C.hex) ?? "none"); restore stopped (the target is incomplete and will not start)")
        }
        try output.finish(sync: syncEachFile)
        try FileSystem.setModificationTime(path, entry.mtime)
        try chown(path)
        filesWritten += 1
        bytesWritten += reader.size
    }

    /// Copies the reader's content into `output` from `offset` on, never past `limit` bytes
    /// (a longer stored file is reported by the caller's size check), reading the next chunk
    /// while the last one is written.
    private func copy(_ reader: StoredFileReader, to output: DirectFile, at offset: UInt64, limit: UInt64) throws {
        var at = offset
        var current = buffer, next = spare
        defer { try? writeBehind.wait() }  // nothing may still write into `output` when it closes
        while true {
            let n = try current.read(from: reader)
            if n == 0 || reader.size > limit { break }
            try current.withUnsafeBytes { try writeBehind.write(UnsafeRawBufferPointer(rebasing: $0[0..<n]), to: output, at: at) }
            at += UInt64(n)
            swap(&current, &next)
        }
        try writeBehind.wait()
    }

    /// Part `part` of a split stored file, into the file `prepare` created.
    mutating func restorePart(_ stored: FileEntry, part: Int, to path: String, from source: BackupInfo) throws {
        let storedPath = repository.storedPath(source.id, stored, compression: source.compression, part: part)
        let reader = try repository.storedFileReader(source.id, stored, compression: source.compression, part: part)
        defer { reader.close() }
        let offset = UInt64(part) * stored.partSize
        let expected = min(stored.partSize, stored.size - offset)
        let output = try DirectFile(existing: path, expectedSize: expected)
        defer { output.close() }
        try copy(reader, to: output, at: offset, limit: expected)
        guard reader.size == expected, reader.checksum == stored.partChecksums[part] else {
            throw EngineError.corruptFile(path: storedPath, reason: "part \(part) of \(stored.path) has size \(reader.size) and checksum \(CRC32C.hex(reader.checksum)), the backup recorded \(expected) and \(CRC32C.hex(stored.partChecksums[part])); restore stopped (the target is incomplete and will not start)")
        }
        try output.finish(sync: syncEachFile)
        bytesWritten += reader.size
    }

    /// A page-delta entry: rebuilt from the chain, whole (`blocks` nil) or one range of the
    /// file `prepare` created.
    mutating func assembleRelation(_ entry: FileEntry, to path: String, chain: [ChainMember], blocks: Range<Int>? = nil) throws {
        let output = blocks == nil ? try create(path, entry) : try DirectFile(existing: path, expectedSize: entry.size)
        defer { output.close() }
        if blocks == nil { try output.truncate(to: entry.size) }
        var assembler = ChainAssembler(repository: repository)
        bytesWritten += try assembler.assemble(entry, blocks: blocks, into: output, chain: chain)
        try output.finish(sync: syncEachFile)
        guard blocks == nil else { return }
        try FileSystem.setModificationTime(path, entry.mtime)
        try chown(path)
        filesWritten += 1
    }

    private func create(_ path: String, _ entry: FileEntry) throws -> DirectFile {
        let make = { try DirectFile(creating: path, mode: Self.fileMode(entry.mode), expectedSize: entry.size) }
        return try creationLock.map { try $0.run(make) } ?? make()
    }

    /// Creates a file that several workers then fill range by range, at its final size.
    mutating func prepare(_ entry: FileEntry, at path: String, size: UInt64) throws {
        let file = try OpenFile(creating: path, mode: Self.fileMode(entry.mode))
        defer { file.close() }
        try file.truncate(to: size)
        try file.closeChecked()
        try chown(path)
    }

    /// After the workers: the time stamp of a file filled in ranges.
    mutating func completePrepared(_ entry: FileEntry, at path: String) throws {
        try FileSystem.setModificationTime(path, entry.mtime)
        filesWritten += 1
    }

    mutating func writeText(_ text: String, to path: String) throws {
        let output = try OpenFile(creating: path, mode: 0o600)
        defer { output.close() }
        try output.write(Array(text.utf8))
        try output.sync()
        try output.closeChecked()
        try chown(path)
    }

    /// The counts since the last call (a worker reports them per file).
    mutating func takeCounts() -> (Int, UInt64) {
        defer { filesWritten = 0; bytesWritten = 0 }
        return (filesWritten, bytesWritten)
    }

    mutating func add(files: Int, bytes: UInt64) {
        filesWritten += files
        bytesWritten += bytes
    }

    func syncDirectories() throws {
        for dir in directories.reversed() { try FileSystem.syncDirectory(dir) }
    }

    private func chown(_ path: String) throws {
        if let owner { try FileSystem.setOwner(path, uid: owner.uid, gid: owner.gid) }
    }
}
