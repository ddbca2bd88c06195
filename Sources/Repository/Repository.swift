import StorageInterface
import PostgresFormat

/// A pgbk repository on disk:
///
///     BACKUP_PATH/pgbk.ini                the DBA's defaults
///     BACKUP_PATH/repository.ini          which cluster this repository serves
///     BACKUP_PATH/backup/<ID>/backup.ini  one directory per backup, see BackupInfo
///     BACKUP_PATH/backup/<ID>/file.list   its files, see FileList
///     BACKUP_PATH/backup/<ID>/data/...    the stored files
///     BACKUP_PATH/wal/...                 the WAL archive, see WALArchiveStore
public struct Repository: Sendable {
    public let path: String
    public let identity: RepositoryIdentity
    public let config: RepositoryConfig
    /// Where the files are: every read and write of the repository goes through it.
    public let storage: any RepositoryStorage

    // Repository-relative names: what the code uses to reach a file through `storage`.
    public static let configName = "pgbk.ini", identityName = "repository.ini"
    public static let backupRootName = "backup", walRootName = "wal"
    public func backupName(_ id: String) -> String { Self.backupRootName + "/" + id }
    public func backupInfoName(_ id: String) -> String { backupName(id) + "/backup.ini" }
    public func fileListName(_ id: String) -> String { backupName(id) + "/file.list" }
    public func dataName(_ id: String) -> String { backupName(id) + "/data" }

    // The same as paths (what a user sees in messages; the files themselves for POSIX).
    public var configPath: String { storage.describe(Self.configName) }
    public var identityPath: String { storage.describe(Self.identityName) }
    public var backupRoot: String { storage.describe(Self.backupRootName) }
    public var walRoot: String { storage.describe(Self.walRootName) }

    public func backupDirectory(_ id: String) -> String { storage.describe(backupName(id)) }
    public func backupInfoPath(_ id: String) -> String { storage.describe(backupInfoName(id)) }
    public func fileListPath(_ id: String) -> String { storage.describe(fileListName(id)) }
    public func dataDirectory(_ id: String) -> String { storage.describe(dataName(id)) }

    public var wal: WALArchiveStore {
        WALArchiveStore(storage: storage, segmentSize: UInt64(identity.walSegmentSize), rootName: Self.walRootName(generation: identity.generation))
    }

    /// Generation n's archived WAL: `wal` for the first, `wal-<n>` after (upgrade-repository).
    public static func walRootName(generation: Int) -> String { generation == 1 ? walRootName : walRootName + "-\(generation)" }

    /// The repository as generation `n` was (its cluster's identity, its WAL), for what reads
    /// that generation's backups and WAL: restore, archive-get, validate, expire. nil for none.
    public func asGeneration(_ n: Int) -> Repository? {
        identity.asGeneration(n).map { Repository(path: path, identity: $0, config: config, storage: storage) }
    }

    /// The repository as `backup`'s generation was (itself when that is the current one, or
    /// when no generation has its cluster: the checks that follow then refuse it).
    public func forBackup(_ backup: BackupInfo) -> Repository {
        identity.generation(ofSystem: backup.systemIdentifier).flatMap(asGeneration) ?? self
    }
    public var receiving: ReceivedPartials { ReceivedPartials(storage: storage, segmentSize: UInt64(identity.walSegmentSize)) }

    public init(path: String, identity: RepositoryIdentity, config: RepositoryConfig, storage: any RepositoryStorage) {
        self.path = path
        self.identity = identity
        self.config = config
        self.storage = storage
    }

    /// A repository in a local directory (the POSIX driver; see PosixStorage+Repository).
    public static func open(_ path: String) throws -> Repository {
        try open(storage: BundledStorage(try PosixStorage.existing(path), policy: nil))
    }

    /// The repository a storage holds: repository.ini says which cluster it serves.
    public static func open(storage: any RepositoryStorage) throws -> Repository {
        // Read, not looked up first: on object storage each lookup is a round trip, and
        // archive-get opens the repository once per WAL segment.
        let identityPath = storage.describe(identityName)
        let identityText: String
        do {
            identityText = try storage.readText(identityName)
        } catch StorageError.notFound {
            throw CatalogError.invalid(storage.location, "not a pgbk repository (no repository.ini); create one with pgbk init")
        }
        if identityText.utf8.starts(with: EncryptedFormat.magic) {
            throw CatalogError.invalid(storage.location, "the repository is encrypted: set CIPHER_PASS_FILE or CIPHER_PASS_COMMAND for it in the local configuration")
        }
        let identity = try RepositoryIdentity(text: identityText, path: identityPath)
        var config = RepositoryConfig()
        do {
            config = try RepositoryConfig(text: try storage.readText(configName), path: storage.describe(configName))
        } catch StorageError.notFound {}
        return Repository(path: storage.location, identity: identity, config: config, storage: storage)
    }

    /// Creates a repository in an absent or empty local directory. The identity file is
    /// written last: a repository whose creation was interrupted is not mistaken for a usable one.
    public static func create(_ path: String, identity: RepositoryIdentity, config: RepositoryConfig) throws -> Repository {
        try create(storage: try PosixStorage.creating(path), identity: identity, config: config)
    }

    /// With a passphrase, an encrypted repository: encryption.ini first, then everything
    /// else through EncryptedStorage.
    public static func create(storage raw: any RepositoryStorage, identity: RepositoryIdentity, config: RepositoryConfig,
                              passphrase: [UInt8]? = nil,
                              kdfCost: (n: UInt64, r: UInt64, p: UInt64) = KeyEncryptionKey.defaultCost) throws -> Repository {
        var storage = raw
        if try storage.exists(identityName) {
            throw CatalogError.invalid(storage.location, "a pgbk repository already exists here")
        }
        let entries = try storage.list("")
        guard entries.isEmpty else {
            throw CatalogError.invalid(storage.location, "directory is not empty (\(entries.count) entries); choose an empty or new directory")
        }
        if let passphrase { storage = EncryptedStorage(storage, keyring: try Keyring.create(in: storage, passphrase: passphrase, cost: kdfCost)) }
        let repo = Repository(path: storage.location, identity: identity, config: config, storage: storage)
        try storage.makeDirectories(backupRootName)
        try storage.makeDirectories(walRootName)
        try storage.writeAll(configName, Array(config.text().utf8))
        try storage.writeAll(identityName, Array(identity.text().utf8))
        try storage.syncDirectory("")
        return repo
    }

    /// Refuses what would leave the repository unwritable for its owner (see the driver).
    public func checkWriter() throws {
        try storage.checkWriter()
    }

    // MARK: backups

    /// Backup IDs in time order (IDs sort chronologically). Skips temp files and strays.
    public func backupIDs() throws -> [String] {
        try storage.list(Self.backupRootName).map(\.name).filter { Self.isBackupID($0) }
    }

    /// `YYYYMMDD-HHMMSS` followed by F (full) or I (incremental).
    public static func isBackupID(_ name: String) -> Bool {
        guard name.utf8.count == 16 else { return false }
        let chars = Array(name)
        guard chars.count == 16, chars[8] == "-", chars[15] == "F" || chars[15] == "I" else { return false }
        let digit: (Character) -> Bool = { $0.isASCII && $0.isNumber }
        return chars[0..<8].allSatisfy(digit) && chars[9..<15].allSatisfy(digit)
    }

    /// IDs come from the command line and from backup.ini files: neither may name a path.
    public static func checkBackupID(_ id: String) throws {
        guard isBackupID(id) else {
            throw CatalogError.invalid(FileList.escape(id), "not a backup ID (YYYYMMDD-HHMMSS followed by F or I, as pgbk show lists them)")
        }
    }

    public func loadBackup(_ id: String) throws -> BackupInfo {
        try Self.checkBackupID(id)
        let path = backupInfoPath(id)
        let info: BackupInfo
        do {
            info = try BackupInfo(text: try storage.readText(backupInfoName(id)), path: path)
        } catch StorageError.notFound {
            throw CatalogError.invalid(backupDirectory(id), "no such backup")
        }
        guard info.id == id else { throw CatalogError.corrupt(path, "it describes backup \(info.id), not \(id)") }
        return info
    }

    /// Every backup, with those whose backup.ini cannot be read reported rather than hidden.
    /// A command loads this once and keeps it up to date as it changes statuses.
    public func loadAll() throws -> CatalogSnapshot {
        var backups: [BackupInfo] = []
        var unreadable: [(String, Error)] = []
        for id in try backupIDs() {
            // A directory without backup.ini is what a killed purge or a backup killed in its
            // first moment leaves: nothing to read, and purge removes it.
            guard try storage.exists(backupInfoName(id)) else { continue }
            do { backups.append(try loadBackup(id)) } catch { unreadable.append((id, error)) }
        }
        return (backups, unreadable)
    }

    /// The commit point of every status change: one atomic rename of backup.ini.
    public func saveBackup(_ info: BackupInfo) throws {
        try storage.writeAll(backupInfoName(info.id), Array(info.text().utf8))
    }

    /// Reserves a new backup directory. IDs order backups in time (restore, parent choice and
    /// retention rely on it), so a new one waits while any backup of the same second exists:
    /// a full (F) made in the second of an incremental (I) would otherwise sort before it.
    public func createBackupDirectory(mode: BackupMode) throws -> (id: String, start: Timestamp) {
        while true {
            let now = Timestamp.now()
            let id = now.compact + (mode == .full ? "F" : "I")
            let newest = try backupIDs().last
            if try storage.exists(backupName(now.compact + "F")) || storage.exists(backupName(now.compact + "I"))
                || newest.map({ $0 > id }) == true {
                sleepUntilNextSecond()
                continue
            }
            try storage.makeDirectories(dataName(id))
            try storage.syncDirectory(Self.backupRootName)
            return (id, now)
        }
    }

    public func saveFileList(_ id: String, _ entries: [FileEntry]) throws -> UInt32 {
        let writer = try fileListWriter(id)
        for entry in entries { try writer.append(entry) }
        return try writer.commit()
    }

    /// Reads a backup's file list through and checks it an entry at a time, holding none:
    /// the seal, backup.ini's checksum and CatalogPath's rules. Returns whether the list is in
    /// the walk's order (FileList.walkPrecedes); one that is not can hold a path twice out of
    /// sight of this check, which only `loadFileList` (the whole list) then completes.
    public func checkFileList(_ info: BackupInfo) throws -> Bool {
        let reader = try FileListReader(repository: self, info: info)
        var checker = CatalogPath.ListChecker()
        while let entry = try reader.next() {
            if let why = checker.take(entry) { throw CatalogError.corrupt(reader.path, why) }
        }
        return !checker.needsWholeCheck
    }

    /// Writes a backup's file list an entry at a time (see FileListWriter).
    public func fileListWriter(_ id: String) throws -> FileListWriter {
        try FileListWriter(storage: storage, name: fileListName(id))
    }

    /// Reads a backup's file list and checks it against the checksum backup.ini recorded.
    public func loadFileList(_ info: BackupInfo) throws -> [FileEntry] {
        var entries: [FileEntry] = []
        // backup.ini's count sizes the array once (growing it would hold two copies at the
        // peak); bounded, as backup.ini is read from the repository.
        entries.reserveCapacity(min(max(info.fileCount, 0), 1 << 22))
        try forEachFileListEntry(info) { entries.append($0) }
        if let why = CatalogPath.problem(in: entries) { throw CatalogError.corrupt(fileListPath(info.id), why) }
        return entries
    }

    /// Each entry of a backup's file list in turn, read a chunk at a time and checked line by
    /// line (FileList.LineParser), then against its seal and backup.ini's checksum. Until
    /// this returns nothing `body` saw is trusted: it collects, it does not act. An error
    /// `body` throws is rethrown once the list has passed those checks (a damaged list is
    /// reported as such first).
    public func forEachFileListEntry(_ info: BackupInfo, _ body: (FileEntry) throws -> Void) throws {
        let reader = try FileListReader(repository: self, info: info)
        var bodyError: (any Error)?
        while let entry = try reader.next() {
            guard bodyError == nil else { continue }
            do { try body(entry) } catch { bodyError = error }
        }
        if let bodyError { throw bodyError }
    }

    /// The name a file of a backup is stored under; for a split entry, that of its part `part`.
    public func storedName(_ id: String, _ entry: FileEntry, compression: Compression, part: Int = 0) -> String {
        storedName(id, path: entry.path, delta: entry.kind == .pageDelta, compression: compression, part: part)
    }

    /// `<path>[.delta][.part<k>][compression suffix]`; part 0 has no part suffix, so an entry
    /// of one part is stored under the same name as an entry that was never split.
    public func storedName(_ id: String, path: String, delta: Bool, compression: Compression, part: Int = 0) -> String {
        dataName(id) + "/" + path + (delta ? PageDelta.fileSuffix : "") + (part > 0 ? ".part\(part)" : "") + compression.fileSuffix
    }

    /// The same as a user sees it (the file's path on POSIX).
    public func storedPath(_ id: String, _ entry: FileEntry, compression: Compression, part: Int = 0) -> String {
        storage.describe(storedName(id, entry, compression: compression, part: part))
    }

    /// Opens a stored file (or part) of a backup for reading its original bytes.
    public func storedFileReader(_ id: String, _ entry: FileEntry, compression: Compression, part: Int = 0) throws -> StoredFileReader {
        try StoredFileReader(storage: storage, name: storedName(id, entry, compression: compression, part: part), compression: compression)
    }

    /// The backups a restore of `id` reads, newest first, ending with a full backup. Throws
    /// naming the first member that is missing or not usable: such a chain cannot be restored.
    public func chain(for info: BackupInfo, among backups: [BackupInfo]) throws -> [BackupInfo] {
        let chain = try ancestry(of: info, among: backups)
        for parent in chain.dropFirst() where !parent.isUsable {
            throw ChainError(id: info.id, reason: "its parent \(parent.id) is \(parent.status.rawValue)")
        }
        if let last = chain.last, last.mode == .incremental {
            guard let parentID = last.parentID else {
                throw CatalogError.corrupt(backupInfoPath(last.id), "incremental backup without PARENT_BACKUP_ID")
            }
            throw ChainError(id: info.id, reason: "its parent \(parentID) is missing")
        }
        return chain
    }

    /// The one walk up a chain: the backup and its parents, newest first, as far as they are
    /// in `backups` (a full backup ends it; a missing parent ends it early). A loop is
    /// corruption. `chain(for:)` adds what a restore needs on top: every member usable.
    public func ancestry(of info: BackupInfo, among backups: [BackupInfo]) throws -> [BackupInfo] {
        let walk = BackupChain.ancestry(of: info, in: backups)
        if let loop = walk.loopsAt, let last = walk.members.last {
            throw CatalogError.corrupt(backupInfoPath(last.id), "parent chain loops at \(loop)")
        }
        return walk.members
    }
}

/// The backups of a repository as one command read them: each backup.ini once.
public typealias CatalogSnapshot = (backups: [BackupInfo], unreadable: [(id: String, error: any Error)])

extension Array where Element == BackupInfo {
    /// Replaces the entry of `info.id` after its backup.ini was saved.
    public mutating func update(_ info: BackupInfo) {
        if let i = firstIndex(where: { $0.id == info.id }) { self[i] = info }
    }
}

/// A backup whose chain back to its full backup is broken.
public struct ChainError: Error, Sendable, CustomStringConvertible {
    public let id: String
    public let reason: String
    public var description: String { "backup \(id) cannot be restored: \(reason)" }
}

/// Waits until just past the wall clock's next whole second (IDs are timestamps to the
/// second): up to a second, not a full one from wherever in the current second it is called.
/// 20 ms past it, because time(), which the IDs come from, reads a coarse clock that can be a
/// tick (up to 10 ms) behind.
func sleepUntilNextSecond() {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    let nanoseconds = 1_000_000_000 - now.tv_nsec + 20_000_000
    var wait = timespec(tv_sec: nanoseconds / 1_000_000_000, tv_nsec: nanoseconds % 1_000_000_000)
    var left = timespec()
    while nanosleep(&wait, &left) != 0 && errno == EINTR { wait = left }
}

#if canImport(Glibc)
@preconcurrency import Glibc
#endif
