import ArgumentParser
import Engine
import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `pgbk cron`: the backup host's maintenance, safe to run every minute (cron or a systemd
/// timer) and concurrently with itself: for every configured server (ServerConfiguration)
/// it keeps receive-wal running where RECEIVE_WAL=on, validates new backups and applies the
/// repository's retention. Each action is a pgbk command of its own, so that one server's
/// failure (or crash) is that action's line and the others go on; one line per action, and a
/// non-zero exit when any failed. One cron works at a time on a host; another says so.
struct Cron: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "For every server configured on this backup host: keep receive-wal running, validate new backups, apply retention.",
        discussion: "Servers are NAME.conf files in $PGBK_SERVERS_DIR (default /etc/pgbk/servers.d). receive-wal is started, detached, for a server whose file says RECEIVE_WAL=on (with SLOT=name, made when missing), its output in $PGBK_LOG_PATH/receive-wal-NAME.log (default /var/log/pgbk); retention runs when the repository's pgbk.ini sets KEEP_DATA_GENERATIONS or KEEP_DATA_DAYS. Exit status: 0 when every action succeeded (or another cron was already working), 1 otherwise.",
        helpNames: [.long])

    @Flag(name: [.customShort("q"), .long], help: "Print only errors and warnings.")
    var quiet = false

    func run() throws {
        Console.quiet = quiet
        // A server's file stands in for libpq's environment (RepositoryOptions): each server
        // starts from the environment cron was given, not the previous server's.
        let restore = ServerConfiguration.environmentRestorer()
        try CronOperation.run(servers: try ServerConfiguration.names(), scope: ServerConfiguration.directory,
                              actions: actions(for:)) { _ in restore() }
    }

    /// What the server needs, in order; a server whose file cannot be read is one failed action.
    func actions(for name: String) -> [CronOperation.Action] {
        let options: RepositoryOptions
        let local: LocalConfiguration
        do {
            options = try RepositoryOptions.parse(["--server", name])
            local = try options.localConfiguration()
        } catch {
            return [CronOperation.Action(name: "configuration") { throw error }]
        }
        var list: [CronOperation.Action] = []
        if local.values["RECEIVE_WAL"] == "on" {
            list.append(CronOperation.Action(name: "receive-wal") { try keepReceiving(name, options: options) })
        }
        list.append(CronOperation.Action(name: "validate") { try pgbk(["validate", "--server", name, "-q"]) })
        list.append(CronOperation.Action(name: "expire") {
            let config = try options.open().config
            guard config["KEEP_DATA_GENERATIONS"] != nil || config["KEEP_DATA_DAYS"] != nil else { return "no retention policy in pgbk.ini" }
            return try pgbk(["expire", "--server", name, "-q"])
        })
        return list
    }

    /// Runs pgbk itself; its last line of output is the failure.
    func pgbk(_ arguments: [String]) throws -> String {
        let output = (environment("TMPDIR") ?? "/tmp") + "/pgbk-cron-\(getpid()).out"
        defer { try? FileSystem.remove(output) }
        let (status, text) = try ChildProcess.run([selfExecutablePath()] + arguments, output: output, directory: "/")
        guard status == 0 else {
            throw EngineError.invalidArgument(text.split(separator: "\n").last.map(String.init) ?? "exit status \(status)")
        }
        return "ok"
    }

    /// receive-wal is running when it holds its lock; otherwise it is started, detached, and
    /// given a moment to fail (a refused connection) before it counts as started.
    func keepReceiving(_ name: String, options: RepositoryOptions) throws -> String {
        guard try !ReceiveOperation.isRunning(into: try options.open()) else { return "running" }
        let logDirectory = environment("PGBK_LOG_PATH") ?? "/var/log/pgbk"
        try FileSystem.makeDirectories(logDirectory)
        let log = logDirectory + "/receive-wal-\(name).log"
        // receive-wal --server takes the file's SLOT (and makes it) itself.
        let pid = try ChildProcess.start([selfExecutablePath(), "receive-wal", "--server", name],
                                         output: log, detached: true, directory: "/")
        for _ in 0..<20 {
            usleep(100_000)
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                let last = (try? FileSystem.readText(log, limit: 1 << 20))?.split(separator: "\n").last.map(String.init)
                throw EngineError.invalidArgument("receive-wal stopped at once: \(last ?? "see \(log)")")
            }
        }
        return "started (pid \(pid), log \(log))"
    }
}
