import CShims
import Repository
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Programs pgbk starts: PostgreSQL's tools for a drill, and the detached WAL prefetcher.
/// posix_spawn with stdin from /dev/null, stdout and stderr into one file (or /dev/null).
public enum ChildProcess {
    public struct Failure: Error, CustomStringConvertible {
        public let program: String
        public let code: Int32
        public var description: String { "cannot start \(program): \(String(cString: strerror(code)))" }
    }

    /// Starts `arguments[0]` (a path); returns its PID. `detached`: in a session of its own,
    /// so that the caller's process group (a recovery's restore_command) never waits for it.
    /// `inheritStderr`: its errors go where the caller's do (PostgreSQL's log). `directory`:
    /// where it starts (pgbk may itself run in a directory its child cannot enter: cron, or
    /// `sudo -u postgres` from root's home). Signals start unblocked and at their defaults,
    /// whatever pgbk blocks for its own handling.
    @discardableResult
    public static func start(_ arguments: [String], output: String = "/dev/null", detached: Bool = false,
                             inheritStderr: Bool = false, directory: String? = nil) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let directory { _ = pgbk_spawn_addchdir(&actions, directory) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        if !inheritStderr { posix_spawn_file_actions_adddup2(&actions, 1, 2) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        // POSIX_SPAWN_SETSID (0x80, glibc 2.26), which the Glibc module does not export.
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF) | (detached ? 0x80 : 0))
        var cArgs = arguments.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, arguments[0], &actions, &attributes, &cArgs, environ)
        guard rc == 0 else { throw Failure(program: arguments[0], code: rc) }
        return pid
    }

    /// Runs `/bin/sh -c command` to the end and returns its exit status and standard output
    /// (at most `limit` bytes), read from a pipe: for output that must never touch a disk (a
    /// passphrase). Its stderr is the caller's; stdin is /dev/null.
    public static func capture(shell command: String, limit: Int, directory: String? = nil) throws -> (status: Int32, output: [UInt8]) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw Failure(program: "/bin/sh", code: errno) }
        // Not inherited by any other child this process starts meanwhile.
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let directory { _ = pgbk_spawn_addchdir(&actions, directory) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        let shell: [String] = ["/bin/sh", "-c", command]
        var cArgs = shell.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, "/bin/sh", &actions, nil, &cArgs, environ)
        close(fds[1])
        defer { close(fds[0]) }
        guard rc == 0 else { throw Failure(program: "/bin/sh", code: rc) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            if output.count < limit { output += chunk[0..<min(n, limit - output.count)] }
        }
        chunk.withUnsafeMutableBytes { _ = memset($0.baseAddress!, 0, $0.count) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return ((status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f), output)
    }

    /// Runs to the end; returns the exit status (128 + N when killed by signal N) and what
    /// it printed, read back from `output` (truncated first).
    public static func run(_ arguments: [String], output: String, directory: String? = nil) throws -> (status: Int32, output: String) {
        try FileSystem.remove(output)
        let pid = try start(arguments, output: output, directory: directory)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (code, (try? FileSystem.readText(output, limit: 1 << 20)) ?? "")
    }
}
