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
    /// Delta restore: the target already has files, and only what differs from the backup
    /// is written (see ComparingSink); a file whose content matches is left as it is.
    var delta = false
    /// The cluster's other repositories, where a file damaged in this one is taken from.
    var otherCopies: OtherCopies?
    private(set) var filesWritten = 0
    private(set) var filesUnchanged = 0
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
        // A delta restore keeps a link that already points there.
        if FileSystem.exists(link), let existing = FileSystem.realPath(link), existing == FileSystem.realPath(location) { return }
        try FileSystem.makeSymlink(link, target: location)
        try chown(link)
    }

    /// A whole stored file, from `source` (the restored backup itself, or for an entry marked
    /// unchanged, the chain member that stored it); damaged there, from another repository's
    /// copy (OtherCopies). Returns the CRC-32C of the restored content.
    @discardableResult
    mutating func restoreFile(_ entry: FileEntry, to path: String, from source: BackupInfo? = nil) throws -> UInt32 {
        if try hasContent(path, fileSize: entry.size, range: 0..<entry.size, checksum: entry.checksum) {
            try completeFile(entry, at: path, unchanged: true)
            return entry.checksum ?? 0
        }
        let origin = source ?? info
        do {
            return try restoreStored(entry, to: path, from: origin, in: repository)
        } catch where Self.isDamage(error) {
            return try fromOtherCopy(error, of: [(origin.id, entry)]) { holder, writer in
                if !writer.delta { try FileSystem.remove(path) }  // the damaged attempt's file
                return try writer.restoreStored(holder.versions[0].entry, to: path, from: holder.versions[0].info, in: holder.repository)
            }
        }
    }

    private mutating func restoreStored(_ entry: FileEntry, to path: String, from origin: BackupInfo, in repository: Repository) throws -> UInt32 {
        let stored = repository.storedPath(origin.id, entry, compression: origin.compression)
        let reader = try repository.storedFileReader(origin.id, entry, compression: origin.compression)
        defer { reader.close() }
        let sink = try openSink(path, entry)
        defer { sink.close() }
        try copy(reader, to: sink, at: 0, limit: entry.size)
        guard reader.size == entry.size, reader.checksum == entry.checksum else {
            throw EngineError.corruptFile(path: stored, reason: "\(entry.path) has size \(reader.size) and checksum \(CRC32C.hex(reader.checksum)), the backup recorded \(entry.size) and \(entry.checksum.map(CRC32C.hex) ?? "none"); restore stopped (the target is incomplete and will not start)")
        }
        try sink.finish(sync: syncEachFile)
        bytesWritten += sink.bytesWritten
        try completeFile(entry, at: path)
        return reader.checksum
    }

    /// Whether an error says a stored file is damaged (wrong checksum or size, missing, not
    /// valid compressed data), rather than that it could not be read.
    static func isDamage(_ error: any Error) -> Bool {
        if case EngineError.corruptFile = error { return true }
        return StoredFileReader.contentProblem(error) != nil
    }

    /// After `damage` to the stored versions of one file: `body` again from each other
    /// repository that holds them with the same checksums, until one reads back intact; one
    /// line says which. With none, the damage, naming the repositories that had no good copy.
    private mutating func fromOtherCopy<T>(_ damage: any Error, of versions: [(id: String, entry: FileEntry)],
                                           _ body: (OtherCopies.Holder, inout RestoreWriter) throws -> T) throws -> T {
        guard let otherCopies, !otherCopies.repositories.isEmpty else { throw damage }
        var tried: [String] = []
        for holder in otherCopies.holders(of: versions) {
            do {
                let value = try body(holder, &self)
                Console.warning("\(oneLineDescription(damage)); restored \(versions[0].entry.path) from \(holder.name) instead, whose copy reads back with the recorded checksum (pgbk copy --from-repo \(holder.number) --to-repo \(otherCopies.inUse) --backup-id \(versions[0].id) puts it back)")
                return value
            } catch where Self.isDamage(error) {
                tried.append("\(holder.name): \(oneLineDescription(error))")
            }
        }
        let others = otherCopies.repositories.map(\.name).joined(separator: ", ")
        throw EngineError.corruptFile(path: versions[0].entry.path, reason: "\(oneLineDescription(damage)); no other repository has a good copy (\(tried.isEmpty ? "none of \(others) holds the same backup with that file" : tried.joined(separator: "; ")))")
    }

    /// Copies the reader's content into `sink` from `offset` on, never past `limit` bytes
    /// (a longer stored file is reported by the caller's size check), reading the next chunk
    /// while the last one is written.
    private func copy(_ reader: StoredFileReader, to sink: any RestoreSink, at offset: UInt64, limit: UInt64) throws {
        var at = offset
        var current = buffer, next = spare
        defer { try? sink.drain() }  // nothing may still write into the file when it closes
        while true {
            let n = try current.read(from: reader)
            if n == 0 || reader.size > limit { break }
            try current.withUnsafeBytes { try sink.write(UnsafeRawBufferPointer(rebasing: $0[0..<n]), at: at) }
            at += UInt64(n)
            swap(&current, &next)
        }
        try sink.drain()
    }

    /// Part `part` of a split stored file, into the file `prepare` made; damaged, from
    /// another repository's copy. Returns the part's CRC-32C.
    mutating func restorePart(_ stored: FileEntry, part: Int, to path: String, from source: BackupInfo) throws -> UInt32 {
        let offset = UInt64(part) * stored.partSize
        let expected = min(stored.partSize, stored.size - offset)
        if try hasContent(path, fileSize: stored.size, range: offset..<offset + expected, checksum: stored.partChecksums[part]) {
            return stored.partChecksums[part]
        }
        do {
            return try restoreStoredPart(stored, part: part, to: path, from: source, in: repository)
        } catch where Self.isDamage(error) {
            return try fromOtherCopy(error, of: [(source.id, stored)]) { holder, writer in
                try writer.restoreStoredPart(holder.versions[0].entry, part: part, to: path, from: holder.versions[0].info, in: holder.repository)
            }
        }
    }

    private mutating func restoreStoredPart(_ stored: FileEntry, part: Int, to path: String, from source: BackupInfo,
                                            in repository: Repository) throws -> UInt32 {
        let offset = UInt64(part) * stored.partSize
        let expected = min(stored.partSize, stored.size - offset)
        let storedPath = repository.storedPath(source.id, stored, compression: source.compression, part: part)
        let reader = try repository.storedFileReader(source.id, stored, compression: source.compression, part: part)
        defer { reader.close() }
        let sink = try openSink(path, stored, part: expected)
        defer { sink.close() }
        try copy(reader, to: sink, at: offset, limit: expected)
        guard reader.size == expected, reader.checksum == stored.partChecksums[part] else {
            throw EngineError.corruptFile(path: storedPath, reason: "part \(part) of \(stored.path) has size \(reader.size) and checksum \(CRC32C.hex(reader.checksum)), the backup recorded \(expected) and \(CRC32C.hex(stored.partChecksums[part])); restore stopped (the target is incomplete and will not start)")
        }
        try sink.finish(sync: syncEachFile)
        bytesWritten += sink.bytesWritten
        return reader.checksum
    }

    /// A page-delta entry: rebuilt from the chain, whole (`blocks` nil) or one range of the
    /// file `prepare` made. A delta restore compares every page with the target's.
    /// Returns the CRC-32C of the blocks written.
    mutating func assembleRelation(_ entry: FileEntry, to path: String, versions: [(info: BackupInfo, entry: FileEntry)],
                                   blocks: Range<Int>? = nil) throws -> UInt32 {
        do {
            return try assemble(entry, to: path, versions: versions, blocks: blocks, from: repository)
        } catch where Self.isDamage(error) {
            return try fromOtherCopy(error, of: versions.map { ($0.info.id, $0.entry) }) { holder, writer in
                if !writer.delta && blocks == nil { try FileSystem.remove(path) }
                return try writer.assemble(entry, to: path, versions: holder.versions, blocks: blocks, from: holder.repository)
            }
        }
    }

    private mutating func assemble(_ entry: FileEntry, to path: String, versions: [(info: BackupInfo, entry: FileEntry)],
                                   blocks: Range<Int>?, from repository: Repository) throws -> UInt32 {
        let sink = try openSink(path, entry, part: blocks.map { UInt64($0.count) * UInt64(info.blockSize) })
        defer { sink.close() }
        if blocks == nil { try sink.truncate(to: entry.size) }
        var assembler = ChainAssembler(repository: repository)
        let crc = try assembler.assemble(entry, blocks: blocks, into: sink, versions: versions)
        try sink.finish(sync: syncEachFile)
        bytesWritten += sink.bytesWritten
        if blocks == nil { try completeFile(entry, at: path) }
        return crc
    }

    /// Where a file's content goes: the whole file (`part` nil) or a part of `part` bytes of
    /// a file `prepare` made. A delta restore updates what the target has in place.
    private func openSink(_ path: String, _ entry: FileEntry, part: UInt64? = nil) throws -> any RestoreSink {
        if delta {
            let file = try OpenFile(updating: path, mode: Self.fileMode(entry.mode))
            if part == nil { try file.truncate(to: entry.size) }
            return ComparingSink(file, blockSize: Int(info.blockSize))
        }
        if let part { return DirectSink(try DirectFile(existing: path, expectedSize: part, caching: .streamed), writeBehind: writeBehind) }
        let make = { try DirectFile(creating: path, mode: Self.fileMode(entry.mode), expectedSize: entry.size, caching: .streamed) }
        return DirectSink(try creationLock.map { try $0.run(make) } ?? make(), writeBehind: writeBehind)
    }

    /// Delta restore: whether the target's file at `path` already is `fileSize` bytes long
    /// and holds, in `range`, content with `checksum`.
    private func hasContent(_ path: String, fileSize: UInt64, range: Range<UInt64>, checksum: UInt32?) throws -> Bool {
        guard delta, let checksum, let status = try? FileSystem.status(path), status.kind == .regular, status.size == fileSize else {
            return false
        }
        let file = try OpenFile(reading: path)
        defer { file.close() }
        var crc = CRC32C()
        var at = range.lowerBound
        try buffer.withUnsafeMutableBytes { bytes in
            while at < range.upperBound {
                let wanted = Int(min(UInt64(bytes.count), range.upperBound - at))
                let n = try file.read(into: UnsafeMutableRawBufferPointer(rebasing: bytes[0..<wanted]), at: at)
                guard n == wanted else { break }
                crc.update(UnsafeRawBufferPointer(rebasing: bytes[0..<n]))
                at += UInt64(n)
            }
        }
        return at == range.upperBound && crc.value == checksum
    }

    /// A file's permissions (a delta restore may find others), time stamp and owner.
    private mutating func completeFile(_ entry: FileEntry, at path: String, unchanged: Bool = false) throws {
        if delta { try FileSystem.setMode(path, Self.fileMode(entry.mode)) }
        try FileSystem.setModificationTime(path, entry.mtime)
        try chown(path)
        filesWritten += 1
        if unchanged { filesUnchanged += 1 }
    }

    /// Creates a file that several workers then fill range by range, at its final size.
    mutating func prepare(_ entry: FileEntry, at path: String, size: UInt64) throws {
        let file = delta ? try OpenFile(updating: path, mode: Self.fileMode(entry.mode)) : try OpenFile(creating: path, mode: Self.fileMode(entry.mode))
        defer { file.close() }
        try file.truncate(to: size)
        try file.closeChecked()
        try chown(path)
    }

    /// A file of a database left out of a selective restore: its recorded size, all of it a
    /// hole (zeros), whatever a delta restore found there. Returns the CRC-32C of its content.
    mutating func writeZeroed(_ entry: FileEntry, at path: String) throws -> UInt32 {
        let file = delta ? try OpenFile(updating: path, mode: Self.fileMode(entry.mode)) : try OpenFile(creating: path, mode: Self.fileMode(entry.mode))
        defer { file.close() }
        try file.truncate(to: 0)
        try file.truncate(to: entry.size)
        try file.closeChecked()
        try completeFile(entry, at: path)
        return CRC32C.zeros(count: entry.size)
    }

    /// Once every range is written: the time stamp of a file filled in ranges (the caller
    /// counts it as written).
    static func completePrepared(_ entry: FileEntry, at path: String, delta: Bool) throws {
        if delta { try FileSystem.setMode(path, fileMode(entry.mode)) }
        try FileSystem.setModificationTime(path, entry.mtime)
    }

    /// A file pgbk wrote in pieces under `temporary` (backup_manifest, as files finished):
    /// durable, the target's owner's, then renamed to `path`, replacing one a delta restore
    /// finds there.
    mutating func seal(_ file: OpenFile, as path: String, from temporary: String) throws {
        try file.sync()
        try file.closeChecked()
        try chown(temporary)
        try FileSystem.rename(temporary, path)
    }

    /// Writes a small file pgbk makes itself, replacing one a delta restore finds there.
    mutating func writeText(_ text: String, to path: String) throws {
        try FileSystem.remove(path)
        let output = try OpenFile(creating: path, mode: 0o600)
        defer { output.close() }
        try output.write(Array(text.utf8))
        try output.sync()
        try output.closeChecked()
        try chown(path)
    }

    /// The counts since the last call (a worker reports them per file): files, files found
    /// already restored, bytes written.
    mutating func takeCounts() -> (files: Int, unchanged: Int, bytes: UInt64) {
        defer { filesWritten = 0; filesUnchanged = 0; bytesWritten = 0 }
        return (filesWritten, filesUnchanged, bytesWritten)
    }

    mutating func add(_ counts: (files: Int, unchanged: Int, bytes: UInt64)) {
        filesWritten += counts.files
        filesUnchanged += counts.unchanged
        bytesWritten += counts.bytes
    }

    func syncDirectories() throws {
        for dir in directories.reversed() { try FileSystem.syncDirectory(dir) }
    }

    private func chown(_ path: String) throws {
        if let owner { try FileSystem.setOwner(path, uid: owner.uid, gid: owner.gid) }
    }
}
