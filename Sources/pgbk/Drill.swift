import ArgumentParser
import Engine
import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `pgbk drill`: the restore drill as one cron line.
struct Drill: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Prove a backup restores: restore it into a scratch directory, start PostgreSQL there, wait for recovery, check, record the result, remove it.",
        discussion: "Run it as the PostgreSQL OS user. The result (restore and recovery seconds, the point recovered to, pg_amcheck, the SQL check) is recorded in the repository: pgbk show drills lists it, pgbk check reports the age of the last good one.",
        helpNames: [.long])

    @OptionGroup var repository: RepositoryOptions
    @Option(name: .customLong("backup-id"), help: "The backup to restore, by ID or as latest, latest-full or oldest (default: the newest one that reaches the target).")
    var backupID: String?
    @OptionGroup var recoveryTarget: RecoveryTargetOptions
    @Option(name: .customLong("scratch-dir"), help: "Where the scratch cluster is made and removed (default: $TMPDIR, else /tmp); it needs room for the whole cluster.")
    var scratchDir: String?
    @Option(name: .customLong("pg-bin"), help: "PostgreSQL's binaries (default: found by the backup's major version).")
    var pgBin: String?
    @Option(name: [.customShort("U", allowingJoined: true), .customLong("username")], help: "The role the checks connect as (default: the restored cluster's bootstrap superuser, postgres on most).")
    var username: String?
    @Option(name: [.customShort("d", allowingJoined: true), .customLong("dbname")], help: "The database the SQL check runs in (default postgres).")
    var dbname = "postgres"
    @Option(name: .customLong("sql-check"), help: "A query whose first value must be true on the recovered cluster, e.g. \"SELECT max(created) > now() - interval '1 day' FROM orders\".")
    var sqlCheck: String?
    @Option(name: .customLong("sql-check-timeout"), parsing: .unconditional, help: "Seconds the SQL check may run before it fails the drill (default 300).")
    var sqlCheckTimeout = 300
    @Flag(name: .customLong("no-amcheck"), help: "Do not run pg_amcheck on the recovered cluster.")
    var noAmcheck = false
    @Option(name: .customLong("recovery-timeout"), parsing: .unconditional, help: "Seconds to wait for recovery to end (default 3600).")
    var recoveryTimeout = 3600
    @OptionGroup var lock: LockOptions
    @OptionGroup var parallel: JobsOptions

    func validate() throws {
        guard recoveryTimeout > 0 else { throw ValidationError("--recovery-timeout must be at least 1 second, not \(recoveryTimeout)") }
        guard sqlCheckTimeout > 0 else { throw ValidationError("--sql-check-timeout must be at least 1 second, not \(sqlCheckTimeout)") }
    }

    func run() throws {
        try DrillOperation.checkNotRoot()
        if repository.repoTargetTime != nil {
            throw EngineError.invalidArgument("drill records its result in the repository, which --repo-target-time reads as it was: restore --repo-target-time into a scratch directory instead")
        }
        let target = try recoveryTarget.target()
        let repo = try drilledRepository(target)
        var options = DrillOptions(pgbkExecutable: selfExecutablePath())
        options.pgbkArguments = repository.configArguments
        options.argumentsNameRepositories = repository.server != nil
        options.pgbkEnvironment = ServerConfiguration.restoreCommandEnvironment(repository.server)
        options.otherCopies = try repository.otherCopies(besides: repo)
        options.backupID = backupID
        options.recoveryTarget = target
        options.scratchParent = FileSystem.absolute(scratchDir ?? environment("TMPDIR") ?? "/tmp")
        options.pgBin = pgBin.map(FileSystem.absolute)
        options.user = username
        options.database = dbname
        options.sqlCheck = sqlCheck
        options.sqlCheckTimeoutSeconds = sqlCheckTimeout
        options.amcheck = !noAmcheck
        options.recoveryTimeoutSeconds = recoveryTimeout
        options.lockTimeoutSeconds = try lock.seconds(repo.config)
        if let jobs = try parallel.resolved() { options.jobs = jobs }
        let record = try DrillOperation(repository: repo, options: options).run()
        Console.info("drill \(record.id): OK: backup \(record.backupID ?? "?") restored in \(seconds(record.restoreSeconds)), recovered in \(seconds(record.recoverySeconds)) to \(record.recoveredTime ?? "the backup's end") (LSN \(record.recoveredLSN ?? "?")); pg_amcheck: \(record.amcheck)\(record.sqlResult.map { "; SQL check: \($0)" } ?? "")")
    }

    /// The repository a restore would use: with several, the first that proves the target
    /// reachable (RepositoryChoice); the drill is recorded there.
    private func drilledRepository(_ target: RecoveryTarget) throws -> Repository {
        guard try repository.chosenPaths().count > 1 else { return try repository.open() }
        let jobs = try parallel.resolved() ?? WorkerPool.defaultJobs
        return try RepositoryChoice.first(repository, reaching: target) { repo, _ in
            _ = try RecoveryPlanner(repository: repo, target: target, jobs: jobs).plan(backupID: backupID)
            return repo
        }.value
    }

    private func seconds(_ value: Double?) -> String { value.map { "\(Int($0.rounded())) s" } ?? "-" }
}

/// `pgbk show drills`.
enum DrillTable {
    static func render(_ drills: [DrillRecord]) -> String {
        var rows = [["ID", "Result", "Backup", "Target", "Restore", "Recovery", "RecoveredTo", "amcheck", "SQL", "Reason"]]
        func seconds(_ value: Double?) -> String { value.map { "\(Int($0.rounded()))s" } ?? "-" }
        func short(_ text: String?) -> String {
            guard let text else { return "" }
            return text.count > 70 ? String(text.prefix(69)) + "…" : text
        }
        for d in drills.reversed() {
            let recovered: String = d.recoveredTime ?? d.recoveredLSN ?? "-"
            rows.append([d.id, d.result.rawValue, d.backupID ?? "-", d.target, seconds(d.restoreSeconds), seconds(d.recoverySeconds),
                         recovered, d.amcheck, d.sqlResult ?? "-", short(d.reason)])
        }
        return renderTable(rows)
    }

    static func json(_ drills: [DrillRecord]) -> String {
        let s = BackupJSON.string
        return "[" + drills.map { d in
            let fields: [(String, String)] = [
                ("id", s(d.id)), ("result", s(d.result.rawValue)), ("reason", d.reason.map(s) ?? "null"),
                ("start_time", s(d.startTime.description)), ("end_time", s(d.endTime.description)),
                ("backup_id", d.backupID.map(s) ?? "null"), ("target", s(d.target)),
                ("restore_seconds", d.restoreSeconds.map { String($0) } ?? "null"),
                ("recovery_seconds", d.recoverySeconds.map { String($0) } ?? "null"),
                ("recovered_lsn", d.recoveredLSN.map(s) ?? "null"), ("recovered_timeline", d.recoveredTimeline.map { String($0) } ?? "null"),
                ("recovered_time", d.recoveredTime.map(s) ?? "null"), ("amcheck", s(d.amcheck)),
                ("sql_check", d.sqlCheck.map(s) ?? "null"), ("sql_result", d.sqlResult.map(s) ?? "null"), ("host", s(d.host)),
            ]
            return "{" + fields.map { "\(s($0.0)): \($0.1)" }.joined(separator: ", ") + "}"
        }.joined(separator: ",\n ") + "]"
    }
}
