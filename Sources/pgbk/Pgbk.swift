import ArgumentParser
import CShims
import Engine
import ObjectStorage
import PostgresClient
import PostgresFormat
import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

@main
struct Pgbk: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pgbk",
        abstract: "Backup and point-in-time recovery manager for PostgreSQL.",
        version: "0.1.0",
        subcommands: [Init.self, Backup.self, ArchivePush.self, ArchiveGet.self, Validate.self, Show.self, Restore.self,
                      Expire.self, Delete.self, Purge.self, Copy.self, Check.self, Drill.self, Report.self, ReceiveWAL.self, Cron.self, Rekey.self, Annotate.self, Pin.self, Unpin.self, Merge.self, UpgradeRepository.self],
        helpNames: [.long])

    /// Errors reach the user as one line on stderr and a non-zero exit code; usage errors keep
    /// ArgumentParser's help output.
    static func main() {
        // glibc raises its mmap threshold after each large free, after which the multi-MB
        // buffers of a command (file lists, manifests) come from the heap and stay in the
        // process when freed; a fixed threshold gives them back, so peak RSS follows what
        // is alive (issue 16: 100,000 files under 64 MB).
        pgbk_fix_mmap_threshold(256 << 10)
        let command: ParsableCommand
        do {
            command = try parseAsRoot(Array(CommandLine.arguments.dropFirst()))
        } catch {
            // Help and version requests print as ArgumentParser prints them; a usage error
            // (an unknown option, a value that is not one of the choices) is one line.
            if exitCode(for: error) == .success { exit(withError: error) }
            let text = message(for: error).split(whereSeparator: \.isNewline).joined(separator: " ")
            Console.error(text + " (see pgbk --help)")
            Glibc.exit(1)
        }
        do {
            var command = command
            try command.run()
        } catch let code as ExitCode {
            Glibc.exit(code.rawValue)
        } catch where String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") {
            // Help and usage requests (`pgbk`, `pgbk --help`) belong to ArgumentParser.
            exit(withError: error)
        } catch {
            Console.error(describe(error))
            Glibc.exit(1)
        }
    }
}

func describe(_ event: WALEvent) -> String {
    switch event {
    case .transactionEnd(let lsn, let xid, let commit, let time):
        return "the \(commit ? "commit" : "abort") of xid \(xid) at \(formatMicros(time)) (LSN \(lsn))"
    case .restorePoint(let lsn, let name, let time):
        return "restore point \"\(name)\" made at \(formatMicros(time)) (LSN \(lsn))"
    }
}

/// Where PostgreSQL stops relative to the event the planner found: after an xid's end when
/// the target is inclusive (the default), before it when not; before the first transaction
/// past a time, whatever inclusive says (that event is past the target); at a restore point.
func stopPlace(for target: RecoveryTarget) -> String {
    switch target.point {
    case .xid: return target.inclusive == false ? "just before" : "just after"
    case .time: return "just before"
    default: return "at"
    }
}

func describe(_ error: Error) -> String {
    oneLineDescription(error)
}

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a repository for the cluster in PGDATA, or for the server a connection names.",
        discussion: "With a data directory (-D or $PGDATA) the repository is for that cluster, read from disk. With none, pgbk connects to the server (-h -p -U -d, libpq's environment) and reads the cluster's identity from it: a backup host that cannot read the data directory, which then takes its backups over the replication protocol and receives WAL with receive-wal.",
        helpNames: [.long])

    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var connection: ConnectionOptions
    @Option(name: [.customShort("D", allowingJoined: true), .customLong("pgdata")], help: "Data directory of the cluster (default: $PGDATA; with none, the server the connection names).")
    var pgdata: String?
    @Option(name: .customLong("compress"), help: "Default compression for backups and WAL: none, zlib, zstd or lz4.")
    var compress: Compression?
    @Flag(name: .customLong("encrypt"), help: "Encrypt the repository with the passphrase CIPHER_PASS_FILE or CIPHER_PASS_COMMAND names in the local configuration (a repository with one configured is encrypted even without this flag).")
    var encrypt = false
    @OptionGroup var kdf: KDFCostOption

    func run() throws {
        // Every configured repository (or the one --repo names), each checked before any is made.
        let targets = try repository.chosenPaths()
        let passphrases = try targets.map { try repository.passphrase(for: $0.path) }
        if encrypt, let missing = passphrases.firstIndex(where: { $0 == nil }) {
            throw EngineError.invalidArgument("--encrypt: no passphrase is configured for \(RepositoryLabel.label(targets[missing].number, targets[missing].path)): set CIPHER_PASS_FILE or CIPHER_PASS_COMMAND\(targets[missing].number > 1 ? "_\(targets[missing].number)" : "") in the local configuration")
        }
        let source: InitOperation.Source
        if let pgdata = pgdata ?? environment("PGDATA") {
            for (_, path) in targets where !S3Settings.isS3URL(path) { try InitOperation.checkOwner(pgdata: pgdata, backupPath: path) }
            source = .dataDirectory(pgdata)
        } else {
            let server = try Connection(connection.parameters(config: RepositoryConfig(values: [:])))
            source = .server(try RemoteCluster(connection: server, name: "the server"))
        }
        for ((number, path), passphrase) in zip(targets, passphrases) {
            let repo = try InitOperation.run(storage: { try repository.rawStorage(creating: true, path: path) }, source: source,
                                             compression: compress, passphrase: passphrase, kdfCost: try kdf.resolved())
            let name = targets.count > 1 || number > 1 ? RepositoryLabel.label(number, repo.path) : repo.path
            Console.info("\(passphrase == nil ? "repository" : "encrypted repository") created in \(name) for system identifier \(repo.identity.systemIdentifier) (PostgreSQL \(repo.identity.pgMajorVersion))")
        }
        let config = repository.configArguments.map { " " + $0 }.joined()
        // --server names the repositories itself (and is not taken with -B).
        let paths = repository.server != nil ? "" : try repository.resolvedPaths().map { " -B " + $0 }.joined()
        if case .server = source {
            Console.info("back up with pgbk backup --method protocol\(config)\(paths), and receive WAL with pgbk receive-wal\(config)\(paths)")
            return
        }
        // archive_command runs without this shell's $BACKUP_PATH: name each repository.
        Console.info("set archive_command = '\(selfExecutablePath()) archive-push\(config)\(paths) %p' in postgresql.conf")
    }
}

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check backups against their checksums and the archive; DONE becomes OK or CORRUPT.", helpNames: [.long])

    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var recoveryTarget: RecoveryTargetOptions
    @OptionGroup var lock: LockOptions
    @OptionGroup var progress: ProgressOptions
    @OptionGroup var parallel: JobsOptions
    @Flag(name: .customLong("recheck"), help: "Also read back OK and CORRUPT backups, not only DONE ones (for a weekly cron job).")
    var recheck = false
    @Option(name: .customLong("recheck-days"), parsing: .unconditional,
            help: "Also read back OK and CORRUPT backups last read back N or more days ago.")
    var recheckDays: Int?
    @Argument(help: "A backup ID, or latest, latest-full or oldest (default: every DONE backup, then the whole WAL archive).") var backupID: String?

    func run() throws {
        progress.apply()
        if !recoveryTarget.isEmpty {
            // Only answers whether a restore to that target would work; changes nothing.
            let target = try recoveryTarget.target()
            let jobs = try parallel.resolved() ?? WorkerPool.defaultJobs
            let plan = try RepositoryChoice.first(repository, reaching: target) { repo, _ in
                try RecoveryPlanner(repository: repo, target: target, jobs: jobs).plan(backupID: backupID)
            }.value
            var line = "recovery to \(target.description) on timeline \(plan.timeline) is possible from backup \(plan.backup.id)"
            if plan.chain.count > 1 { line += " (chain of \(plan.chain.count))" }
            line += ": WAL \(plan.firstSegment) to \(plan.lastSegment) is archived and intact"
            if let event = plan.stopEvent { line += "; recovery stops \(stopPlace(for: target)) \(describe(event))" }
            Console.output(line)
            return
        }
        let repo = try repository.openForWriting()
        let scope: ValidateOperation.Scope
        switch (recheck, recheckDays) {
        case (_, let days?):
            guard days >= 0 else { throw EngineError.invalidArgument("--recheck-days must be 0 or more, not \(days)") }
            scope = .recheckOlderThan(days: days)
        case (true, nil): scope = .recheck
        case (false, nil): scope = .pending
        }
        if backupID != nil && scope != .pending {
            throw EngineError.invalidArgument("--recheck and --recheck-days apply to validate without a backup ID (a named backup is always read back)")
        }
        let operation = ValidateOperation(repository: repo, lockTimeoutSeconds: try lock.seconds(repo.config),
                                          jobs: try parallel.resolved() ?? WorkerPool.defaultJobs,
                                          otherCopies: try repository.otherCopies(besides: repo))
        let report = try operation.run(backupID: backupID, scope: scope)
        for o in report.outcomes { Console.info("backup \(o.id): \(o.status.rawValue)") }
        if report.outcomes.isEmpty { Console.info("no backup to validate") }
        if backupID == nil {
            Console.info("archived WAL: \(report.archivedFilesChecked) file(s) read, \(report.archiveProblems.isEmpty ? "all intact" : "\(report.archiveProblems.count) problem(s)")")
        }
        if report.failed > 0 { throw EngineError.validationFailed(report.failed) }
    }
}

enum ArchiveModeOption: String, ExpressibleByArgument, CaseIterable {
    case off, preserve
}

struct Restore: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Restore a backup into an empty directory (or, with --delta, over the cluster's own), set up to recover from the archive.", helpNames: [.long])

    @OptionGroup var repository: RepositoryOptions
    @Option(name: [.customShort("D", allowingJoined: true), .customLong("pgdata")], help: "Directory to restore into (empty or absent, or with --delta a data directory of the same cluster).")
    var pgdata: String?
    @Option(name: .customLong("backup-id"), help: "The backup to restore, full or incremental (with its chain), by ID or as latest, latest-full or oldest (default: the newest OK backup, full or incremental, from which the recovery target is reachable).")
    var backupID: String?
    @Option(name: [.customShort("T", allowingJoined: true), .customLong("tablespace-mapping")], help: "OLDDIR=NEWDIR: restore a tablespace elsewhere.")
    var tablespaceMapping: [String] = []
    @OptionGroup var recoveryTarget: RecoveryTargetOptions
    @Flag(name: .customLong("as-standby"), help: "Restore a standby: standby.signal, so that it follows the primary (streaming and restore_command) instead of ending recovery.")
    var asStandby = false
    @Option(name: .customLong("primary-conninfo"), help: "With --as-standby: the primary to stream from, as libpq's connection string (a password belongs in ~/.pgpass).")
    var primaryConninfo: String?
    @Option(name: .customLong("archive-mode"), help: "off (the default, except with --as-standby): the restored copy never archives into this repository; preserve: keep the backup's archiving, for the copy that becomes the new production (pgBackRest's --archive-mode).")
    var archiveMode: ArchiveModeOption?
    @Flag(name: .customLong("delta"), help: "Restore over a stopped data directory of the same cluster (an old primary, a lagging standby): keep what matches the backup, rewrite what differs, remove what it does not have.")
    var delta = false
    @Option(name: .customLong("max-rate"), help: "The most restored per second, all workers together, as pg_basebackup's --max-rate (32k to 1024M; k by default).")
    var maxRate: String?
    @Option(name: .customLong("db-include"), help: "Restore this database (a name, or an OID) exactly and the other user databases as empty files, to be dropped (pgBackRest's selective restore; repeatable). postgres and the template databases are always restored.")
    var dbInclude: [String] = []
    @Option(name: .customLong("db-exclude"), help: "Restore this database (a name, or an OID) as empty files, to be dropped; the others exactly (repeatable).")
    var dbExclude: [String] = []
    @OptionGroup var lock: LockOptions
    @OptionGroup var progress: ProgressOptions
    @OptionGroup var parallel: JobsOptions

    /// Options that only make sense together, checked before anything runs.
    func validate() throws {
        if asStandby && !(dbInclude.isEmpty && dbExclude.isEmpty) {
            throw ValidationError("--as-standby restores every database: a standby follows the whole cluster, so it takes no --db-include or --db-exclude")
        }
        if primaryConninfo != nil && !asStandby {
            throw ValidationError("--primary-conninfo is for a standby: add --as-standby")
        }
        if try asStandby && recoveryTarget.target() != RecoveryTarget() {
            throw ValidationError("--as-standby follows the primary, so it takes no --recovery-target-* option")
        }
    }

    func run() throws {
        progress.apply()
        let target = try recoveryTarget.target()
        if let primaryConninfo, PrimaryConninfo.hasPassword(primaryConninfo) {
            Console.warning("the --primary-conninfo password is written into the restored postgresql.auto.conf only (never the repository); ~/.pgpass of the server's user keeps it out of the data directory")
        }
        guard let directory = pgdata ?? environment("PGDATA") else {
            throw EngineError.invalidArgument("no restore target given: use -D/--pgdata or set PGDATA")
        }
        let chosen = try RepositoryChoice.first(repository, reaching: target) { repo, others -> (RestoreOperation, RestoreOperation.Prepared) in
            var options = try options(directory, target: target, config: repo.config)
            options.fallbackRepositories = others
            options.otherCopies = try repository.otherCopies(besides: repo)
            let operation = try RestoreOperation.of(repository: repo, options: options)
            return (operation, try operation.prepare())
        }
        _ = try chosen.value.0.execute(chosen.value.1)
    }

    /// The restore's options for one repository (its pgbk.ini gives the lock timeout).
    private func options(_ directory: String, target: RecoveryTarget, config: RepositoryConfig) throws -> RestoreOptions {
        var options = RestoreOptions(target: directory, pgbkExecutable: selfExecutablePath())
        options.pgbkArguments = repository.configArguments
        options.argumentsNameRepositories = repository.server != nil
        options.pgbkEnvironment = ServerConfiguration.restoreCommandEnvironment(repository.server)
        options.backupID = backupID
        options.recoveryTarget = target
        options.asStandby = asStandby
        options.primaryConninfo = primaryConninfo
        options.delta = delta
        options.archiveOff = (archiveMode ?? (asStandby ? .preserve : .off)) == .off
        options.lockTimeoutSeconds = try lock.seconds(config)
        if let jobs = try parallel.resolved() { options.jobs = jobs }
        options.maxRateBytesPerSecond = try maxRate.map { UInt64(try parseMaxRate($0)) * 1024 }
        options.databases = DatabaseSelection(include: dbInclude, exclude: dbExclude)
        for mapping in tablespaceMapping {
            let parts = mapping.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, parts[0].hasPrefix("/"), parts[1].hasPrefix("/") else {
                throw EngineError.invalidArgument("--tablespace-mapping must be OLDDIR=NEWDIR with absolute paths, not \(mapping)")
            }
            options.tablespaceMapping[FileSystem.absolute(String(parts[0]))] = FileSystem.absolute(String(parts[1]))
        }
        return options
    }
}

struct Expire: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Expire backups and archived WAL beyond the retention policy.", helpNames: [.long])

    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var retention: RetentionOptions
    @OptionGroup var lock: LockOptions
    @Flag(name: .customLong("dry-run"), help: "Print what would go; change nothing.") var dryRun = false
    @Flag(name: .customLong("merge"), help: "Incremental forever: when the oldest backup the policy keeps is an incremental, merge it into a full first (pgbk merge), so that its ancestors go.")
    var merge = false
    @OptionGroup var parallel: JobsOptions

    func run() throws {
        let repo = try repository.openForWriting()
        let policy = try retention.policy(repo.config)
        if merge && policy == nil { throw EngineError.invalidArgument("--merge needs a retention policy (--keep-data-days or --keep-data-generations, or pgbk.ini)") }
        let serverLog = try retention.serverLog(repo.config)
        guard policy != nil || serverLog.files != nil || serverLog.days != nil else {
            throw EngineError.invalidArgument("no retention policy: give --keep-data-generations and/or --keep-data-days (or --keep-srvlog-files/-days), or set them in pgbk.ini")
        }
        if let policy {
            let jobs = merge ? try parallel.resolved() ?? WorkerPool.defaultJobs : nil
            let report = try ExpireOperation(repository: repo, dryRun: dryRun, lockTimeoutSeconds: try lock.seconds(repo.config), mergeJobs: jobs)
                .run(.policy(policy), wal: try retention.wal(repo.config))
            printReport(report, dryRun: dryRun)
            if !dryRun { ObjectLockNote.say(repo, removed: ObjectLockNote.removed(backups: report.expired + report.purged, wal: report.walRemoved.count)) }
        }
        if serverLog.files != nil || serverLog.days != nil {
            let gone = try ServerLogExpiry(repository: repo, dryRun: dryRun, lockTimeoutSeconds: try lock.seconds(repo.config))
                .run(keepFiles: serverLog.files, keepDays: serverLog.days)
            Console.info("server log copies \(dryRun ? "that would be removed" : "removed"): \(gone.isEmpty ? "none" : gone.joined(separator: ", "))")
        }
    }
}

struct Delete: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete backups older than DATE, keeping what restores to DATE (pg_rman semantics).", helpNames: [.long])

    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var lock: LockOptions
    @Flag(name: [.customShort("f"), .customLong("force")], help: "Also delete the backup needed to restore to DATE.") var force = false
    @Flag(name: .customLong("dry-run"), help: "Print what would go; change nothing.") var dryRun = false
    @Argument(parsing: .allUnrecognized, help: "YYYY-MM-DD [HH:MM:SS] [ZONE] (UTC unless a zone such as +02, -05 or UTC is given).") var date: [String]

    func run() throws {
        let repo = try repository.openForWriting()
        let text = date.joined(separator: " ")
        guard let micros = parseDeleteDate(text) else {
            throw EngineError.invalidArgument("delete needs a date like 2026-11-01 or '2026-11-01 12:00:00' (UTC unless a zone such as +02, -05:00 or UTC follows), not \(text)")
        }
        let report = try ExpireOperation(repository: repo, dryRun: dryRun, command: "delete", lockTimeoutSeconds: try lock.seconds(repo.config))
            .run(.before(Timestamp(seconds: micros / 1_000_000), force: force), wal: WALRetention())
        printReport(report, dryRun: dryRun, command: "delete")
        if !dryRun { ObjectLockNote.say(repo, removed: ObjectLockNote.removed(backups: report.expired + report.purged, wal: report.walRemoved.count)) }
    }
}

struct Purge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove what is left of DELETED backups.", helpNames: [.long])

    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var lock: LockOptions
    @Flag(name: .customLong("dry-run"), help: "Print what would go; change nothing.") var dryRun = false

    func run() throws {
        let repo = try repository.openForWriting()
        let purged = try ExpireOperation(repository: repo, dryRun: dryRun, command: "purge", lockTimeoutSeconds: try lock.seconds(repo.config))
            .purge()
        if dryRun { for item in purged { Console.output("would purge \(item.id): \(item.reason)") } }
        if purged.isEmpty { Console.info("nothing to purge") }
        if !dryRun { ObjectLockNote.say(repo, removed: ObjectLockNote.removed(backups: purged.map(\.id), wal: 0)) }
    }
}

func printReport(_ report: ExpireReport, dryRun: Bool, command: String = "expire") {
    let verb = dryRun ? "would \(command)" : command + "d"
    for id in report.expired { Console.output("\(verb) backup \(id)") }
    if let first = report.walRemoved.first, let last = report.walRemoved.last {
        Console.output("\(dryRun ? "would remove" : "removed") \(report.walRemoved.count) archived WAL file(s), \(first) to \(last)")
    }
    if report.expired.isEmpty && report.walRemoved.isEmpty { Console.info("nothing to \(command); kept \(report.kept.count) backup(s)") }
}

/// libpq connection strings: key=value words, or a postgresql:// URI. Used only to warn, so
/// a value that merely contains "password=" erring towards a warning is fine.
enum PrimaryConninfo {
    static func hasPassword(_ conninfo: String) -> Bool {
        let squeezed = String(conninfo.lowercased().filter { !$0.isWhitespace })
        if squeezed.contains("password=") { return true }
        guard squeezed.hasPrefix("postgresql://") || squeezed.hasPrefix("postgres://") else { return false }
        let authority = squeezed.drop { $0 != "/" }.dropFirst(2).prefix { $0 != "/" && $0 != "?" }
        return authority.contains("@") && authority.prefix { $0 != "@" }.contains(":")
    }
}
