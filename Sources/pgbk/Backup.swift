import ArgumentParser
import CShims
import Engine
import ObjectStorage
import PostgresClient
import PostgresFormat
import Repository

struct Backup: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Take an online backup.",
        discussion: "Exit status: 0 when the backup is DONE (pgbk validate makes it OK); 1 when it failed (nothing of it is marked usable); 3 when it completed but pages of the cluster failed checksum verification as they were read (pgbk show ID lists them: check the disk and run pg_amcheck).",
        helpNames: [.long])

    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var compression: CompressionOptions
    @Option(name: [.customShort("D", allowingJoined: true), .customLong("pgdata")], help: "Data directory (default: $PGDATA, then PGDATA in pgbk.ini), for --method copy.")
    var pgdata: String?
    @Option(name: .customLong("method"), help: "copy (read the data directory, on the database host) or protocol (BASE_BACKUP over a replication connection, from any host); default: BACKUP_METHOD in pgbk.ini, else copy when a data directory is known, protocol when none is.")
    var method: BackupMethodArgument?
    @Option(name: [.customShort("r", allowingJoined: true), .customLong("max-rate")], help: "The most read per second, as pg_basebackup's (32k to 1024M; k by default): over the protocol the server's MAX_RATE, from a data directory all workers together.")
    var maxRate: String?
    @Option(name: [.customShort("b", allowingJoined: true), .customLong("backup-mode")], help: "full, incremental or diff (f, i, d): an incremental builds on the newest OK backup, a diff on the newest OK full.")
    var mode: BackupModeArgument = .full
    @Flag(name: [.customShort("C"), .customLong("smooth-checkpoint")], help: "Spread the starting checkpoint instead of forcing a fast one.")
    var smoothCheckpoint = false
    @Flag(name: [.customShort("F"), .customLong("full-backup-on-error")], help: "Take a full backup when an incremental has no usable parent.")
    var fullOnError = false
    @Option(name: .customLong("archive-timeout"), parsing: .unconditional, help: "Seconds to wait for the last WAL segment to be archived (default 600).")
    var archiveTimeout: Int?
    @Option(name: .customLong("standby-host"), help: "Back up from this streaming standby (host or socket directory), whose data directory is -D; -h/-p then name the primary.")
    var standbyHost: String?
    @Option(name: .customLong("standby-port"), help: "The standby's port (with --standby-host).")
    var standbyPort: String?
    @Flag(name: .customLong("verify-map"), help: "For an incremental: also build every changed-block map it can (WAL summaries, WAL), and fail naming the relation and block if the page scan finds a change it lacks.")
    var verifyMap = false
    @Flag(name: [.customShort("s"), .customLong("with-serverlog")], help: "Also copy the server's log files into the backup (kept by --keep-srvlog-files/-days).")
    var withServerLog = false
    @Option(name: [.customShort("S", allowingJoined: true), .customLong("srvlog-path")], help: "The server's log directory (default: SRVLOG_PATH in pgbk.ini, else the server's log_directory).")
    var srvlogPath: String?
    @Option(name: .customLong("max-standby-lag"), help: "Refuse a standby further behind the primary than this much WAL, with K, M or G (default 1G).")
    var maxStandbyLag: String?
    @Option(name: .customLong("parent"), help: "With -b incremental: build on this OK backup (an ID, or latest, latest-full, oldest) instead of the newest.")
    var parent: String?
    @Option(name: .customLong("annotation"), help: "KEY=VALUE: a note kept with the backup, shown by show and the report (repeatable; pgbk annotate changes them later).")
    var annotation: [String] = []
    @OptionGroup var lock: LockOptions
    @OptionGroup var retention: RetentionOptions
    @OptionGroup var progress: ProgressOptions
    @OptionGroup var parallel: JobsOptions

    func run() throws {
        progress.apply()
        let annotations = try annotation.map(BackupAnnotation.init(argument:))
        var parentRule: ParentSelector.Rule = mode == .diff ? .newestFull : .newest
        if let parent {
            guard mode == .incremental else { throw EngineError.invalidArgument("--parent is for -b incremental (a diff's parent is always the newest full), not -b \(mode.rawValue)") }
            do { _ = try BackupReference(parent) } catch { throw EngineError.invalidArgument("--parent: \(error)") }
            parentRule = .named(parent)
        }
        let repo = try repository.openForWriting()
        let dataDirectory = pgdata ?? environment("PGDATA") ?? repo.config["PGDATA"]
        let chosen = try chooseMethod(config: repo.config, dataDirectory: dataDirectory)
        var options = BackupOptions()
        options.annotations = annotations
        options.mode = mode.mode
        options.parent = parentRule
        options.smoothCheckpoint = smoothCheckpoint
        options.fullOnError = fullOnError
        (options.compression, options.compressLevel) = try compression.resolve(repo.config)
        options.archiveTimeoutSeconds = archiveTimeout ?? repo.config["ARCHIVE_TIMEOUT"].flatMap { Int($0) } ?? 600
        guard options.archiveTimeoutSeconds > 0 else { throw EngineError.invalidArgument("--archive-timeout must be a positive number of seconds, not \(options.archiveTimeoutSeconds)") }
        // With --standby-host, -D is the standby's: its postmaster.pid says nothing of the primary.
        options.connection = connection.parameters(config: repo.config, pgdata: standbyHost == nil ? dataDirectory : nil)
        if standbyPort != nil && standbyHost == nil {
            throw EngineError.invalidArgument("--standby-port needs --standby-host")
        }
        if let standbyHost {
            var standby = options.connection
            standby.host = standbyHost
            standby.port = standbyPort ?? options.connection.port
            options.standby = standby
        }
        if let maxStandbyLag {
            guard let bytes = ByteSize.parse(maxStandbyLag).flatMap(UInt64.init(exactly:)) else {
                throw EngineError.invalidArgument("--max-standby-lag must be a size such as 1G, not \(maxStandbyLag)")
            }
            options.maxStandbyLagBytes = bytes
        }
        options.lockTimeoutSeconds = try lock.seconds(repo.config)
        options.retention = try retention.policy(repo.config)
        options.walRetention = try retention.wal(repo.config)
        options.withServerLog = withServerLog
        options.verifyMap = verifyMap
        options.serverLogDirectory = srvlogPath ?? repo.config["SRVLOG_PATH"]
        if srvlogPath != nil && !withServerLog { throw EngineError.invalidArgument("-S/--srvlog-path is for -s/--with-serverlog") }
        if let jobs = try parallel.resolved() { options.jobs = jobs }
        options.maxRateKBps = try maxRate.map(parseMaxRate)
        options.maxRateBytesPerSecond = options.maxRateKBps.map { UInt64($0) * 1024 }
        let info: BackupInfo
        switch chosen {
        case .copy(let pgdata):
            info = try BackupOperation(repository: repo, cluster: try DataDirectory(pgdata), options: options).run()
        case .protocol:
            info = try RemoteBackupOperation(repository: repo, options: options).run()
        }
        if info.pageErrorCount > 0 {
            Console.error("backup \(info.id) completed, but \(info.pageErrorCount) page(s) failed verification (see pgbk show \(info.id)); the cluster has corrupt pages")
            throw ExitCode(Self.pageErrorExitCode)
        }
    }

    /// Distinct from 1 (failure) so that cron notices a backup that worked on a damaged cluster.
    static let pageErrorExitCode: Int32 = 3

    enum Chosen { case copy(String), `protocol` }

    /// --method, else BACKUP_METHOD in pgbk.ini, else copy when a data directory is known
    /// and protocol when none is; options that only one method has are refused with the other.
    func chooseMethod(config: RepositoryConfig, dataDirectory: String?) throws -> Chosen {
        let configured = try config["BACKUP_METHOD"].map {
            guard let m = BackupMethodArgument(argument: $0) else {
                throw EngineError.invalidArgument("BACKUP_METHOD in pgbk.ini is \($0), not copy or protocol")
            }
            return m
        }
        switch method ?? configured ?? (dataDirectory == nil ? .protocol : .copy) {
        case .copy:
            guard let dataDirectory else {
                throw EngineError.invalidArgument("no data directory given: use -D/--pgdata, set PGDATA, or put PGDATA in pgbk.ini (or back up over the replication protocol: --method protocol)")
            }
            return .copy(dataDirectory)
        case .protocol:
            if pgdata != nil { throw EngineError.invalidArgument("-D/--pgdata is for --method copy: over the protocol the server sends its files") }
            if withServerLog { throw EngineError.invalidArgument("-s/--with-serverlog reads the server's log directory, which --method protocol cannot") }
            if verifyMap { throw EngineError.invalidArgument("--verify-map is for --method copy") }
            return .protocol
        }
    }
}
