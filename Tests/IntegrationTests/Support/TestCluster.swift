#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import PostgresClient
import Repository
import StorageInterface

/// A throwaway PostgreSQL cluster in a scratch directory: its own port and socket directory,
/// run as the postgres user when the tests run as root.
struct TestCluster: Sendable {
    let dataDir: String
    let socketDir: String
    let port: Int
    let logFile: String
    let scratch: Scratch
    /// The server binaries this cluster runs with.
    var bin: String = pgBin

    static let ports = Counter()

    static func nextPort() -> Int { 20000 + Int(getpid() % 2000) * 10 + ports.next() % 10 }

    /// initdb, plus settings for archiving into `repository` through the scratch's pgbk.
    static func create(_ scratch: Scratch, name: String, checksums: Bool = true, repository: String?,
                       bin: String = pgBin) throws -> TestCluster {
        let dataDir = scratch.path + "/" + name
        var args = ["-D", dataDir, "-U", "postgres", "-A", "trust", "--no-sync", "--no-instructions"]
        if checksums { args.append("-k") }
        let result = try Command.run(bin + "/initdb", args, asPostgres: true, outputDirectory: scratch.path)
        guard result.succeeded else { throw CommandError(result: result) }
        let cluster = try adopt(dataDir, scratch: scratch, name: name, bin: bin)
        var conf = """
        wal_level = replica
        fsync = off
        shared_buffers = 32MB
        max_wal_size = 256MB

        """
        if let repository {
            conf += "archive_mode = on\narchive_command = '\(scratch.pgbk) archive-push -B \(repository) %p'\n"
        }
        try cluster.appendConfig(conf)
        return cluster
    }

    /// `create`, then `pgbk init` of `repository` for it, then started. The caller stops it.
    static func createInitialized(_ scratch: Scratch, name: String, repository: String, bin: String = pgBin) throws -> TestCluster {
        let cluster = try create(scratch, name: name, repository: repository, bin: bin)
        let r = try scratch.pgbk(["init", "-B", repository, "-D", cluster.dataDir])
        guard r.succeeded else { throw CommandError(result: r) }
        try cluster.start()
        return cluster
    }

    /// Gives an existing (for example restored) data directory this test's port and socket.
    static func adopt(_ dataDir: String, scratch: Scratch, name: String, bin: String = pgBin) throws -> TestCluster {
        let socketDir = scratch.path + "/s-" + name
        if !FileSystem.exists(socketDir) { try scratch.makeDirectory("s-" + name) }
        let cluster = TestCluster(dataDir: dataDir, socketDir: socketDir, port: nextPort(),
                                  logFile: scratch.path + "/" + name + ".log", scratch: scratch, bin: bin)
        try cluster.appendConfig("""
        listen_addresses = ''
        port = \(cluster.port)
        unix_socket_directories = '\(socketDir)'

        """)
        return cluster
    }

    /// A restored data directory, started on this test's port with archiving off, once its
    /// recovery has ended (stopped again if it does not end). The caller stops it.
    static func startRestored(_ dataDir: String, scratch: Scratch, name: String, bin: String = pgBin) throws -> TestCluster {
        let cluster = try adopt(dataDir, scratch: scratch, name: name, bin: bin)
        try cluster.appendConfig("archive_mode = off\n")
        try cluster.start()
        do { try cluster.waitForPromotion() } catch { cluster.stopIfRunning(); throw error }
        return cluster
    }

    func appendConfig(_ text: String) throws {
        let path = dataDir + "/postgresql.conf"
        let old = try FileSystem.readText(path)
        try scratch.writeFile(path, old + "\n" + text)
    }

    /// The server, and the archive_command and restore_command it runs, start without the
    /// runner's AWS_* and S3_* settings (a CA bundle, say): a test's configuration file is
    /// what they use.
    func start() throws {
        let r = try Command.run(bin + "/pg_ctl", ["-D", dataDir, "-l", logFile, "-w", "-t", "120", "start"],
                                env: S3Fixture.clearedEnvironment, asPostgres: true, outputDirectory: scratch.path)
        guard r.succeeded else {
            throw TestFailure("pg_ctl start failed: \(r)\nserver log: \((try? FileSystem.readText(logFile)) ?? "")")
        }
    }

    func stop(mode: String = "fast") throws {
        let r = try Command.run(bin + "/pg_ctl", ["-D", dataDir, "-m", mode, "-w", "stop"], asPostgres: true,
                                outputDirectory: scratch.path)
        guard r.succeeded else { throw CommandError(result: r) }
    }

    /// Best effort, for cleanup paths.
    func stopIfRunning() {
        if FileSystem.exists(dataDir + "/postmaster.pid") { try? stop(mode: "immediate") }
    }

    var connectionArgs: [String] { ["-h", socketDir, "-p", String(port), "-U", "postgres"] }

    func connect(database: String = "postgres") throws -> Connection {
        try Connection(ConnectionParameters(host: socketDir, port: String(port), user: "postgres", database: database))
    }

    @discardableResult
    func execute(_ sql: String, database: String = "postgres") throws -> QueryResult {
        try connect(database: database).query(sql)
    }

    func scalar(_ sql: String, database: String = "postgres") throws -> String? {
        try execute(sql, database: database).single
    }

    /// After a restore: waits until recovery has ended and the server accepts writes.
    func waitForPromotion() throws {
        try waitUntil("recovery to end in \(dataDir) (log: \(logFile))") {
            (try? scalar("SELECT pg_is_in_recovery()::text")) == "false"
        }
    }

    /// The archived copy of the current WAL segment: switches and waits for the archiver.
    /// `passphrase`: the repository is encrypted with it.
    func switchWALAndWaitForArchive(repository: String, passphrase: String? = nil) throws {
        let segment = try scalar("SELECT pg_walfile_name(pg_current_wal_lsn())")!
        try execute("SELECT pg_switch_wal()")
        var storage: any RepositoryStorage = try PosixStorage.existing(repository)
        if let passphrase, let keyring = try Keyring.open(storage, passphrase: { Array(passphrase.utf8) }) {
            storage = EncryptedStorage(storage, keyring: keyring)
        }
        let repo = try Repository.open(storage: storage)
        try waitUntil("\(segment) to be archived") { try repo.wal.find(segment) != nil }
    }

    func runClient(_ tool: String, _ args: [String]) throws -> CommandResult {
        try Command.run(bin + "/" + tool, args, asPostgres: true, outputDirectory: scratch.path)
    }
}
