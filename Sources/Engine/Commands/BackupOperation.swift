import PostgresClient
import PostgresFormat
import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

public struct BackupOptions: Sendable {
    public var mode: BackupMode = .full
    /// With no usable parent, take a full backup instead of failing.
    public var fullOnError = false
    public var smoothCheckpoint = false
    public var compression: Compression = .none
    public var compressLevel: Int32 = 1
    public var archiveTimeoutSeconds = 600
    public var connection = ConnectionParameters()
    /// Back up from this streaming standby (its data directory is -D); `connection` is then
    /// the primary, which must archive and which switches WAL at the end.
    public var standby: ConnectionParameters?
    /// The most the standby may be behind the primary when the backup starts.
    public var maxStandbyLagBytes: UInt64 = 1 << 30
    public var lockTimeoutSeconds = 0
    public var jobs = WorkerPool.defaultJobs
    /// Applied after a successful backup, under the same lock.
    public var retention: RetentionPlanner.Policy?
    public var walRetention = WALRetention()
    /// `-s`: copy the server's log files too, from this directory (nil: its log_directory).
    public var withServerLog = false
    public var serverLogDirectory: String?
    /// For an incremental: build the changed-block map from WAL too, and fail if the LSN scan
    /// finds a changed page it lacks (MapVerifier).
    public var verifyMap = false
    /// Over the protocol: BASE_BACKUP's MAX_RATE, in kB/s (nil: unlimited).
    public var maxRateKBps: Int?
    /// Reading the data directory: the most bytes read per second, all workers together.
    public var maxRateBytesPerSecond: UInt64?
    /// An incremental's parent: the newest OK backup, the newest OK full (`-b diff`), or the
    /// one `--parent` names (an ID or a shortcut word, resolved under the lock).
    public var parent: ParentSelector.Rule = .newest
    /// `--annotation KEY=VALUE`, in the record from its first save.
    public var annotations: [BackupAnnotation] = []

    public init() {}
}

/// An online backup: pg_backup_start, copy (whole files, or changed pages for an
/// incremental), pg_backup_stop, wait for the last WAL segment, then commit by rewriting
/// backup.ini as DONE. Until that rename the backup is RUNNING (or ERROR), and never restored.
public struct BackupOperation {
    let repository: Repository
    let cluster: DataDirectory
    let options: BackupOptions

    private var steps: BackupSteps { BackupSteps(repository: repository, options: options) }

    public init(repository: Repository, cluster: DataDirectory, options: BackupOptions) {
        self.repository = repository
        self.cluster = cluster
        self.options = options
    }

    /// The servers a backup talks to: `connection` is the one whose files are copied (the
    /// standby's, with --standby), `primary` the one that archives.
    struct Session {
        let primary: Connection
        let connection: Connection
        let settings: ServerSettings
        let label: String
    }

    /// The pipeline: checks, pg_backup_start, the RUNNING record, then everything that can
    /// fail inside one boundary that marks the record ERROR, so that no failure leaves a
    /// RUNNING backup behind; --verify-map and retention run on the DONE backup.
    public func run() throws -> BackupInfo {
        let lock = try RepositoryLock(repository: repository, command: "backup", timeoutSeconds: options.lockTimeoutSeconds)
        defer { lock.release() }
        let catalog = try steps.loadCatalog()
        try BackupChecks.cluster(cluster, repository: repository)
        let session = try openSession()
        var (info, parent) = try startBackup(session, catalog: catalog)
        var maps: [(source: String, map: ChangedBlockMap)] = []
        try steps.whileRunning(&info) { info in
            if let parent { maps = try buildMaps(session, parent: parent, info: &info) }
            try copyAndStop(connection: session.connection, primary: session.primary, info: &info, parent: parent,
                            changes: options.verifyMap ? nil : maps.first?.map)
        }
        if let parent { try verifyMaps(maps, info: info, parent: parent) }
        try steps.applyRetention()
        return info
    }

    /// Connects, and checks the server (or the standby and its primary) against the cluster
    /// and the repository.
    private func openSession() throws -> Session {
        let primary = try Connection(options.connection)
        let settings = try primary.serverSettings()
        guard let standbyParameters = options.standby else {
            try BackupChecks.server(settings, cluster: cluster, repository: repository, connection: primary)
            return Session(primary: primary, connection: primary, settings: settings, label: "pgbk backup")
        }
        // The backup runs on the standby, whose files are copied; the primary archives.
        let standby = try Connection(standbyParameters)
        let standbySettings = try standby.serverSettings()
        try BackupChecks.standby(standbySettings, primary: settings, standbyConnection: standby, primaryConnection: primary,
                                 cluster: cluster, repository: repository, maxLagBytes: options.maxStandbyLagBytes)
        try awaitRestartpointSource(primary: primary, standby: standby)
        return Session(primary: primary, connection: standby, settings: standbySettings,
                       label: "pgbk backup from standby \(standbyParameters.host ?? "local"):\(standbyParameters.port ?? "default")")
    }

    /// pg_backup_start, the parent, and the backup's directory with its record (not yet saved).
    private func startBackup(_ session: Session, catalog: CatalogSnapshot) throws -> (BackupInfo, parent: BackupInfo?) {
        let connection = session.connection
        let start = try connection.startBackup(label: session.label, fastCheckpoint: !options.smoothCheckpoint)
        guard let startLSN = LSN(start.startLSN) else {
            throw EngineError.serverNotReady("pg_backup_start returned an invalid LSN \(start.startLSN)")
        }
        // Right after pg_backup_start's checkpoint, pg_control has the current timeline.
        let timeline = TimelineID(try connection.query("SELECT timeline_id::text FROM pg_control_checkpoint()").single ?? "") ?? 0
        let parent = try steps.chooseParent(catalog, timeline: timeline, startLSN: startLSN, pgMajor: session.settings.versionNumber / 10000)
        var info = try steps.newRecord(parent: parent, label: session.label, timeline: timeline, start: startLSN, cluster: .init(
            systemIdentifier: cluster.control.systemIdentifier, versionNumber: session.settings.versionNumber,
            blockSize: cluster.control.blockSize, walBlockSize: cluster.control.walBlockSize,
            walSegmentSize: cluster.control.walSegmentSize, dataChecksums: cluster.control.dataChecksumsEnabled))
        info.databases = try BackupSteps.databases(session.primary)
        return (info, parent)
    }

    /// An incremental reads the pages WAL says changed since the parent's start: from the
    /// server's WAL summaries, else from the WAL itself, when either can say so completely;
    /// otherwise (and to verify the maps) every page. A source that fails in any way (a query
    /// refused, a summary removed, a segment that cannot be read) is "map unavailable" with
    /// its reason, never the backup's failure: the page scan needs no map.
    private func buildMaps(_ session: Session, parent: BackupInfo, info: inout BackupInfo) throws -> [(source: String, map: ChangedBlockMap)] {
        guard let parentStart = parent.startLSN, let startLSN = info.startLSN else { return [] }
        var maps: [(source: String, map: ChangedBlockMap)] = []
        var reasons: [String] = []
        let sources: [(String, () throws -> ChangedBlockMap.Outcome)]
        do {
            sources = try changeSources(connection: session.connection, major: session.settings.versionNumber / 10000,
                                        parent: parent, from: parentStart, to: startLSN, timeline: info.timeline)
        } catch {
            sources = []
            reasons.append("map unavailable: \(error)")
        }
        for (name, build) in sources {
            let outcome: ChangedBlockMap.Outcome
            do { outcome = try build() } catch { outcome = .unavailable("map unavailable: \(error)") }
            switch outcome {
            case .map(let built):
                maps.append((name, built))
                Console.detail("\(name) map: \(parentStart) to \(startLSN) changed \(built.blockCount) block(s) (\(formatBytes(UInt64(built.memoryBytes))))")
            case .unavailable(let why):
                reasons.append(why)
                Console.info("no changed-block map from \(name == "summary" ? "WAL summaries" : "WAL") (\(why))")
            }
            // --verify-map checks every map that can be built; otherwise the first will do.
            if !maps.isEmpty && !options.verifyMap { break }
        }
        if maps.isEmpty { Console.info("no changed-block map: reading every page") }
        info.changeSource = options.verifyMap ? "scan" : maps.first?.source ?? "scan"
        info.changeSourceReason = options.verifyMap && !maps.isEmpty ? "--verify-map"
            : maps.isEmpty ? reasons.joined(separator: "; ") : nil
        try repository.saveBackup(info)
        return maps
    }

    /// --verify-map: every changed page the LSN scan stored must be in each map.
    private func verifyMaps(_ maps: [(source: String, map: ChangedBlockMap)], info: BackupInfo, parent: BackupInfo) throws {
        guard options.verifyMap, let parentStart = parent.startLSN, let startLSN = info.startLSN else { return }
        for (source, map) in maps {
            let parentEntries = try ParentEntries(repository: repository, info: parent)
            let checked = try MapVerifier(repository: repository, map: map, source: source, after: parentStart, upTo: startLSN)
                .verify(info, parent: parentEntries)
            try parentEntries.finish()
            Console.info("--verify-map: every one of the \(checked) changed page(s) the LSN scan stored is in the \(source) map")
        }
    }

    /// Where the changed-block map can come from, best first: the server's WAL summaries on
    /// the parent's own timeline (across a switch the WAL is read along the history), then the
    /// WAL itself.
    private func changeSources(connection: Connection, major: Int, parent: BackupInfo, from start: LSN, to end: LSN,
                               timeline: TimelineID) throws -> [(String, () throws -> ChangedBlockMap.Outcome)] {
        var sources: [(String, () throws -> ChangedBlockMap.Outcome)] = []
        if try WALSummaryReader.isEnabled(on: connection, major: major) {
            if parent.timeline == timeline {
                let reader = WALSummaryReader(connection: connection, waitSeconds: options.archiveTimeoutSeconds)
                sources.append(("summary", { try reader.read(from: start, to: end, timeline: timeline) }))
            } else {
                Console.detail("the parent is on timeline \(parent.timeline), this backup on \(timeline): WAL summaries are not used across the switch")
            }
        }
        let reader = WALChangeReader(repository: repository, catalog: try TimelineCatalog(repository: repository),
                                     pgWal: cluster.path + "/pg_wal", pageSize: Int(cluster.control.walBlockSize))
        sources.append(("wal", { try reader.read(from: start, to: end, along: timeline) }))
        return sources
    }

    /// A standby's backup starts at its latest restartpoint, which is made only at a
    /// checkpoint record it has replayed: without a fresh one it would start where an
    /// earlier backup did (an incremental could not build on that). So the primary takes a
    /// checkpoint, and the backup waits until the standby has replayed it.
    private func awaitRestartpointSource(primary: Connection, standby: Connection) throws {
        _ = try primary.query("CHECKPOINT")
        let checkpoint = try primary.query("SELECT checkpoint_lsn::text FROM pg_control_checkpoint()").single ?? "0/0"
        let replayed = try poll(forSeconds: Double(options.archiveTimeoutSeconds)) {
            try standby.query("SELECT (pg_last_wal_replay_lsn() >= $1::pg_lsn)::text", [checkpoint]).single == "true"
        }
        guard replayed else {
            throw EngineError.serverNotReady("the standby has not replayed the primary's checkpoint at \(checkpoint) after \(options.archiveTimeoutSeconds) s (--archive-timeout)")
        }
    }

    private func copyAndStop(connection: Connection, primary: Connection, info: inout BackupInfo,
                             parent: BackupInfo?, changes: ChangedBlockMap?) throws {
        var copier = BackupFileCopier(repository: repository, cluster: cluster, info: info, options: options, parentInfo: parent)
        copier.changes = changes
        let list = try repository.fileListWriter(info.id)
        defer { list.abandon() }
        let parentEntries = try parent.map { try ParentEntries(repository: repository, info: $0) }
        let copied = try copier.copyAll(DataDirectoryWalker(cluster: cluster), parentEntries: parentEntries, into: list, jobs: options.jobs)
        var totals = copied.outcome
        report(totals.pageErrors, into: &info)

        let stop = try connection.stopBackup()
        try FaultInjection.point("backup-after-stop")
        let label = try BackupLabel(text: stop.labelFile)
        guard let stopLSN = LSN(stop.stopLSN) else {
            throw EngineError.serverNotReady("pg_backup_stop returned an invalid LSN \(stop.stopLSN)")
        }
        guard label.startTimeline == info.timeline, label.startLSN == info.startLSN else {
            throw EngineError.serverNotReady("the backup label (start \(label.startLSN) on timeline \(label.startTimeline)) does not match what pg_backup_start reported (\(info.startLSN!) on timeline \(info.timeline))")
        }
        info.stopLSN = stopLSN
        info.startWALFile = label.startWALFile
        let stopSegment = WALSegmentName(timeline: label.startTimeline, endingAt: stopLSN,
                                         segmentSize: UInt64(cluster.control.walSegmentSize))
        info.stopWALFile = stopSegment.name

        // The label and map come from the server, never from the live data directory.
        for (name, text) in [("backup_label", stop.labelFile), ("tablespace_map", stop.tablespaceMapFile)] where !text.isEmpty {
            let entry = try copier.storeText(text, as: name)
            totals.writtenBytes += entry.storedSize
            try list.append(entry)
        }
        let point = try connection.recoveryPoint()
        info.recoveryXID = UInt64(point.xid)
        info.recoveryTime = point.time + "+00"

        if options.standby != nil {
            // A standby cannot switch WAL: the primary closes the segment the backup ends in,
            // so that its archiver stores it.
            _ = try primary.query("SELECT pg_switch_wal()")
        }
        try steps.waitForArchive(stopSegment, connection: primary)

        if options.withServerLog {
            let directory = try ServerLogCopier.directory(given: options.serverLogDirectory, connection: connection,
                                                          dataDirectory: cluster.path)
            let logs = try ServerLogCopier(repository: repository, backupID: info.id, compression: options.compression,
                                           level: options.compressLevel).copyAll(from: directory)
            Console.info("server log: \(logs.count) file(s) from \(directory), \(formatBytes(logs.reduce(0) { $0 + $1.size }))")
        }
        try steps.publish(&info, list: list, totals: totals, directories: copied.directories)
    }

}

public func formatBytes(_ bytes: UInt64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
    if unit == 0 { return "\(bytes) B" }
    let tenths = Int((value * 10).rounded())
    return "\(tenths / 10).\(tenths % 10) \(units[unit])"
}
