#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import Repository
import Synchronization

let pgBin = (getenv("PGBIN").map { String(cString: $0) }) ?? "/usr/lib/postgresql/15/bin"

/// The postgres OS user's ids, when tests run as root.
let postgresUser: (uid: UInt32, gid: UInt32)? = {
    guard Command.isRoot, let pw = getpwnam("postgres") else { return nil }
    return (pw.pointee.pw_uid, pw.pointee.pw_gid)
}()

/// One test's private directory under /tmp (short: socket paths are limited to 107 bytes),
/// owned by postgres when running as root, with its own copy of pgbk that the server can run.
final class Scratch: Sendable {
    let path: String
    let pgbk: String

    init() throws {
        var template = Array("/tmp/pgbk-it.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw SystemError("create temp directory", "/tmp") }
        path = String(cString: made)
        try FileSystem.setMode(path, 0o755)
        if let user = postgresUser { try FileSystem.setOwner(path, uid: user.uid, gid: user.gid) }
        pgbk = path + "/bin/pgbk"
        try makeDirectory("bin", mode: 0o755)
        // A link to one copy per test run: a copy per test wrote 44 MB (a debug build) each
        // time, gigabytes a run, and the disk is what the tests wait for.
        if let shared = Self.sharedPgbk, link(shared, pgbk) == 0 { return }
        try copyFile(from: Self.builtPgbk, to: pgbk, mode: 0o755)
        try chownToPostgres(pgbk)
    }

    /// The run's copy of pgbk, in a directory anyone may enter, owned by postgres; removed
    /// when the test process exits.
    static let sharedPgbk: String? = {
        var template = Array("/tmp/pgbk-it-bin.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { return nil }
        let directory = String(cString: made)
        let copy = directory + "/pgbk"
        do {
            try FileSystem.setMode(directory, 0o755)
            try copyFile(from: builtPgbk, to: copy, mode: 0o755)
            if let user = postgresUser { try FileSystem.setOwner(copy, uid: user.uid, gid: user.gid) }
        } catch {
            try? FileSystem.removeTree(directory)
            return nil
        }
        sharedDirectory.withLock { $0 = directory }
        atexit { if let directory = Scratch.sharedDirectory.withLock({ $0 }) { try? FileSystem.removeTree(directory) } }
        return copy
    }()
    static let sharedDirectory = Mutex<String?>(nil)

    deinit { try? FileSystem.removeTree(path) }

    /// The pgbk built next to this test bundle (or $PGBK_BIN).
    static let builtPgbk: String = {
        if let env = getenv("PGBK_BIN") { return String(cString: env) }
        let exe = (try? FileSystem.readLink("/proc/self/exe")) ?? ""
        return FileSystem.parentDirectory(of: exe) + "/pgbk"
    }()

    @discardableResult
    func makeDirectory(_ name: String, mode: UInt32 = 0o700) throws -> String {
        let dir = path + "/" + name
        try FileSystem.makeDirectory(dir, mode: mode)
        try FileSystem.setMode(dir, mode)
        try chownToPostgres(dir)
        return dir
    }

    func chownToPostgres(_ file: String) throws {
        if let user = postgresUser { try FileSystem.setOwner(file, uid: user.uid, gid: user.gid) }
    }

    func writeFile(_ file: String, _ text: String, mode: UInt32 = 0o600) throws {
        try? FileSystem.remove(file)
        let f = try OpenFile(creating: file, mode: mode)
        try f.write(Array(text.utf8))
        try f.closeChecked()
        try chownToPostgres(file)
    }

    /// Runs the test's pgbk copy, as postgres when root unless `asCurrentUser`.
    @discardableResult
    /// `directory`: where it starts (one the postgres user may not enter, as cron's or root's home).
    func pgbk(_ args: [String], asCurrentUser: Bool = false, env: [String: String] = [:], directory: String? = nil) throws -> CommandResult {
        try Command.run(pgbk, args, env: env, asPostgres: !asCurrentUser, outputDirectory: path, directory: directory)
    }

    /// pgbk as postgres in a process of its own (setpriv executes it where runuser forks and
    /// waits), so that a signal the test sends reaches pgbk itself.
    func spawnPgbkDirect(_ args: [String]) throws -> SpawnedProcess {
        Command.isRoot
            ? try Command.spawn("/usr/bin/setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", pgbk] + args,
                                outputDirectory: path)
            : try Command.spawn(pgbk, args, outputDirectory: path)
    }

    func spawnPgbk(_ args: [String]) throws -> SpawnedProcess {
        try Command.spawn(pgbk, args, asPostgres: true, outputDirectory: path)
    }

    /// pgbk as postgres with `PGBK_FAULT=point:stop`, waited for until it stops there. setpriv
    /// executes pgbk in its own process where runuser forks and waits, so the SIGSTOP stops
    /// pgbk itself, and the test's SIGCONT lets it go on.
    func spawnPgbkStopped(_ args: [String], at point: String, env: [String: String] = [:]) throws -> SpawnedProcess {
        let faultEnv = env.merging(["PGBK_FAULT": point + ":stop"]) { _, fault in fault }
        let process = Command.isRoot
            ? try Command.spawn("/usr/bin/setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", pgbk] + args,
                                env: faultEnv, outputDirectory: path)
            : try Command.spawn(pgbk, args, env: faultEnv, outputDirectory: path)
        try process.waitUntilStopped()
        return process
    }
}

func copyFile(from source: String, to destination: String, mode: UInt32) throws {
    let input = try OpenFile(reading: source)
    defer { input.close() }
    let output = try OpenFile(creating: destination, mode: mode)
    var buffer = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let n = try input.read(into: &buffer)
        if n == 0 { break }
        try output.write(Array(buffer[0..<n]))
    }
    try output.closeChecked()
}

/// Signals `pid` only while its command line still contains `command`: a process that is not
/// this test's child (a daemon pgbk started) may have exited, and under a full parallel run
/// its PID may already be another test's server backend. Returns whether it was signalled.
@discardableResult
func signal(_ pid: pid_t, _ sig: Int32, ifRunning command: String) -> Bool {
    guard commandLine(of: pid)?.contains(command) == true else { return false }
    return kill(pid, sig) == 0
}

/// A process's command line, its arguments joined by spaces; nil once it is gone.
func commandLine(of pid: pid_t) -> String? {
    guard let bytes = try? FileSystem.readAll("/proc/\(pid)/cmdline", limit: 1 << 16) else { return nil }
    return String(decoding: bytes.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
}

/// Polls until `condition` holds; throws after `seconds`. For waiting on servers, never for
/// asserting speed.
func waitUntil(_ what: String, seconds: Double = 120, _ condition: () throws -> Bool) throws {
    var waited = 0.0
    while try !condition() {
        if waited >= seconds { throw TestFailure("timed out after \(Int(seconds)) s waiting for \(what)") }
        usleep(50_000)
        waited += 0.05
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ text: String) { description = text }
}
