import PostgresFormat
import Repository
import StorageInterface

public struct RestoreOptions: Sendable {
    public var backupID: String?
    public var target: String
    /// Old tablespace location to new one, as pg_basebackup's -T.
    public var tablespaceMapping: [String: String] = [:]
    /// Where tablespaces not in `tablespaceMapping` go, each in a directory named by its OID
    /// (a drill's scratch directory); nil: their original locations.
    public var tablespacesUnder: String?
    /// The cluster's other repositories, in order, for restore_command to fall back on.
    public var fallbackRepositories: [String] = []
    /// The same, opened: a stored file damaged in the repository restored from is taken
    /// from one of them, where the same backup stores it with the same checksum.
    public var otherCopies: OtherCopies?
    /// The pgbk that restore_command will call.
    public var pgbkExecutable: String
    /// Options restore_command passes to archive-get (the configuration file).
    public var pgbkArguments: [String] = []
    /// Whether those name the repositories (`--server NAME`): restore_command adds no -B.
    public var argumentsNameRepositories = false
    /// Variables restore_command sets for archive-get (PGBK_SERVERS_DIR).
    public var pgbkEnvironment: [String: String] = [:]
    public var recoveryTarget = RecoveryTarget()
    /// Restore a standby (standby.signal) rather than a server that recovers and ends.
    public var asStandby = false
    /// The primary a standby streams from; written to postgresql.auto.conf, never printed.
    public var primaryConninfo: String?
    /// Restore over a data directory of the same cluster, rewriting only what differs.
    public var delta = false
    /// archive_mode = off in the restored postgresql.auto.conf: a copy (a PITR to look at
    /// yesterday's data) started with production's archive_command would archive a new
    /// timeline into production's repository, and restores would follow it.
    public var archiveOff = true
    public var lockTimeoutSeconds = 0
    public var jobs = WorkerPool.defaultJobs
    /// `--max-rate`: the most bytes restored per second, all workers together.
    public var maxRateBytesPerSecond: UInt64?
    /// `--db-include`, `--db-exclude`: the other databases come back as empty files.
    public var databases = DatabaseSelection()

    public init(target: String, pgbkExecutable: String) {
        self.target = target
        self.pgbkExecutable = pgbkExecutable
    }
}

/// Rebuilds a data directory from a backup. Everything is checked before the first write;
/// files are verified against their checksums as they are read; global/pg_control is written
/// last, so an interrupted restore leaves a directory PostgreSQL refuses to start, and a
/// marker (RestoreMarker) with which `--delta` finishes it.
public struct RestoreOperation: Sendable {
    let repository: Repository
    let options: RestoreOptions

    public init(repository: Repository, options: RestoreOptions) {
        self.repository = repository
        self.options = options
    }

    /// The restore of `options.backupID`: of a backup taken before upgrade-repository, through
    /// the repository as its generation was (that cluster's WAL, checked against it), with
    /// restore_command reading that generation's WAL.
    public static func of(repository: Repository, options: RestoreOptions) throws -> RestoreOperation {
        guard let given = options.backupID, repository.identity.generation > 1 else { return RestoreOperation(repository: repository, options: options) }
        let backups = try repository.loadAll().backups
        let id = try BackupReference(given).resolve(among: backups, in: repository.path)
        guard let info = backups.first(where: { $0.id == id }), case let view = repository.forBackup(info),
              view.identity.generation != repository.identity.generation else {
            return RestoreOperation(repository: repository, options: options)
        }
        let generation = view.identity.generation
        var options = options
        options.backupID = id
        options.pgbkArguments += ["--generation", String(generation)]
        Console.info("backup \(id) is of generation \(generation) of \(repository.path) (PostgreSQL \(view.identity.pgMajorVersion), before upgrade-repository): restored with that generation's WAL (\(view.wal.root))")
        return RestoreOperation(repository: view, options: options)
    }

    /// What the checks established before the first write.
    struct Checked {
        let target: String
        let delta: DeltaTarget?
        let plan: RecoveryPlan
        let lists: ChainSurvey
        let tablespaces: RestoreTablespaces
        let owner: (uid: UInt32, gid: UInt32)?
        /// The databases restored empty (`--db-include`, `--db-exclude`).
        let zeroed: Set<UInt32>
        var info: BackupInfo { plan.backup }
    }

    /// What `prepare` established, with the repository lock it holds until `execute` ends.
    public struct Prepared {
        let checked: Checked
        let lock: RepositoryLock
        public var backup: BackupInfo { checked.info }
    }

    /// The pipeline: checks (nothing written), layout (directories, links, the marker),
    /// contents (the workers), finish (sync, recovery settings, manifest, pg_control last).
    public func run() throws -> BackupInfo {
        try execute(try prepare())
    }

    /// The checks, the reachability proof among them, under a shared repository lock; nothing
    /// is written. A caller with several repositories prepares each in turn until one can.
    public func prepare() throws -> Prepared {
        // Shared: other restores may read too, but nothing may expire the chain meanwhile.
        let lock = try RepositoryLock(repository: repository, command: "restore", shared: true,
                                      timeoutSeconds: options.lockTimeoutSeconds)
        do { return Prepared(checked: try check(), lock: lock) } catch {
            lock.release()
            throw error
        }
    }

    /// Whether `prepare` failed because of what the repository holds or can give (no backup
    /// reaches the target, a missing or damaged file, the repository unreadable or locked),
    /// so that another repository may do, rather than because of the target or the options.
    public static func isAboutTheRepository(_ error: Error) -> Bool {
        switch error {
        case let engine as EngineError:
            switch engine {
            case .noUsableBackup, .backupNotUsable, .corruptFile: return true
            default: return false
            }
        case is CatalogError, is StorageError, is RepositoryLock.Busy: return true
        default: return false
        }
    }

    /// Everything after the checks; releases the lock `prepare` took.
    public func execute(_ prepared: Prepared) throws -> BackupInfo {
        defer { prepared.lock.release() }
        let checked = prepared.checked
        var writer = RestoreWriter(repository: repository, info: checked.info, owner: checked.owner)
        writer.delta = checked.delta != nil
        writer.otherCopies = options.otherCopies
        try writer.makeDirectory(checked.target, mode: 0o700)
        let targetLock = try RestoreTargetLock(checked.target)
        defer { withExtendedLifetime(targetLock) {} }
        try layOut(checked)
        // backup_manifest is written as files finish, under another name until it is whole.
        let manifestPath = checked.target + "/" + RestoreMarker.manifestName
        try FileSystem.remove(manifestPath)
        let output = try OpenFile(creating: manifestPath, mode: 0o600)
        defer { output.close() }
        let manifest = try RestoredManifest.Writer(info: checked.info) { try output.write($0) }
        let contents = try restoreContents(checked, writer: &writer, manifest: manifest)
        try finish(checked, contents: contents, manifest: (manifest, output, manifestPath), writer: &writer)
        return checked.info
    }

    /// Everything that can be checked before the first write: the target, the plan (which
    /// reads every needed WAL segment back), the file list and where tablespaces go.
    private func check() throws -> Checked {
        // Cheap checks first; the plan reads WAL.
        let target = FileSystem.absolute(options.target)
        let delta = options.delta
            ? try DeltaTarget.check(target, systemIdentifier: repository.identity.systemIdentifier, repository: repository.path) : nil
        if delta == nil { try RestoreTarget.checkEmpty(target) }
        try RestoreTarget.checkUsable(target, what: "restore target")
        let plan = try RecoveryPlanner(repository: repository, target: options.recoveryTarget, jobs: options.jobs).plan(backupID: options.backupID)
        let info = plan.backup
        // Every list of the chain read whole and checked; held only where one is out of order.
        let lists = try ChainSurvey(members: plan.chain, repository: repository)
        let tablespaces = try RestoreTablespaces(entries: lists.tablespaceEntries, info: info, mapping: options.tablespaceMapping,
                                                 under: options.tablespacesUnder, repository: repository)
        for ts in tablespaces.placements {
            if delta?.hasTablespace(link: ts.entry.path, at: ts.location) != true {
                try RestoreTarget.checkTablespaceLocation(ts.location, versionDirectory: ts.versionDirectory, oid: ts.oid)
            }
            try RestoreTarget.checkUsable(ts.location, what: "tablespace \(ts.oid)'s location")
        }
        let owner = try RestoreTarget.owner(for: target)
        let zeroed = options.databases.isEmpty ? []
            : try options.databases.zeroed(present: lists.databaseOIDs, names: info.databases, backup: info.id)
        Console.info("recovery to \(options.recoveryTarget.description) on timeline \(plan.timeline) is possible from backup \(info.id): WAL \(plan.firstSegment) to \(plan.lastSegment) is archived and intact")
        Console.info("restoring backup \(info.id) of PostgreSQL \(info.pgVersionNum / 10000) (start it with that major version's binaries)\(plan.chain.count > 1 ? " (chain of \(plan.chain.count): \(plan.chain.map(\.id).joined(separator: " <- ")))" : "") into \(target)")
        tablespaces.announce()
        return Checked(target: target, delta: delta, plan: plan, lists: lists, tablespaces: tablespaces, owner: owner, zeroed: zeroed)
    }

    /// The marker first, then (delta) what the backup lacks removed; directories, links and
    /// files are left for the contents, pg_control for the end.
    private func layOut(_ checked: Checked) throws {
        let (target, info) = (checked.target, checked.info)
        try RestoreMarker.write(in: target, systemIdentifier: info.systemIdentifier, backupID: info.id)
        guard let delta = checked.delta else { return }
        // WAL the archive never got (a crashed server's last segments) stays for recovery,
        // which reads pg_wal after the archive: removing it would lose committed work.
        let wal = repository.wal
        let (removed, kept) = try delta.removeExtraneous(kindOf: try checked.lists.kinds(repository: repository),
                                                         tablespaces: Dictionary(checked.tablespaces.placements.map { ($0.entry.path, $0.location) }) { a, _ in a },
                                                         keepWAL: { (try? wal.find($0)) == .some(nil) })
        Console.info("delta restore into \(target): removed \(removed) entries the backup does not have; comparing the rest with the backup")
        if let first = kept.first, let last = kept.last {
            Console.info("kept \(kept.count) WAL segment(s) in pg_wal that the archive lacks (\(first) to \(last)): recovery replays them after the archived WAL")
        }
    }

    /// Every entry in the list's order, files on `jobs` workers (RestoreContents), each
    /// finished file's line into `manifest`.
    private func restoreContents(_ checked: Checked, writer: inout RestoreWriter,
                                 manifest: RestoredManifest.Writer) throws -> RestoreContents.Outcome {
        let contents = RestoreContents(repository: repository, target: checked.target, members: checked.plan.chain,
                                       tablespaces: checked.tablespaces, owner: checked.owner, delta: checked.delta != nil,
                                       otherCopies: options.otherCopies, jobs: options.jobs,
                                       limiter: options.maxRateBytesPerSecond.map { RateLimiter(bytesPerSecond: $0) }, zeroed: checked.zeroed)
        var entries = try checked.lists.entries(repository: repository)
        let meter = ProgressMeter.start(checked.delta != nil ? "restore --delta" : "restore", totalBytes: checked.lists.byteCount,
                                        totalFiles: checked.lists.fileCount)
        defer { meter?.finish() }
        return try contents.run(&entries, writer: &writer, manifest: manifest, meter: meter)
    }

    /// Everything durable, the recovery settings and signal file, backup_manifest, then
    /// global/pg_control last and the marker removed.
    private func finish(_ checked: Checked, contents: RestoreContents.Outcome, manifest: (writer: RestoredManifest.Writer, file: OpenFile, path: String),
                        writer: inout RestoreWriter) throws {
        let (target, info) = (checked.target, checked.info)
        // Everything the workers wrote becomes durable here, before pg_control is written.
        for location in [target] + checked.tablespaces.placements.map(\.location) { try FileSystem.syncFilesystem(location) }
        let autoConf = try writeRecoverySettings(checked, writer: &writer)
        guard let controlFile = contents.controlFile else {
            throw EngineError.corruptFile(path: repository.fileListPath(info.id), reason: "the backup has no global/pg_control")
        }
        try manifest.writer.add(RestoredManifest.File(path: controlFile.path, size: controlFile.size, mtime: controlFile.mtime,
                                                      crc: controlFile.checksum ?? 0))
        if let map = contents.remappedTablespaceMap {
            try manifest.writer.add(RestoredManifest.File(path: "tablespace_map", size: UInt64(map.utf8.count), mtime: Timestamp.now().seconds,
                                                          crc: CRC32C.checksum(map)))
        }
        try manifest.writer.finish()
        try writer.seal(manifest.file, as: target + "/backup_manifest", from: manifest.path)
        try writer.syncDirectories()

        try FaultInjection.point("restore-before-control")
        try writer.restoreFile(controlFile, to: target + "/global/pg_control")
        try FileSystem.syncDirectory(target + "/global")
        try RestoreMarker.remove(in: target)
        let next = options.asStandby
            ? "start PostgreSQL on \(target): it runs as a standby, fed by restore_command\(options.primaryConninfo != nil ? " and streaming from the primary in primary_conninfo" : " (and primary_conninfo, if the backup had one)")"
            : "start PostgreSQL on \(target) to recover to \(options.recoveryTarget.description)"
        let written = checked.delta == nil ? "\(formatBytes(writer.bytesWritten))"
            : "\(writer.filesUnchanged) already matched the backup, \(formatBytes(writer.bytesWritten)) written"
        Console.info("restore of backup \(info.id) complete: \(writer.filesWritten) files, \(written); \(next)")
        if checked.delta == nil {
            for line in UnarchivedWAL.adviceForPlainRestore(into: target, archive: repository.wal, systemIdentifier: info.systemIdentifier) {
                Console.warning(line)
            }
        }
        if !checked.zeroed.isEmpty {
            let names = checked.zeroed.sorted().map { oid in info.databases[oid].map { "\($0) (OID \(oid))" } ?? "OID \(oid)" }
            Console.warning("database\(names.count == 1 ? "" : "s") \(names.joined(separator: ", ")) restored empty (--db-include/--db-exclude): connecting to \(names.count == 1 ? "it" : "them") fails; DROP DATABASE \(names.count == 1 ? "it" : "them") once recovery has ended")
        }
        if options.archiveOff {
            Console.info("archive_mode = off is set in \(autoConf), so that this copy never archives into \(repository.path); for the copy that becomes the new production, restore with --archive-mode=preserve or remove that line before starting it")
        }
    }

    /// postgresql.auto.conf with pgbk's recovery settings, and the signal file; its path.
    private func writeRecoverySettings(_ checked: Checked, writer: inout RestoreWriter) throws -> String {
        let autoConf = checked.target + "/postgresql.auto.conf"
        let existing = FileSystem.exists(autoConf) ? try FileSystem.readText(autoConf) : ""
        var recovery = RecoveryConfiguration(pgbkExecutable: options.pgbkExecutable, pgbkArguments: options.pgbkArguments, repositoryPath: repository.path,
                                             fallbacks: options.fallbackRepositories,
                                             namingRepositories: !options.argumentsNameRepositories, environment: options.pgbkEnvironment,
                                             target: options.recoveryTarget)
        recovery.primaryConninfo = options.primaryConninfo
        recovery.archiveOff = options.archiveOff
        try FileSystem.remove(autoConf)
        try writer.writeText(recovery.apply(to: existing, backupID: checked.info.id), to: autoConf)
        try writer.writeText("", to: checked.target + (options.asStandby ? "/standby.signal" : "/recovery.signal"))
        return autoConf
    }
}
