import PostgresClient
import PostgresFormat
import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// What a backup does the same way whether it reads the data directory (BackupOperation) or
/// receives BASE_BACKUP over the protocol (RemoteBackupOperation): read the catalog under the
/// lock, choose the parent, wait for the last WAL segment, publish the backup as DONE, apply
/// retention.
struct BackupSteps {
    let repository: Repository
    let options: BackupOptions

    /// Each backup.ini is read once, under the lock: nothing else changes them meanwhile.
    func loadCatalog() throws -> CatalogSnapshot {
        var catalog = try repository.loadAll()
        try Catalog.markOrphans(repository, in: &catalog)
        Catalog.discardAbandonedWrites(repository)
        return catalog
    }

    /// nil for a full backup. Throws when an incremental has no usable parent, unless -F.
    func chooseParent(_ loaded: CatalogSnapshot, timeline: TimelineID, startLSN: LSN, pgMajor: Int) throws -> BackupInfo? {
        guard options.mode == .incremental else { return nil }
        let history = timeline > 1 ? try WALArchive(repository: repository).history(of: timeline) : nil
        let situation = ParentSelector.Situation(timeline: timeline, history: history, startLSN: startLSN, pgMajor: pgMajor)
        for (id, error) in loaded.unreadable { Console.warning("backup \(id) cannot be read: \(error)") }
        var rule = options.parent
        if case .named(let given) = rule { rule = .named(try BackupReference(given).resolve(among: loaded.backups, in: repository.path)) }
        switch ParentSelector.select(from: loaded.backups, unreadable: loaded.unreadable.map(\.id), repository: repository,
                                     situation: situation, rule: rule) {
        case .success(let parent):
            return parent
        case .failure(let error):
            guard options.fullOnError else { throw error }
            Console.warning("\(error); taking a full backup instead (-F)")
            return nil
        }
    }

    /// What a new backup's record says of the cluster, whichever way its files are read.
    struct ClusterFacts {
        let systemIdentifier: UInt64
        let versionNumber: Int
        let blockSize: UInt32
        let walBlockSize: UInt32
        let walSegmentSize: UInt32
        let dataChecksums: Bool
    }

    /// The backup's directory and its RUNNING record (not yet saved).
    func newRecord(parent: BackupInfo?, label: String, timeline: TimelineID, start: LSN, cluster: ClusterFacts) throws -> BackupInfo {
        let mode: BackupMode = parent == nil ? .full : .incremental
        let (id, startTime) = try repository.createBackupDirectory(mode: mode)
        var info = BackupInfo(id: id, mode: mode, status: .running, startTime: startTime)
        info.label = label
        info.parentID = parent?.id
        info.pid = getpid()
        info.timeline = timeline
        info.startLSN = start
        info.systemIdentifier = cluster.systemIdentifier
        info.pgVersionNum = cluster.versionNumber
        info.blockSize = cluster.blockSize
        info.walBlockSize = cluster.walBlockSize
        info.walSegmentSize = cluster.walSegmentSize
        info.dataChecksums = cluster.dataChecksums
        info.compression = options.compression
        info.compressLevel = options.compressLevel
        info.annotations = BackupAnnotation.applying(options.annotations, to: [:])
        info.differential = parent != nil && options.parent == .newestFull
        return info
    }

    /// The cluster's databases by OID, for `restore --db-include NAME`.
    static func databases(_ connection: Connection) throws -> [UInt32: String] {
        let result = try connection.query("SELECT oid::text, datname FROM pg_database")
        var databases: [UInt32: String] = [:]
        for row in result.rows {
            if let oid = row[0].flatMap({ UInt32($0) }), let name = row[1] { databases[oid] = name }
        }
        return databases
    }

    /// The one error boundary of a backup: the RUNNING record saved, then `body`; whatever
    /// fails marks the record ERROR with its reason, so that no failure leaves a RUNNING
    /// backup behind. `how`: said after "started" (" over the replication protocol").
    func whileRunning(_ info: inout BackupInfo, how: String = "", _ body: (inout BackupInfo) throws -> Void) throws {
        do {
            try repository.saveBackup(info)
            Console.info("backup \(info.id) started\(how) (\(info.mode.rawValue.lowercased())\(info.parentID.map { " on top of \($0)" } ?? ""), \(options.smoothCheckpoint ? "spread" : "fast") checkpoint, start \(info.startLSN!))")
            try body(&info)
        } catch {
            info.statusReason = "\(error)"
            try? Catalog.markFailed(repository, &info)
            throw error
        }
    }

    /// Polls the archive for the backup's last segment. The server has already switched to a
    /// new segment, so the archiver (or receive-wal) is working on it.
    func waitForArchive(_ segment: WALSegmentName, connection: Connection) throws {
        Console.detail("waiting for \(segment.name) to be archived")
        let archived = try poll(forSeconds: Double(options.archiveTimeoutSeconds), firstDelay: 20_000, longestDelay: 500_000) {
            try repository.wal.find(segment.name) != nil
        }
        guard !archived else { return }
        var hint = ""
        if let r = try? connection.query("SELECT last_failed_wal, last_failed_time::text FROM pg_stat_archiver"),
           let failed = r.value(0, "last_failed_wal") {
            hint = "; the server last failed to archive \(failed) at \(r.value(0, "last_failed_time") ?? "?")"
        }
        throw EngineError.archiveTimeout(segment: segment.name, seconds: options.archiveTimeoutSeconds,
                                         repository: repository.path, serverHint: hint)
    }

    /// Makes the stored files durable, then writes the file list and rewrites backup.ini as
    /// DONE: until then the backup is RUNNING, and never restored.
    func publish(_ info: inout BackupInfo, list: FileListWriter, totals: FileOutcome, directories: [String]) throws {
        // The stored files were not fsynced one by one: all of them become durable here.
        try repository.storage.syncAll(repository.dataName(info.id))
        for dir in directories.reversed() { try repository.storage.syncDirectory(dir) }
        info.bundled = try repository.storage.exists(BundleList.listName(backup: repository.backupName(info.id)))
        info.totalDataBytes = totals.totalBytes
        info.readDataBytes = totals.readBytes
        info.scannedDataBytes = totals.scannedBytes
        info.writeBytes = totals.writtenBytes
        info.fileCount = list.count
        try FaultInjection.point("backup-before-manifest")
        info.fileListChecksum = try list.commit()
        try FaultInjection.point("backup-before-done")
        info.endTime = .now()
        info.status = .done
        info.pid = nil
        try repository.saveBackup(info)
        Console.info("backup \(info.id) completed: \(list.count) entries, \(formatBytes(info.readDataBytes)) of \(formatBytes(info.totalDataBytes)) stored as \(formatBytes(info.writeBytes)); run pgbk validate to mark it OK")
    }

    func applyRetention() throws {
        guard let policy = options.retention else { return }
        // The new backup is DONE, not yet OK: it is kept, but it is no generation until
        // validate says so; the OK fulls the policy keeps are counted without it.
        let report = try ExpireOperation(repository: repository, dryRun: false, lockTimeoutSeconds: nil)
            .run(.policy(policy), wal: options.walRetention)
        if !report.walRemoved.isEmpty { Console.info("removed \(report.walRemoved.count) archived WAL file(s) no kept backup needs") }
    }
}
