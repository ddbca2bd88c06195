import PostgresClient
import PostgresFormat
import Repository


/// A backup over the replication protocol, from a host that cannot read the data directory
/// (Barman's `backup_method = postgres`): BASE_BACKUP on a `replication=true` connection,
/// its archives unpacked as they arrive into the same stored files and catalog a local backup
/// makes (ReceivedFileStore), then the wait for the stop LSN's WAL (from receive-wal or
/// archive_command) and DONE. Until then the backup is RUNNING (or ERROR), never restored.
///
/// An incremental receives every file (before PostgreSQL 17's INCREMENTAL option the server
/// cannot send less) but stores only the pages whose LSN is at or after the parent's start.
public struct RemoteBackupOperation {
    let repository: Repository
    let options: BackupOptions
    private var steps: BackupSteps { BackupSteps(repository: repository, options: options) }

    public init(repository: Repository, options: BackupOptions) {
        self.repository = repository
        self.options = options
    }

    /// `primary` archives (and, for a standby's backup, switches WAL at the end); the backup
    /// runs on `source`'s replication connection.
    struct Session {
        let primary: Connection
        let source: Connection
        var replication: Connection
        let replicationParameters: ConnectionParameters
        let cluster: RemoteCluster
        let label: String
        /// Where the server was when the session began (IDENTIFY_SYSTEM): the parent is chosen
        /// for it, before BASE_BACKUP, which an incremental must follow its manifest.
        let timeline: TimelineID
        let position: LSN
    }

    public func run() throws -> BackupInfo {
        let lock = try RepositoryLock(repository: repository, command: "backup", timeoutSeconds: options.lockTimeoutSeconds)
        defer { lock.release() }
        let catalog = try steps.loadCatalog()
        var session = try openSession()
        let parent = try steps.chooseParent(catalog, timeline: session.timeline, startLSN: session.position,
                                            pgMajor: session.cluster.major.number)
        var parentFiles: BackupFileCopier.ParentFiles?
        var scanReason: String?
        if let parent {
            let files = try repository.loadFileList(parent)
            scanReason = ServerIncremental.offer(parent: parent, files: files, cluster: session.cluster, sql: session.source,
                                                 replication: session.replication)
            parentFiles = BackupFileCopier.ParentFiles(info: parent, files: FileLookup(files))
        }
        let stream = try startStream(&session, incremental: parent != nil && scanReason == nil, scanReason: &scanReason)
        var info = try begin(stream, session: session, parent: parent, scanReason: scanReason)
        try steps.whileRunning(&info, how: " over the replication protocol") { info in
            try receiveAndFinish(stream, session: session, info: &info, parent: parentFiles)
        }
        try steps.applyRetention()
        return info
    }

    /// The connections, checked: first a replication connection the server accepts (a role
    /// without REPLICATION fails here, naming it), then the repository's cluster, a primary
    /// (or, with --standby-host, a standby of it), and WAL that reaches the repository.
    private func openSession() throws -> Session {
        let sourceParameters = options.standby ?? options.connection
        var replicationParameters = sourceParameters
        replicationParameters.replication = true
        let replication = try Connection(replicationParameters)
        let identity = try replication.command("IDENTIFY_SYSTEM")
        let identified = UInt64(identity.value(0, "systemid") ?? "") ?? 0
        guard identified == repository.identity.systemIdentifier else {
            throw EngineError.clusterMismatch(what: "the server pgbk connected to", found: identified,
                                              expected: repository.identity.systemIdentifier, repository: repository.path)
        }
        let primary = try Connection(options.connection)
        let settings = try primary.serverSettings()
        var source = primary
        var label = "pgbk backup over the replication protocol"
        if let standby = options.standby {
            source = try Connection(standby)
            try BackupChecks.standby(try source.serverSettings(), primary: settings, standbyConnection: source, primaryConnection: primary,
                                     cluster: nil, repository: repository, maxLagBytes: options.maxStandbyLagBytes)
            label += " from standby \(standby.host ?? "local"):\(standby.port ?? "default")"
        } else {
            try BackupChecks.server(settings, cluster: nil, repository: repository, connection: primary)
        }
        let cluster = try RemoteCluster(connection: source, name: "the server")
        guard cluster.systemIdentifier == identified else {
            throw EngineError.clusterMismatch(what: "the server of the SQL connection", found: cluster.systemIdentifier,
                                              expected: identified, repository: repository.path)
        }
        guard let timeline = TimelineID(identity.value(0, "timeline") ?? ""), let position = LSN(identity.value(0, "xlogpos") ?? "") else {
            throw EngineError.serverNotReady("IDENTIFY_SYSTEM did not return the server's timeline and position")
        }
        return Session(primary: primary, source: source, replication: replication, replicationParameters: replicationParameters,
                       cluster: cluster, label: label, timeline: timeline, position: position)
    }

    /// BASE_BACKUP, incremental when the server took the parent's manifest; a server that
    /// then cannot send an incremental (its WAL summaries do not reach back to the parent)
    /// sends every file instead, on a new connection, and `scanReason` says why.
    private func startStream(_ session: inout Session, incremental: Bool, scanReason: inout String?) throws -> BaseBackupStream {
        var streamOptions = BaseBackupStream.Options(label: session.label)
        streamOptions.fastCheckpoint = !options.smoothCheckpoint
        streamOptions.maxRateKBps = options.maxRateKBps
        streamOptions.incremental = incremental
        do {
            return try BaseBackupStream(on: session.replication, options: streamOptions)
        } catch let error as PostgresError where incremental && error.sqlState != nil {
            scanReason = "the server could not send an incremental: \(error)"
            Console.info("\(scanReason!); receiving every file")
            session.replication = try Connection(session.replicationParameters)
            streamOptions.incremental = false
            return try BaseBackupStream(on: session.replication, options: streamOptions)
        }
    }

    /// The backup's directory with its record (not yet saved), once BASE_BACKUP's checkpoint
    /// has given the start position.
    private func begin(_ stream: BaseBackupStream, session: Session, parent: BackupInfo?, scanReason: String?) throws -> BackupInfo {
        let cluster = session.cluster
        guard stream.timeline == session.timeline else {
            throw EngineError.serverNotReady("the server moved from timeline \(session.timeline) to \(stream.timeline) as the backup began; run it again")
        }
        var info = try steps.newRecord(parent: parent, label: session.label, timeline: stream.timeline, start: stream.start, cluster: .init(
            systemIdentifier: cluster.systemIdentifier, versionNumber: cluster.versionNumber, blockSize: cluster.blockSize,
            walBlockSize: cluster.walBlockSize, walSegmentSize: cluster.walSegmentSize, dataChecksums: cluster.dataChecksums))
        info.method = .protocol
        info.databases = try BackupSteps.databases(session.primary)
        if parent != nil {
            info.changeSource = scanReason == nil ? "summary" : "scan"
            info.changeSourceReason = scanReason.map { $0 + "; every page received and its LSN compared" }
        }
        return info
    }

    private func receiveAndFinish(_ stream: BaseBackupStream, session: Session, info: inout BackupInfo,
                                  parent: BackupFileCopier.ParentFiles?) throws {
        let archives = BaseBackupArchives(stream)
        var receiver = ArchiveReceiver(repository: repository, info: info, cluster: session.cluster, parent: parent,
                                       totalBytes: stream.tablespaces.reduce(0) { $0 + UInt64(max(0, $1.sizeKB ?? 0)) * 1024 })
        let (entries, totals, directories) = try receiver.receiveAll(archives)
        if let problem = CatalogPath.problem(in: entries) {
            throw EngineError.serverNotReady("BASE_BACKUP sent what pgbk will not store: \(problem)")
        }
        report(totals.pageErrors, into: &info)
        guard let stop = archives.stop else { throw EngineError.serverNotReady("BASE_BACKUP ended without its stop position") }
        try FaultInjection.point("backup-after-stop")
        info.networkBytes = archives.archiveBytes
        let label = try receiver.checkedLabel(start: info.startLSN!, timeline: info.timeline)
        info.stopLSN = stop.lsn
        info.startWALFile = label.startWALFile
        let stopSegment = WALSegmentName(timeline: stop.timeline, endingAt: stop.lsn, segmentSize: UInt64(session.cluster.walSegmentSize))
        info.stopWALFile = stopSegment.name
        let point = try session.primary.recoveryPoint()
        info.recoveryXID = UInt64(point.xid)
        info.recoveryTime = point.time + "+00"
        if options.standby != nil {
            // A standby cannot switch WAL: the primary closes the segment the backup ends in.
            _ = try session.primary.query("SELECT pg_switch_wal()")
        }
        try steps.waitForArchive(stopSegment, connection: session.primary)
        let list = try repository.fileListWriter(info.id)
        for entry in entries { try list.append(entry) }
        try steps.publish(&info, list: list, totals: totals, directories: directories)
        Console.info("backup \(info.id): \(formatBytes(info.networkBytes ?? 0)) received over the network")
    }
}
