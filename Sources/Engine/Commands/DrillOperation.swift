import PostgresClient
import PostgresFormat
import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

public struct DrillOptions: Sendable {
    public var backupID: String?
    public var recoveryTarget = RecoveryTarget()
    /// Where the scratch cluster goes (a new directory inside it, removed at the end).
    public var scratchParent = "/tmp"
    /// PostgreSQL's binaries; found by the backup's major version when nil.
    public var pgBin: String?
    /// The role the checks connect as (default: the copy's bootstrap superuser).
    public var user: String?
    public var database = "postgres"
    /// A query whose first value must be true, run on the recovered cluster.
    public var sqlCheck: String?
    /// statement_timeout for the SQL check, so that a check that hangs fails the drill.
    public var sqlCheckTimeoutSeconds = 300
    public var amcheck = true
    public var recoveryTimeoutSeconds = 3600
    /// How long the restore waits for another command's repository lock (LOCK_TIMEOUT).
    public var lockTimeoutSeconds = 0
    public var pgbkExecutable: String
    public var pgbkArguments: [String] = []
    /// As RestoreOptions'.
    public var argumentsNameRepositories = false
    public var pgbkEnvironment: [String: String] = [:]
    public var jobs = WorkerPool.defaultJobs
    /// The cluster's other repositories, for a stored file damaged in this one.
    public var otherCopies: OtherCopies?

    public init(pgbkExecutable: String) { self.pgbkExecutable = pgbkExecutable }
}

/// `pgbk drill`: proves that a backup restores. Restores into a scratch directory, starts
/// PostgreSQL there (private socket, no TCP, archiving off, the drill's own pg_hba), waits
/// for recovery to end, runs pg_amcheck and the DBA's SQL check, stops and removes it, and
/// records the outcome in the repository, whatever it is.
public struct DrillOperation {
    let repository: Repository
    let options: DrillOptions

    public init(repository: Repository, options: DrillOptions) {
        self.repository = repository
        self.options = options
    }

    public struct Failed: Error, CustomStringConvertible {
        public let record: DrillRecord
        public var description: String { "drill \(record.id) failed: \(record.reason ?? "?")" }
    }

    /// The saved record; throws `Failed` (after saving it) when the drill did not pass.
    /// Whatever happens (an error, SIGINT or SIGTERM) the scratch server is stopped, the copy
    /// removed and a record saved; what a kill -9 leaves, the next drill cleans up.
    public func run() throws -> DrillRecord {
        try Self.checkNotRoot()
        let start = Timestamp.now()
        var record = DrillRecord(id: start.compact + "D", result: .failed, startTime: start, endTime: start,
                                 target: options.recoveryTarget.description)
        record.host = LocalHost.name()
        record.sqlCheck = options.sqlCheck
        DrillScratch.cleanLeftovers(in: options.scratchParent, repository: repository, by: record.id)
        let scratch = try DrillScratch.make(in: options.scratchParent, for: record)
        let interrupted = record
        let repository = self.repository
        let interruptions = SignalGuard { signal in
            Console.warning("drill \(interrupted.id) interrupted by signal \(signal): stopping its server and removing \(scratch.path)")
            try? scratch.remove()
            var failed = interrupted
            failed.reason = "interrupted by signal \(signal)"
            failed.endTime = .now()
            _ = try? repository.saveDrill(failed)
        }
        Console.info("drill \(record.id): restoring into \(scratch.path)")
        var notRun: NotRun?
        do {
            try exercise(scratch, &record)
            record.result = .ok
        } catch let error as NotRun {
            notRun = error
        } catch {
            record.reason = oneLineDescription(error)
        }
        if let notRun {
            // Another command held the repository past --lock-timeout: nothing to record.
            try interruptions.finish { try scratch.remove() }
            throw notRun.reason
        }
        try interruptions.finish {
            do { try scratch.remove() } catch {
                Console.warning("could not remove the drill's scratch directory \(scratch.path): \(error)")
            }
            record.endTime = .now()
            record = try repository.saveDrill(record)
        }
        guard record.result == .ok else { throw Failed(record: record) }
        return record
    }

    private func exercise(_ scratchDirectory: DrillScratch, _ record: inout DrillRecord) throws {
        let (scratch, data) = (scratchDirectory.path, scratchDirectory.data)
        var restore = RestoreOptions(target: data, pgbkExecutable: options.pgbkExecutable)
        restore.backupID = options.backupID
        // Tablespaces too stay inside the scratch directory: their original locations are
        // production's on the database host, and whatever is written there would be left.
        restore.tablespacesUnder = scratch + "/tablespaces"
        restore.recoveryTarget = options.recoveryTarget
        if restore.recoveryTarget.point != nil && restore.recoveryTarget.action == nil { restore.recoveryTarget.action = .promote }
        restore.pgbkArguments = options.pgbkArguments
        restore.argumentsNameRepositories = options.argumentsNameRepositories
        restore.pgbkEnvironment = options.pgbkEnvironment
        restore.jobs = options.jobs
        restore.otherCopies = options.otherCopies
        restore.lockTimeoutSeconds = options.lockTimeoutSeconds
        var began = monotonicSeconds()
        let info: BackupInfo
        do { info = try RestoreOperation.of(repository: repository, options: restore).run() } catch let busy as RepositoryLock.Busy {
            throw NotRun(reason: busy)  // the drill could not run; no restore failed
        } catch {
            throw DrillStep("restore", error)
        }
        record.backupID = info.id
        record.restoreSeconds = monotonicSeconds() - began

        let bin = try options.pgBin ?? PostgresBinaries.find(major: info.pgVersionNum / 10000, workDirectory: scratch)
        let server = ScratchServer(scratch: scratch, data: data, bin: bin)
        try server.prepare()
        began = monotonicSeconds()
        // Stopped whatever start throws: a wrong -U or pg_hba fails after the server is up.
        defer { server.stop() }
        try server.start(timeoutSeconds: options.recoveryTimeoutSeconds, user: options.user, database: options.database)
        record.recoverySeconds = monotonicSeconds() - began

        let (connection, user) = try connectForChecks(server)
        let state = try connection.query("""
            SELECT pg_is_in_recovery()::text AS recovering, pg_current_wal_lsn()::text AS lsn,
                   (SELECT timeline_id FROM pg_control_checkpoint())::text AS tli,
                   to_char(pg_last_xact_replay_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS replayed
            """)
        guard state.value(0, "recovering") == "false" else { throw DrillStep("recovery", "the cluster is still in recovery") }
        record.recoveredLSN = state.value(0, "lsn")
        record.recoveredTimeline = state.value(0, "tli").flatMap { Int($0) }
        record.recoveredTime = state.value(0, "replayed").map { $0 + "+00" }
        Console.info("drill \(record.id): recovered to \(record.recoveredTime.map { "the transaction of \($0)" } ?? "the backup's end") (LSN \(record.recoveredLSN ?? "?"), timeline \(record.recoveredTimeline ?? 0)) in \(Int((record.recoverySeconds ?? 0).rounded())) s")

        if options.amcheck { record.amcheck = try runAmcheck(server, connection: connection, user: user) }
        if let sql = options.sqlCheck {
            let answer: String?
            do {
                _ = try connection.query("SELECT set_config('statement_timeout', $1, false)", ["\(options.sqlCheckTimeoutSeconds)s"])
                answer = try connection.query(sql).single
            } catch {
                throw DrillStep("the SQL check (--sql-check-timeout \(options.sqlCheckTimeoutSeconds) s)", error)
            }
            record.sqlResult = answer ?? "NULL"
            guard answer == "t" || answer == "true" else {
                throw DrillStep("the SQL check", "its first value is \(answer ?? "NULL"), not true")
            }
        }
    }

    /// The checks' connection, and its role: -U's, else the copy's bootstrap superuser
    /// (pg_amcheck installs amcheck), found through libpq's default role (the OS user, or the
    /// backup host's PGUSER, a role of the cluster); the scratch server trusts its socket.
    private func connectForChecks(_ server: ScratchServer) throws -> (Connection, String?) {
        do {
            let first = try Connection(server.parameters(user: options.user, database: options.database))
            guard options.user == nil, let superuser = try first.query("SELECT rolname FROM pg_roles WHERE oid = 10 AND rolname <> current_user").single else {
                return (first, options.user)
            }
            return (try Connection(server.parameters(user: superuser, database: options.database)), superuser)
        } catch {
            throw DrillStep("connecting to the recovered cluster", error)
        }
    }

    /// pg_amcheck on every database when the binaries and the server have amcheck.
    private func runAmcheck(_ server: ScratchServer, connection: Connection, user: String?) throws -> String {
        let tool = server.bin + "/pg_amcheck"
        guard access(tool, X_OK) == 0 else { return "not available (no pg_amcheck in \(server.bin))" }
        guard try connection.query("SELECT count(*)::text FROM pg_available_extensions WHERE name = 'amcheck'").single == "1" else {
            return "not available (the server has no amcheck extension)"
        }
        var args = [tool] + server.clientArguments(user: user) + ["--all", "--install-missing"]
        if options.database != "postgres" { args += ["--maintenance-db", options.database] }
        let (status, output) = try ChildProcess.run(args, output: server.scratch + "/pg_amcheck.out", directory: server.scratch)
        // pg_amcheck exits 2 on corruption and 1 on an error; with 0, what it printed is a
        // warning (a notice, a note about the environment), not a failed check.
        guard status == 0 else {
            throw DrillStep("pg_amcheck", "exit status \(status): \(output.split(separator: "\n").first ?? "")")
        }
        for line in output.split(separator: "\n") { Console.warning("pg_amcheck: \(line)") }
        return "passed"
    }

    /// PostgreSQL refuses to run as root; the CLI asks before it opens anything.
    public static func checkNotRoot() throws {
        guard geteuid() != 0 else {
            throw EngineError.invalidArgument("pgbk drill starts PostgreSQL, which refuses to run as root: run it as the PostgreSQL OS user (sudo -u postgres pgbk drill ...)")
        }
    }

}

/// The drill could not start its restore (the repository was locked): not a failed drill.
struct NotRun: Error {
    let reason: RepositoryLock.Busy
}

/// A step of the drill that failed, as the record's reason.
struct DrillStep: Error, CustomStringConvertible {
    let step: String
    let detail: String
    init(_ step: String, _ detail: Any) {
        self.step = step
        self.detail = String(describing: detail)
    }
    var description: String { "\(step): \(detail)" }
}
