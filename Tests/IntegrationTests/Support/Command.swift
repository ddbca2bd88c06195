#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import CShims
import Repository

struct CommandResult: CustomStringConvertible {
    let command: String
    let status: Int32
    let stdout: String
    let stderr: String

    var succeeded: Bool { status == 0 }
    var description: String { "`\(command)` exited \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }
}

/// The brief's form of a failure: one line on stderr, `pgbk: error: ...`.
func oneLine(_ r: CommandResult) -> Bool {
    r.stderr.split(separator: "\n").count == 1 && r.stderr.hasPrefix("pgbk: error: ")
}

/// A failure that ends with exactly one `pgbk: error:` line (progress lines may come before).
func failsWithOneError(_ r: CommandResult) -> Bool {
    let lines = r.stderr.split(separator: "\n")
    return r.status != 0 && lines.filter { $0.hasPrefix("pgbk: error: ") }.count == 1 && lines.last?.hasPrefix("pgbk: error: ") == true
}

struct CommandError: Error, CustomStringConvertible {
    let result: CommandResult
    var description: String { "command failed: \(result)" }
}

/// Runs programs with posix_spawn, output captured through files (not pipes: pg_ctl's
/// postmaster inherits descriptors and would hold a pipe open forever). As root, programs
/// that PostgreSQL requires to run unprivileged go through `runuser -u postgres`.
enum Command {
    static var isRoot: Bool { geteuid() == 0 }

    static let runuser: String = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]
        .first { access($0, X_OK) == 0 } ?? "runuser"

    /// The argument vector, wrapped in runuser when needed; `env` is passed explicitly.
    static func argv(_ executable: String, _ args: [String], env: [String: String], asPostgres: Bool) -> [String] {
        let envArgs = env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        if asPostgres && isRoot {
            return [runuser, "-u", "postgres", "--", "/usr/bin/env"] + envArgs + [executable] + args
        }
        return ["/usr/bin/env"] + envArgs + [executable] + args
    }

    @discardableResult
    static func run(_ executable: String, _ args: [String], env: [String: String] = [:], asPostgres: Bool = false,
                    outputDirectory: String = "/tmp", directory: String? = nil) throws -> CommandResult {
        let process = try spawn(executable, args, env: env, asPostgres: asPostgres, outputDirectory: outputDirectory,
                                directory: directory)
        return process.wait()
    }

    /// `directory`: where the process starts (else the test runner's own).
    static func spawn(_ executable: String, _ args: [String], env: [String: String] = [:], asPostgres: Bool = false,
                      outputDirectory: String = "/tmp", directory: String? = nil) throws -> SpawnedProcess {
        let full = argv(executable, args, env: env, asPostgres: asPostgres)
        let stamp = "\(getpid())-\(counter.next())"
        let outPath = outputDirectory + "/.out-\(stamp)"
        let errPath = outputDirectory + "/.err-\(stamp)"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        // As postgres, a process started in the runner's directory (a checkout under root's
        // 0700 home) cannot enter it: it starts in the test's own directory unless told.
        if let start = directory ?? (asPostgres && isRoot ? outputDirectory : nil) { _ = pgbk_spawn_addchdir(&actions, start) }
        // Children start with no blocked signals and default handlers: the test runner's
        // threads block some (pgbench's -T timer is SIGALRM), and posix_spawn passes the mask on.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var cArgs = full.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, full[0], &actions, &attributes, &cArgs, environ)
        guard rc == 0 else { throw SystemError("spawn", full[0], code: rc) }
        return SpawnedProcess(pid: pid, command: full.joined(separator: " "), outPath: outPath, errPath: errPath)
    }

    static let counter = Counter()
}

final class Counter: @unchecked Sendable {
    private var value = 0
    private var lock = pthread_mutex_t()
    init() { pthread_mutex_init(&lock, nil) }
    func next() -> Int {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        value += 1
        return value
    }
}

struct SpawnedProcess {
    let pid: pid_t
    let command: String
    let outPath: String
    let errPath: String

    /// Waits until the process is stopped (a PGBK_FAULT `stop` point); fails if it exits first.
    func waitUntilStopped() throws {
        try waitUntil("\(command) to stop at its fault point") {
            guard let stat = try? FileSystem.readText("/proc/\(pid)/stat") else { throw TestFailure("\(command) is gone") }
            let state = stat.split(separator: ")").last?.split(separator: " ").first
            if state == "Z" { throw TestFailure("\(command) exited before its fault point: \(wait())") }
            return state == "T"
        }
    }

    /// SIGCONT: lets a process stopped at its fault point go on.
    func resume() { kill(pid, SIGCONT) }

    func wait() -> CommandResult {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let out = (try? FileSystem.readText(outPath)) ?? ""
        let err = (try? FileSystem.readText(errPath)) ?? ""
        try? FileSystem.remove(outPath)
        try? FileSystem.remove(errPath)
        return CommandResult(command: command, status: code, stdout: out, stderr: err)
    }

}
