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

    /// What the checks established before the first write.
    struct Checked {
        let target: String
        let delta: DeltaTarget?
        let plan: RecoveryPlan
        let entries: [FileEntry]
        let tablespaces: RestoreTablespaces
        let owner: (uid: UInt32, gid: UInt32)?
        var info: BackupInfo { plan.backup }
    }

    /// What the layout left for the workers and the last step.
    struct Layout {
        var files: [FileEntry] = []
        var controlFile: FileEntry?
        var remappedTablespaceMap: String?
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
        let layout = try layOut(checked, writer: &writer)
        let (contents, crcs) = try restoreContents(checked, files: layout.files, writer: &writer)
        try finish(checked, layout: layout, contents: contents, crcs: crcs, writer: &writer)
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
        let entries = try repository.loadFileList(info)
        let tablespaces = try RestoreTablespaces(entries: entries, info: info, mapping: options.tablespaceMapping,
                                                 under: options.tablespacesUnder, repository: repository)
        for ts in tablespaces.placements {
            if delta?.hasTablespace(link: ts.entry.path, at: ts.location) != true {
                try RestoreTarget.checkTablespaceLocation(ts.location, versionDirectory: ts.versionDirectory, oid: ts.oid)
            }
            try RestoreTarget.checkUsable(ts.location, what: "tablespace \(ts.oid)'s location")
        }
        let owner = try RestoreTarget.owner(for: target)
        Console.info("recovery to \(options.recoveryTarget.description) on timeline \(plan.timeline) is possible from backup \(info.id): WAL \(plan.firstSegment) to \(plan.lastSegment) is archived and intact")
        Console.info("restoring backup \(info.id) of PostgreSQL \(info.pgVersionNum / 10000) (start it with that major version's binaries)\(plan.chain.count > 1 ? " (chain of \(plan.chain.count): \(plan.chain.map(\.id).joined(separator: " <- ")))" : "") into \(target)")
        tablespaces.announce()
        return Checked(target: target, delta: delta, plan: plan, entries: entries, tablespaces: tablespaces, owner: owner)
    }

    /// The marker first, then (delta) what the backup lacks removed, directories and links
    /// made; the files are left for the workers, pg_control for the end.
    private func layOut(_ checked: Checked, writer: inout RestoreWriter) throws -> Layout {
        let (target, info) = (checked.target, checked.info)
        try RestoreMarker.write(in: target, systemIdentifier: info.systemIdentifier, backupID: info.id)
        if let delta = checked.delta {
            // WAL the archive never got (a crashed server's last segments) stays for recovery,
            // which reads pg_wal after the archive: removing it would lose committed work.
            let wal = repository.wal
            let (removed, kept) = try delta.removeExtraneous(entries: checked.entries,
                                                             tablespaces: Dictionary(checked.tablespaces.placements.map { ($0.entry.path, $0.location) }) { a, _ in a },
                                                             keepWAL: { (try? wal.find($0)) == .some(nil) })
            Console.info("delta restore into \(target): removed \(removed) entries the backup does not have; comparing the rest with the backup")
            if let first = kept.first, let last = kept.last {
                Console.info("kept \(kept.count) WAL segment(s) in pg_wal that the archive lacks (\(first) to \(last)): recovery replays them after the archived WAL")
            }
        }
        var layout = Layout()
        layout.files.reserveCapacity(checked.entries.count)
        for entry in checked.entries {
            let path = target + "/" + entry.path
            switch entry.kind {
            case .directory:
                if entry.path == "." { try writer.setDirectoryMode(target, entry.mode) } else { try writer.makeDirectory(path, mode: entry.mode) }
            case .symlink:
                try writer.makeTablespace(link: path, location: checked.tablespaces.location(of: entry.path)!)
            case .file, .pageDelta, .unchanged:
                if entry.path == "global/pg_control" { layout.controlFile = entry; continue }
                if entry.path == "tablespace_map" && checked.tablespaces.placements.contains(where: \.isMoved) {
                    let map = TablespaceMap(entries: checked.tablespaces.placements.map {
                        .init(oid: FileSystem.baseName(of: $0.entry.path), path: $0.location)
                    })
                    try writer.writeText(map.text, to: path)
                    layout.remappedTablespaceMap = map.text
                    continue
                }
                layout.files.append(entry)
            }
        }
        return layout
    }

    /// Where each file's content is, down the chain; then the contents on `jobs` workers,
    /// in the list's order, each with its own buffers; split files part by part, into files
    /// created here at their final size. Returns the plan and each file's CRC-32C.
    private func restoreContents(_ checked: Checked, files: [FileEntry], writer: inout RestoreWriter) throws -> (RestorePlan, [UInt32]) {
        let (target, info, operation) = (checked.target, checked.info, self)
        let contents = try RestorePlan(members: checked.plan.chain, files: files, repository: repository,
                                       eachEntry: { try operation.repository.forEachFileListEntry($0, $1) })
        var units: [RestoreUnit] = []
        units.reserveCapacity(contents.files.count)
        for file in contents.files.indices {
            let fileUnits = RestoreUnit.units(for: file, in: contents)
            if fileUnits.count > 1 {
                try writer.prepare(contents.files[file], at: target + "/" + contents.files[file].path, size: contents.files[file].size)
            }
            units += fileUnits
        }
        // The file list's order, which is the order a backup stores files in: each bundle
        // is read front to back (BundleWindows). Parts keep one large file from being a tail.
        let work = units
        units = []
        let creationLock = SerialLock()
        let (owner, delta, otherCopies) = (checked.owner, checked.delta != nil, options.otherCopies)
        let meter = ProgressMeter.start(delta ? "restore --delta" : "restore", totalBytes: work.reduce(0) { $0 + $1.bytes },
                                        totalFiles: contents.files.count)
        defer { meter?.finish() }
        let results = try WorkerPool.run(count: work.count, jobs: options.jobs, makeState: {
            var worker = RestoreWriter(repository: operation.repository, info: info, owner: owner)
            // One syncfs per filesystem at the end, where the kernel's syncfs reports write errors.
            worker.syncEachFile = !FileSystem.syncfsReportsErrors
            worker.delta = delta
            worker.otherCopies = otherCopies
            worker.creationLock = creationLock
            return worker
        }) { n, worker in
            let piece = try work[n].run(with: &worker, plan: contents, target: target)
            meter?.add(bytes: work[n].bytes, files: work[n].finishesFile(in: contents) ? 1 : 0)
            try FaultInjection.point("restore-unit-written")
            return (worker.takeCounts(), piece)
        }
        meter?.finish()
        // Each file's CRC for backup_manifest: most files are one piece; split ones combine.
        var crcs = [UInt32](repeating: 0, count: contents.files.count)
        var split: [Int: [ContentPiece]] = [:]
        for (n, result) in results.enumerated() {
            guard let (counts, piece) = result else { continue }
            writer.add(counts)
            if piece.offset == 0 && piece.length == contents.files[work[n].file].size && split[work[n].file] == nil {
                crcs[work[n].file] = piece.crc
            } else {
                split[work[n].file, default: []].append(piece)
            }
        }
        for (file, pieces) in split { crcs[file] = ContentPiece.wholeFileCRC(pieces) }
        for (file, entry) in contents.files.enumerated() where split[file] != nil {
            try writer.completePrepared(entry, at: target + "/" + entry.path)
        }
        return (contents, crcs)
    }

    /// Everything durable, the recovery settings and signal file, backup_manifest, then
    /// global/pg_control last and the marker removed.
    private func finish(_ checked: Checked, layout: Layout, contents: RestorePlan, crcs: [UInt32], writer: inout RestoreWriter) throws {
        let (target, info) = (checked.target, checked.info)
        // Everything the workers wrote becomes durable here, before pg_control is written.
        for location in [target] + checked.tablespaces.placements.map(\.location) { try FileSystem.syncFilesystem(location) }
        let autoConf = try writeRecoverySettings(checked, writer: &writer)
        guard let controlFile = layout.controlFile else {
            throw EngineError.corruptFile(path: repository.fileListPath(info.id), reason: "the backup has no global/pg_control")
        }
        var manifest = contents.files.indices.map { RestoredManifest.File(path: contents.files[$0].path, size: contents.files[$0].size,
                                                                          mtime: contents.files[$0].mtime, crc: crcs[$0]) }
        manifest.append(RestoredManifest.File(path: controlFile.path, size: controlFile.size, mtime: controlFile.mtime,
                                              crc: controlFile.checksum ?? 0))
        if let map = layout.remappedTablespaceMap {
            manifest.append(RestoredManifest.File(path: "tablespace_map", size: UInt64(map.utf8.count), mtime: Timestamp.now().seconds,
                                                  crc: CRC32C.checksum(map)))
        }
        manifest.removeAll { $0.path == "postgresql.auto.conf" }
        try writer.writeStreamed(to: target + "/backup_manifest") { output in
            try RestoredManifest.write(files: manifest, info: info, to: output)
        }
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
