import PostgresFormat
import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

public struct WALRetention: Sendable, Equatable {
    /// Keep at least this many of the newest archived WAL files that could otherwise go.
    public var keepFiles = 0
    /// Keep archived WAL files archived within this many days.
    public var keepDays = 0
    public init(keepFiles: Int = 0, keepDays: Int = 0) {
        self.keepFiles = keepFiles
        self.keepDays = keepDays
    }

    /// Whether the age rule keeps a file archived at `mtime`. A file whose age cannot be
    /// read (nil) is kept: deleting what cannot be checked is how archives lose WAL.
    public func keepsByAge(mtime: Int64?, now: Timestamp) -> Bool {
        guard keepDays > 0 else { return false }
        guard let mtime else { return true }
        return mtime >= now.seconds - Int64(keepDays) * 86_400
    }
}

/// What expire, delete and purge did (or, with --dry-run, would do).
public struct ExpireReport: Sendable {
    public var expired: [String] = []
    public var kept: [String] = []
    public var walRemoved: [String] = []
    public var purged: [String] = []
    /// `expire --merge`: the incremental merged into a full (or, with --dry-run, that would be).
    public var merged: String?
}

/// Expiry and deletion. Each backup goes DELETING (committed) -> data removed -> DELETED
/// (committed), so a kill at any moment leaves a state the next run finishes; WAL goes oldest
/// first, so what remains is always a contiguous tail.
public struct ExpireOperation {
    let repository: Repository
    let dryRun: Bool
    /// Seconds to wait for the repository lock, which the operation takes itself; nil when
    /// the caller already holds it (a backup applying retention after it completed).
    let lockTimeoutSeconds: Int?
    let command: String
    /// `--merge`: the oldest backup the policy keeps, when an incremental, is merged into a
    /// full first (on this many workers), so that its ancestors can go.
    let mergeJobs: Int?

    public init(repository: Repository, dryRun: Bool, command: String = "expire", lockTimeoutSeconds: Int? = 0, mergeJobs: Int? = nil) {
        self.repository = repository
        self.dryRun = dryRun
        self.command = command
        self.lockTimeoutSeconds = lockTimeoutSeconds
        self.mergeJobs = mergeJobs
    }

    private func lock() throws -> RepositoryLock? {
        try lockTimeoutSeconds.map { try RepositoryLock(repository: repository, command: command, timeoutSeconds: $0) }
    }

    public enum Rule: Sendable {
        case policy(RetentionPlanner.Policy)
        case before(Timestamp, force: Bool)
    }

    public func run(_ rule: Rule, wal: WALRetention, now: Timestamp = .now()) throws -> ExpireReport {
        let held = try lock()
        defer { held?.release() }
        var report = ExpireReport()
        // Each backup.ini is read once; the steps below keep this copy up to date.
        var loaded = try repository.loadAll()
        if !dryRun {
            try finishInterruptedDeletions(in: &loaded)
            try Catalog.markOrphans(repository, in: &loaded)
        }
        // Retention decides from the whole catalog: with a backup it cannot read, it could
        // delete that backup's parents or the WAL it needs. Nothing goes until it is repaired.
        if let (id, error) = loaded.unreadable.first {
            throw EngineError.noUsableBackup("expire changes nothing while backup \(id) cannot be read (\(error)); repair it, or remove \(repository.backupDirectory(id)) if it is beyond repair")
        }
        if let jobs = mergeJobs, case .policy(let policy) = rule,
           let id = RetentionPlanner.mergeTarget(loaded.backups, policy: policy, now: now) {
            report.merged = id
            if dryRun {
                Console.info("backup \(id) would be merged into a full backup first")
            } else {
                _ = try MergeOperation(repository: repository, jobs: jobs, lockTimeoutSeconds: nil).merge(id, in: &loaded)
            }
        }
        let backups = loaded.backups
        let decision: RetentionPlanner.Decision
        switch rule {
        case .policy(let policy): decision = RetentionPlanner.plan(backups, policy: policy, now: now)
        case .before(let date, let force): decision = RetentionPlanner.planDelete(backups, before: date, force: force, now: now)
        }
        report.kept = decision.keep
        report.expired = decision.expire
        for id in decision.expire {
            if dryRun { continue }
            guard var info = backups.first(where: { $0.id == id }) else { continue }
            try delete(&info)
            Console.info("backup \(id) expired (DELETED; pgbk purge removes what is left)")
        }
        let keptUsable = backups.filter { decision.keep.contains($0.id) && $0.isUsable }
        // Each generation's archive (upgrade-repository) by its own backups; an earlier
        // generation none of whose backups is kept needs none of its WAL.
        let identity = repository.identity
        for generation in 1...identity.generation {
            guard let view = repository.asGeneration(generation) else { continue }
            let kept = keptUsable.filter { view.identity.holds(systemIdentifier: $0.systemIdentifier) }
            report.walRemoved += try ExpireOperation(repository: view, dryRun: dryRun, command: command, lockTimeoutSeconds: nil)
                .expireWAL(keeping: kept, retention: wal, now: now, everything: kept.isEmpty && generation < identity.generation)
        }
        return report
    }

    /// Finishes what a killed expire or delete began.
    func finishInterruptedDeletions(in catalog: inout CatalogSnapshot) throws {
        for var info in catalog.backups where info.status == .deleting {
            Console.warning("backup \(info.id) was being deleted when pgbk stopped; finishing")
            try delete(&info)
            catalog.backups.update(info)
        }
    }

    func delete(_ info: inout BackupInfo) throws {
        info.status = .deleting
        try repository.saveBackup(info)
        try FaultInjection.point("expire-after-deleting-mark")
        let storage = repository.storage
        try storage.removeTree(repository.dataName(info.id))
        try repository.removeBundles(info.id)
        try repository.removeServerLogs(info.id)
        try storage.remove(repository.fileListName(info.id))
        try storage.syncDirectory(repository.backupName(info.id))
        info.status = .deleted
        try repository.saveBackup(info)
    }

    /// Removes archived WAL older than the start of the oldest kept backup: no kept backup
    /// and no moment after it can need it. Timeline history files always stay.
    /// `everything`: an earlier generation's archive that no kept backup needs.
    private func expireWAL(keeping kept: [BackupInfo], retention: WALRetention, now: Timestamp, everything: Bool = false) throws -> [String] {
        guard let oldest = everything ? UInt64.max : kept.compactMap({ b in b.startLSN.map { $0.value / UInt64(b.walSegmentSize) } }).min() else {
            return []  // nothing kept: keep every WAL file rather than guess
        }
        let store = repository.wal
        let segmentSize = UInt64(repository.identity.walSegmentSize)
        var candidates: [(segno: UInt64, file: ArchivedWAL, directory: String)] = []
        for dir in try store.segmentDirectories() {
            for file in try store.list(directory: dir) {
                guard let name = WALSegmentName(String(file.walName.prefix(24)), segmentSize: segmentSize),
                      name.segmentNumber < oldest else { continue }
                if retention.keepDays > 0 {
                    // The listing's time, unless it has none (a store that cannot say): then
                    // the age cannot be read, and the file stays.
                    let mtime: Int64? = file.mtime > 0 ? file.mtime : nil
                    if mtime == nil { Console.warning("keeping \(file.path): its age is unknown") }
                    if retention.keepsByAge(mtime: mtime, now: now) { continue }
                }
                candidates.append((name.segmentNumber, file, dir))
            }
        }
        candidates.sort { ($0.segno, $0.file.walName) < ($1.segno, $1.file.walName) }
        if retention.keepFiles > 0 { candidates.removeLast(min(retention.keepFiles, candidates.count)) }
        var removed: [String] = []
        var touched = Set<String>()
        for c in candidates {
            removed.append(c.file.walName)
            if dryRun { continue }
            try FaultInjection.point("expire-wal-remove")
            try repository.storage.remove(c.file.name)
            touched.insert(c.directory)
        }
        for dir in touched {
            try repository.storage.syncDirectory(dir)
            try repository.storage.removeEmptyDirectory(dir)
        }
        if !touched.isEmpty { try repository.storage.syncDirectory(store.rootName) }
        // Records of segments archive-push dropped before the oldest kept backup: no restore
        // can cross that gap any more.
        for walName in try store.dropped() where !dryRun {
            guard let name = WALSegmentName(walName, segmentSize: segmentSize), name.segmentNumber < oldest else { continue }
            try repository.storage.remove(store.droppedDirectory + "/" + walName)
        }
        return removed
    }

    /// What killed archive-push processes left in the archive (see WALArchiveStore).
    @discardableResult
    public func removeStaleWALTemporaries() -> Int {
        let store = repository.wal
        var removed = store.removeStaleTemporaries(in: store.rootName).count
        for dir in (try? store.segmentDirectories()) ?? [] {
            removed += store.removeStaleTemporaries(in: dir).count
        }
        if removed > 0 { Console.info("removed \(removed) temporary file(s) left by interrupted archive-push") }
        return removed
    }

    /// Removes what is left of DELETED backups (and directories no backup.ini describes).
    /// A directory purge removes (or, with --dry-run, would), and why.
    public struct Purged: Sendable, Equatable {
        public let id: String
        public let reason: String
    }

    public func purge() throws -> [Purged] {
        let held = try lock()
        defer { held?.release() }
        var catalog = try repository.loadAll()
        if !dryRun { try finishInterruptedDeletions(in: &catalog) }
        let unreadable = Set(catalog.unreadable.map(\.id))
        let parents = Set(catalog.backups.compactMap(\.parentID))
        var purged: [Purged] = []
        for id in try repository.backupIDs() {
            let info = catalog.backups.first { $0.id == id }
            let storage = repository.storage
            let reason: String
            if info?.status == .deleted {
                reason = "DELETED"
            } else if info == nil && !unreadable.contains(id) {
                // No backup.ini at all (not one that cannot be read). A killed purge removes
                // file.list before backup.ini, so what it leaves has neither; a directory with
                // a file.list, or that another backup builds on, lost its backup.ini some other
                // way and may be the only copy of a full backup: never removed here.
                if parents.contains(id) {
                    Console.warning("backup directory \(repository.storage.describe(repository.backupName(id))) has no backup.ini but backups build on it as their parent: kept (put its backup.ini back, or remove it by hand)")
                    continue
                }
                if try storage.exists(repository.fileListName(id)) {
                    Console.warning("backup directory \(repository.storage.describe(repository.backupName(id))) has no backup.ini but holds a file.list: kept (put its backup.ini back, or remove it by hand)")
                    continue
                }
                reason = "no backup.ini and no file.list (left by an interrupted purge)"
            } else {
                continue
            }
            purged.append(Purged(id: id, reason: reason))
            if dryRun { continue }
            try storage.removeTree(repository.dataName(id))
            try FaultInjection.point("purge-after-data")
            try storage.remove(repository.fileListName(id))
            // backup.ini last: until it goes, the next purge knows what this directory was.
            try storage.remove(repository.backupInfoName(id))
            try storage.removeTree(repository.backupName(id))
            Console.info("backup \(id) purged (\(reason))")
        }
        if !purged.isEmpty && !dryRun { try repository.storage.syncDirectory(Repository.backupRootName) }
        if !dryRun {
            removeStaleWALTemporaries()
            Catalog.discardAbandonedWrites(repository)
        }
        return purged
    }
}
