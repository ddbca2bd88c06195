import PostgresClient
import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The drill's PostgreSQL: a restored data directory started where nothing else can reach it
/// (a Unix socket in the 0700 scratch directory, no TCP) and where it can harm nothing (no
/// archiving, its own pg_hba trusting only that socket, a small shared_buffers).
struct ScratchServer {
    let scratch: String
    let data: String
    let bin: String
    let port = "5432"
    var log: String { scratch + "/server.log" }
    var hbaFile: String { scratch + "/pgbk_drill_hba.conf" }

    func prepare() throws {
        // Debian keeps postgresql.conf under /etc/postgresql: then the backup has none.
        if !FileSystem.exists(data + "/postgresql.conf") { try AtomicFile.write(data + "/postgresql.conf", text: "") }
        try AtomicFile.write(hbaFile, text: "local all all trust\n")
    }

    /// Returns once recovery has ended and the server takes connections: pg_ctl -w returns
    /// as soon as the postmaster is up (in recovery already counts), so this then asks the
    /// server until it answers as a primary, the postmaster dies, or the time is up.
    func start(timeoutSeconds: Int, user: String?, database: String) throws {
        try launch(timeoutSeconds: timeoutSeconds)
        let recovered = try poll(forSeconds: Double(timeoutSeconds), firstDelay: 100_000) {
            do {
                let connection = try Connection(parameters(user: user, database: database))
                if try connection.query("SELECT pg_is_in_recovery()::text").single == "false" { return true }
            } catch let error as PostgresError where error.isStartingUp {
                // Recovery goes on (hot_standby is off): ask again.
            }
            guard postmasterAlive else { throw DrillStep("recovery", "PostgreSQL stopped: \(logTail)") }
            return false
        }
        guard recovered else {
            stop()
            throw DrillStep("recovery", "not finished after \(timeoutSeconds) s (--recovery-timeout): \(logTail)")
        }
    }

    /// What the server's log says went wrong: its FATAL or PANIC lines (what follows them is
    /// only the shutdown), else its last lines.
    var logTail: String {
        let lines = ((try? FileSystem.readText(log, limit: 1 << 20)) ?? "").split(separator: "\n")
        let causes = lines.filter { $0.contains("FATAL:") || $0.contains("PANIC:") }
        return (causes.isEmpty ? lines.suffix(3) : causes.prefix(2)).joined(separator: " | ")
    }

    var postmasterAlive: Bool {
        guard let text = try? FileSystem.readText(data + "/postmaster.pid"), let pid = text.split(separator: "\n").first.flatMap({ Int32($0) }) else {
            return false
        }
        return kill(pid, 0) == 0
    }

    private func launch(timeoutSeconds: Int) throws {
        let settings = [
            "listen_addresses=''", "port=\(port)", "unix_socket_directories='\(scratch)'", "hba_file='\(hbaFile)'",
            "archive_mode=off", "hot_standby=off", "logging_collector=off", "ssl=off", "shared_buffers=128MB",
        ]
        let args = [bin + "/pg_ctl", "-D", data, "-l", log, "-w", "-t", String(timeoutSeconds),
                    "-o", settings.map { "-c " + $0 }.joined(separator: " "), "start"]
        let (status, output) = try ChildProcess.run(args, output: scratch + "/pg_ctl.out", directory: scratch)
        guard status == 0 else {
            stop()
            throw DrillStep("starting PostgreSQL (pg_ctl exit status \(status))", FileSystem.exists(log) ? logTail : output)
        }
    }

    /// Fast shutdown, immediate if that fails; best effort (the directory goes next).
    func stop() {
        guard FileSystem.exists(data + "/postmaster.pid") else { return }
        for mode in ["fast", "immediate"] {
            if let (status, _) = try? ChildProcess.run([bin + "/pg_ctl", "-D", data, "-m", mode, "-w", "-t", "60", "stop"],
                                                       output: scratch + "/pg_ctl-stop.out", directory: scratch), status == 0 { return }
        }
        Self.stopByPIDFile(data: data)
    }

    /// Immediate shutdown (SIGQUIT) of the postmaster that `data/postmaster.pid` names, when
    /// it runs on that directory, without pg_ctl (a signal handler, or a drill cleaning up
    /// after a killed one); SIGKILL if it has not gone after 30 s.
    static func stopByPIDFile(data: String) {
        guard let text = try? FileSystem.readText(data + "/postmaster.pid") else { return }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count > 1, let pid = pid_t(lines[0]), pid > 0, lines[1] == data else { return }
        guard kill(pid, SIGQUIT) == 0 else { return }
        if !poll(forSeconds: 30, firstDelay: 20_000, longestDelay: 200_000, until: { !isRunning(pid) }) { kill(pid, SIGKILL) }
    }

    /// Alive and not a zombie (a postmaster pg_ctl started is not ours to reap, and PID 1 in
    /// a container may not reap it either).
    static func isRunning(_ pid: pid_t) -> Bool {
        guard let stat = try? FileSystem.readText("/proc/\(pid)/stat") else { return kill(pid, 0) == 0 }
        return stat.split(separator: ")").last?.split(separator: " ").first != "Z"
    }

    func parameters(user: String?, database: String) -> ConnectionParameters {
        ConnectionParameters(host: scratch, port: port, user: user, database: database)
    }

    func clientArguments(user: String?) -> [String] {
        ["-h", scratch, "-p", port] + (user.map { ["-U", $0] } ?? [])
    }
}

/// Where PostgreSQL's binaries of one major version are: the packagers' places, then PATH.
enum PostgresBinaries {
    /// `workDirectory` takes pg_ctl's answer.
    static func find(major: Int, workDirectory: String) throws -> String {
        var candidates = ["/usr/lib/postgresql/\(major)/bin", "/usr/pgsql-\(major)/bin", "/usr/local/pgsql/bin"]
        if let path = getenv("PATH") { candidates += String(cString: path).split(separator: ":").map(String.init) }
        for dir in candidates where access(dir + "/pg_ctl", X_OK) == 0 {
            if version(of: dir + "/pg_ctl", workDirectory: workDirectory) == major { return dir }
        }
        throw EngineError.invalidArgument("no PostgreSQL \(major) binaries found (pg_ctl in /usr/lib/postgresql/\(major)/bin, /usr/pgsql-\(major)/bin or PATH): give --pg-bin DIR")
    }

    /// The major version `pg_ctl --version` reports ("pg_ctl (PostgreSQL) 15.18 ...").
    static func version(of pgCtl: String, workDirectory: String) -> Int? {
        guard let (status, output) = try? ChildProcess.run([pgCtl, "--version"], output: workDirectory + "/pg_ctl-version.out",
                                                           directory: workDirectory),
              status == 0, let number = output.split(separator: ")").dropFirst().first?.split(separator: " ").first else { return nil }
        return Int(number.split(separator: ".").first ?? "")
    }
}
