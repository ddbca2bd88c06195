#if canImport(Glibc)
import StorageInterface
@preconcurrency import Glibc
#endif
import PostgresFormat

/// An archived WAL file: `wal/<first 16 hex digits>/<name>-<crc32c>[.gz]` for segments,
/// partial segments and backup history files; `wal/<name>-<crc32c>` for timeline history.
/// The checksum of the original content is part of the name, so one publication stores both.
public struct ArchivedWAL: Sendable, Equatable {
    public let walName: String
    /// The repository-relative name, for the storage.
    public let name: String
    /// The same as a user sees it (the file's path on POSIX).
    public let path: String
    public let checksum: UInt32
    public let compression: Compression
    /// Seconds since 1970 of the last change, as the storage reports it.
    public let mtime: Int64
}

public struct WALArchiveStore: Sendable {
    public let storage: any RepositoryStorage
    public let segmentSize: UInt64
    /// `wal` (the first generation's archive), or `wal-<n>` (generation n's: after
    /// `upgrade-repository`, each cluster's WAL is apart).
    public let rootName: String

    public init(storage: any RepositoryStorage, segmentSize: UInt64, rootName: String = Repository.walRootName) {
        self.storage = storage
        self.segmentSize = segmentSize
        self.rootName = rootName
    }

    /// The archive's top directory as a user sees it.
    public var root: String { storage.describe(rootName) }

    /// The repository-relative directory of `walName`.
    public func directory(for walName: String) -> String {
        let isSegmentLike = walName.count >= 24 && walName.prefix(24).allSatisfy(\.isHexDigit)
        return isSegmentLike ? rootName + "/" + walName.prefix(16) : rootName
    }

    /// Splits a stored name into WAL name, checksum and compression; nil for anything else.
    static func parseStoredName(_ name: String) -> (walName: String, checksum: UInt32, compression: Compression)? {
        let compression = Compression.of(storedName: name)
        let base = name.dropLast(compression.fileSuffix.count)
        guard base.count > 9, let dash = base.lastIndex(of: "-"),
              let crc = CRC32C.parseHex(base[base.index(after: dash)...]) else { return nil }
        return (String(base[..<dash]), crc, compression)
    }

    /// The archived copy of `walName`, if any. More than one copy means two writers raced
    /// with different content: that is reported, never resolved by guessing.
    public func find(_ walName: String) throws -> ArchivedWAL? {
        try single(walName, among: list(directory: directory(for: walName)).filter { $0.walName == walName })
    }

    /// The one copy of `walName` among `copies` (all of that name), nil for none; two or more
    /// are reported as corruption, naming them.
    public func single(_ walName: String, among copies: [ArchivedWAL]) throws -> ArchivedWAL? {
        guard copies.count > 1 else { return copies.first }
        throw CatalogError.corrupt(storage.describe(directory(for: walName)),
                                   "\(copies.count) different archived copies of \(walName): \(copies.map { FileSystem.baseName(of: $0.name) }.sorted().joined(separator: ", "))")
    }

    /// Every archived file in one archive directory (repository-relative).
    public func list(directory: String) throws -> [ArchivedWAL] {
        try storage.list(directory).compactMap { entry in
            guard entry.kind == .file, let parsed = Self.parseStoredName(entry.name) else { return nil }
            let name = directory + "/" + entry.name
            return ArchivedWAL(walName: parsed.walName, name: name, path: storage.describe(name), checksum: parsed.checksum,
                               compression: parsed.compression, mtime: entry.mtime)
        }
    }

    /// The segment directories (`wal/<16 hex digits>`), oldest first.
    public func segmentDirectories() throws -> [String] {
        try storage.list(rootName).filter { $0.kind == .directory && $0.name.count == 16 }.map { rootName + "/" + $0.name }
    }

    /// Every archived file: timeline history files first, then the segment directories in order.
    public func listAll() throws -> [ArchivedWAL] {
        var files = try list(directory: rootName)
        for dir in try segmentDirectories() { files += try list(directory: dir) }
        return files
    }

    public func storedName(walName: String, checksum: UInt32, compression: Compression) -> String {
        walName + "-" + CRC32C.hex(checksum) + compression.fileSuffix
    }

    /// Opens an archived file for reading its original bytes.
    public func reader(_ archived: ArchivedWAL) throws -> StoredFileReader {
        try StoredFileReader(storage: storage, name: archived.name, compression: archived.compression)
    }
}

extension WALArchiveStore {
    /// `wal/dropped/NAME`: a segment archive-push let PostgreSQL recycle without archiving it
    /// (--archive-push-queue-max, to save the primary's disk). The archive has a gap there that
    /// every report names with its cause. A sealed text: when, and the queue that caused it.
    public var droppedDirectory: String { rootName + "/dropped" }

    public func recordDropped(_ walName: String, reason: String) throws {
        try storage.makeDirectories(droppedDirectory)
        let body = "WAL_FILE=\(walName)\nREASON=\(String(reason.map { $0 == "\n" ? " " : $0 }))\n"
        try storage.writeAll(droppedDirectory + "/" + walName, Array(SealedText.seal(body).utf8))
    }

    /// The segments recorded as dropped (names only: the record's presence is the fact; a
    /// name that is not a WAL segment's is ignored).
    public func dropped() throws -> [String] {
        try storage.list(droppedDirectory).map(\.name).filter { WALFileKind(fileName: $0) == .segment }.sorted()
    }

    /// Publication of an archived file (check for a copy, then publish) happens under this
    /// lock, so two archive-push of one name, from a primary and a standby or a retried
    /// archive_command, can never both publish. Where files are renamed into place it is held
    /// for milliseconds (the data is written before it is taken) and one lock serves all.
    /// An object store uploads at publication, so there one lock would serialize the uploads
    /// of asynchronous archive-push's parallel pushes: names only conflict with themselves,
    /// so the lock is one of 32 host locks, chosen by the name.
    public func lockForPublication(_ walName: String) throws -> any StorageLock {
        guard !storage.features.contains(.rename) else { return try storage.lock(rootName + "/.publish.lock") }
        let stripe = walName.utf8.reduce(UInt32(2_166_136_261)) { ($0 ^ UInt32($1)) &* 16_777_619 } % 32
        return try storage.lock(rootName + "/.publish.lock.\(stripe)")
    }

    /// Removes what killed pushes left behind in `directory`: temp files (and the
    /// `NAME.incoming` files of pgbk before 0.2) untouched for an hour. No push takes that long.
    @discardableResult
    public func removeStaleTemporaries(in directory: String, now: Int64 = Timestamp.now().seconds) -> [String] {
        guard let entries = try? storage.list(directory) else { return [] }
        var removed: [String] = []
        for entry in entries where entry.kind == .file && (AtomicFile.isTemporaryName(entry.name) || entry.name.contains(".incoming")) {
            guard entry.mtime < now - 3600 else { continue }
            if (try? storage.remove(directory + "/" + entry.name)) != nil { removed.append(entry.name) }
        }
        return removed
    }

    /// Whether an archived copy still matches the checksum in its name (an error reading it
    /// is thrown: it proves neither).
    public func isIntact(_ archived: ArchivedWAL) throws -> Bool {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        return try StoredFileReader.verify(storage: storage, name: archived.name, compression: archived.compression,
                                           size: nil, checksum: archived.checksum, buffer: &buffer) == nil
    }
}

