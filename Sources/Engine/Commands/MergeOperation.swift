import PostgresFormat
import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `pgbk merge ID`: an incremental and its ancestors folded into a full backup of the same
/// point, made inside the repository from stored files alone (MergedFiles), without the
/// cluster. The full takes the incremental's ID with F and its record (times, LSNs, WAL,
/// annotations), `MERGED_FROM` naming it. Stages, each a state a kill may leave and a rerun
/// finishes: the full written (RUNNING: never restored; the next command makes it ERROR and
/// a rerun writes it again) → its list and record DONE → read back whole (validate) → OK →
/// the incremental's children re-parented onto it (one atomic rewrite each) → the merged
/// backups that nothing kept needs any more retired as expire retires (DELETING, data,
/// DELETED), newest first. Until the full is OK nothing is retired or re-parented, so every
/// point that restored before still restores at every step.
public struct MergeOperation {
    let repository: Repository
    let jobs: Int
    /// nil when the caller holds the repository lock (expire --merge).
    let lockTimeoutSeconds: Int?

    public init(repository: Repository, jobs: Int = WorkerPool.defaultJobs, lockTimeoutSeconds: Int? = 0) {
        self.repository = repository
        self.jobs = jobs
        self.lockTimeoutSeconds = lockTimeoutSeconds
    }

    public struct Report: Sendable {
        public var merged: String = ""
        public var full: String = ""
        public var retired: [String] = []
        public var kept: [RetentionPlanner.KeptMember] = []
        public var reparented: [String] = []
    }

    /// `reference`: an incremental's ID or a shortcut word (nil: latest).
    public func run(_ reference: String?) throws -> Report {
        let lock = try lockTimeoutSeconds.map { try RepositoryLock(repository: repository, command: "merge", timeoutSeconds: $0) }
        defer { lock?.release() }
        var catalog = try repository.loadAll()
        try ExpireOperation(repository: repository, dryRun: false, lockTimeoutSeconds: nil).finishInterruptedDeletions(in: &catalog)
        try Catalog.markOrphans(repository, in: &catalog)
        Catalog.discardAbandonedWrites(repository)
        let id = try BackupReference(reference ?? "latest").resolve(among: catalog.backups, in: repository.path)
        return try merge(id, in: &catalog)
    }

    /// Merges `id` within a catalog the caller loaded under the lock (and keeps it current).
    func merge(_ id: String, in catalog: inout CatalogSnapshot) throws -> Report {
        guard let tip = catalog.backups.first(where: { $0.id == id }) else {
            if let (_, error) = catalog.unreadable.first(where: { $0.id == id }) { throw error }
            throw CatalogError.invalid(repository.backupDirectory(id), "no such backup")
        }
        let fullID = String(id.dropLast()) + "F"
        var report = Report(merged: id, full: fullID)
        if let done = catalog.backups.first(where: { $0.id == fullID && $0.mergedFrom == id && $0.isUsable }) {
            // A rerun: the full is there; what a kill left of the rest is finished.
            Console.info("backup \(fullID) already holds \(id) merged (\(done.status.rawValue)); finishing")
            try finish(done, tip: tip, catalog: &catalog, report: &report)
            return report
        }
        let chain = try checkMergeable(tip, fullID: fullID, catalog: catalog)
        var full = try write(tip: tip, chain: chain, as: fullID)
        catalog.backups.append(full)
        catalog.backups.sort { $0.id < $1.id }
        try prove(&full)
        catalog.backups.update(full)
        try finish(full, tip: tip, catalog: &catalog, report: &report)
        return report
    }

    /// The chain to merge, newest first; throws (one line, nothing changed) when there is none.
    private func checkMergeable(_ tip: BackupInfo, fullID: String, catalog: CatalogSnapshot) throws -> [BackupInfo] {
        guard tip.mode == .incremental else {
            throw EngineError.invalidArgument("backup \(tip.id) is a full backup: merge folds an incremental and its ancestors into a full one; name an incremental")
        }
        guard tip.isUsable else { throw EngineError.backupNotUsable(id: tip.id, status: tip.status.rawValue, reason: tip.statusReason) }
        if catalog.unreadable.contains(where: { $0.id == fullID }) {
            throw CatalogError.corrupt(repository.backupInfoPath(fullID), "unreadable, and its ID is the merged full's; nothing was merged")
        }
        // Only what a failed merge of this backup left (ERROR or CORRUPT, MERGED_FROM it) is
        // written over.
        if let other = catalog.backups.first(where: { $0.id == fullID }),
           ![.error, .corrupt].contains(other.status) || other.mergedFrom != tip.id {
            throw EngineError.invalidArgument("backup \(fullID), the merged full's ID, is taken by another backup (\(other.status.rawValue)); nothing was merged")
        }
        return try repository.chain(for: tip, among: catalog.backups)
    }

    /// The full written: RUNNING first, then its files, list and record DONE.
    private func write(tip: BackupInfo, chain: [BackupInfo], as fullID: String) throws -> BackupInfo {
        if try repository.storage.exists(repository.backupName(fullID)) { try repository.storage.removeTree(repository.backupName(fullID)) }
        var full = Self.record(for: tip, chain: chain, id: fullID)
        try repository.storage.makeDirectories(repository.dataName(fullID))
        try repository.saveBackup(full)
        Console.info("merging \(chain.map(\.id).joined(separator: " <- ")) into full backup \(fullID)")
        try FaultInjection.point("merge-after-running")
        do {
            let survey = try ChainSurvey(members: chain, repository: repository)
            var entries = try survey.entries(repository: repository)
            let list = try repository.fileListWriter(fullID)
            let files = MergedFiles(repository: repository, members: chain, merged: full, jobs: jobs)
            let totals = try files.run(&entries, into: list, storage: repository.storage.deferringDurability())
            try copyServerLogs(from: tip, to: fullID)
            try repository.storage.syncAll(repository.dataName(fullID))
            full.bundled = try repository.storage.exists(BundleList.listName(backup: repository.backupName(fullID)))
            full.totalDataBytes = totals.bytes
            full.readDataBytes = totals.bytes
            full.writeBytes = totals.stored
            full.fileCount = list.count
            try FaultInjection.point("merge-before-list")
            full.fileListChecksum = try list.commit()
            full.status = .done
            full.pid = nil
            full.statusReason = nil
            try repository.saveBackup(full)
            Console.info("backup \(fullID) written: \(totals.copied) stored file(s) copied as they were, \(totals.rebuilt) relation(s) rebuilt from page deltas, \(formatBytes(totals.bytes)) stored as \(formatBytes(totals.stored))")
        } catch {
            full.statusReason = "merge of \(tip.id) failed: \(error)"
            try? Catalog.markFailed(repository, &full)
            throw error
        }
        return full
    }

    /// The merged full's record: the incremental's point and facts, a full's shape.
    static func record(for tip: BackupInfo, chain: [BackupInfo], id: String) -> BackupInfo {
        var full = tip
        full.id = id
        full.mode = .full
        full.status = .running
        full.statusReason = "being merged from \(tip.id)"
        full.parentID = nil
        full.differential = false
        full.pin = nil
        full.mergedFrom = tip.id
        full.pid = getpid()
        full.verifyTime = nil
        full.changeSource = nil
        full.changeSourceReason = nil
        full.scannedDataBytes = nil
        full.method = .copy
        full.networkBytes = nil
        full.fileListChecksum = nil
        // Pages that failed verification in any member may be in the merged content.
        full.pageErrorCount = chain.reduce(0) { $0 + $1.pageErrorCount }
        full.pageErrorDetail = chain.compactMap(\.pageErrorDetail).first
        return full
    }

    /// backup -s: the incremental's copies of the server log go with its point.
    private func copyServerLogs(from tip: BackupInfo, to fullID: String) throws {
        guard let logs = try repository.loadServerLogList(tip.id) else { return }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        for entry in logs {
            let name = repository.serverLogName(tip.id, path: entry.path, compression: tip.compression)
            let (_, problem) = try VerifiedCopy.copy(name, from: repository.storage, to: repository.storage,
                                                     as: repository.serverLogName(fullID, path: entry.path, compression: tip.compression),
                                                     compression: tip.compression, content: StoredContent(entry, part: 0, blockSize: Int(tip.blockSize)),
                                                     buffer: &buffer)
            if let problem { throw EngineError.corruptFile(path: repository.storage.describe(name), reason: "\(problem); nothing was merged") }
        }
        try repository.storage.writeAll(repository.serverLogListName(fullID), try repository.storage.readAll(repository.serverLogListName(tip.id)))
    }

    /// Reads the new full back whole, as validate does, with the WAL that makes it
    /// consistent: OK, or CORRUPT and an error (nothing retired).
    private func prove(_ full: inout BackupInfo) throws {
        if full.status == .ok { return }
        let problems = try ValidateOperation(repository: repository, jobs: jobs).check(full)
        try FaultInjection.point("merge-before-ok")
        full.status = problems.isEmpty ? .ok : .corrupt
        full.statusReason = problems.isEmpty ? nil : problems.prefix(3).joined(separator: "; ")
        full.verifyTime = .now()
        try repository.saveBackup(full)
        guard problems.isEmpty else {
            throw EngineError.corruptFile(path: repository.backupDirectory(full.id), reason: "the merged full does not read back: \(problems[0]); nothing was retired (stored files are copied as they are: pgbk validate --recheck shows whether the merged backups hold the damage)")
        }
        Console.info("backup \(full.id) read back against its checksums: OK")
    }

    /// After the full is OK: the incremental's children built on it instead, then the
    /// merged backups nothing kept needs retired, newest first.
    private func finish(_ full: BackupInfo, tip: BackupInfo, catalog: inout CatalogSnapshot, report: inout Report) throws {
        var full = full
        try prove(&full)
        catalog.backups.update(full)
        for var child in catalog.backups where child.parentID == tip.id && child.status != .deleted && child.status != .deleting {
            child.parentID = full.id
            try repository.saveBackup(child)
            catalog.backups.update(child)
            report.reparented.append(child.id)
            Console.info("backup \(child.id) now builds on \(full.id) (was \(tip.id))")
            try FaultInjection.point("merge-after-reparent")
        }
        let walk = BackupChain.ancestry(of: tip, in: catalog.backups).members
        let plan = RetentionPlanner.retirement(of: walk, among: catalog.backups, now: .now())
        report.kept = plan.kept
        let expire = ExpireOperation(repository: repository, dryRun: false, lockTimeoutSeconds: nil)
        for id in plan.retired {
            guard var info = catalog.backups.first(where: { $0.id == id }), info.status != .deleted else { continue }
            try expire.delete(&info)
            catalog.backups.update(info)
            report.retired.append(id)
            try FaultInjection.point("merge-after-retire")
        }
        let retired = plan.retired.isEmpty ? "nothing retired" : "retired \(plan.retired.joined(separator: ", ")) (DELETED; pgbk purge removes what is left)"
        let kept = plan.kept.isEmpty ? "" : "; kept \(plan.kept.map { "\($0.id) (\($0.why))" }.joined(separator: ", "))"
        Console.info("backup \(tip.id) merged into full backup \(full.id): \(retired)\(kept)")
    }
}
