import PostgresClient
import PostgresFormat
import Repository
import Synchronization
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

public struct ReceiveOptions: Sendable {
    public var connection: ConnectionParameters
    /// A physical replication slot: the server keeps the WAL receive-wal has not flushed.
    public var slot: String?
    public var createSlot = false
    /// Seconds between status updates when nothing else prompts one.
    public var statusIntervalSeconds = 10
    public var compression: Compression = .none
    public var compressionLevel: Int32 = 0
    /// Object storage: seconds between replacements of the repository's partial object.
    public var partialIntervalSeconds = 10
    /// Object storage: the local directory for the segment being received (the command line
    /// makes it $TMPDIR/pgbk-receive-wal-<system identifier> unless told).
    public var spoolPath = "/tmp/pgbk-receive-wal"

    public init(connection: ConnectionParameters) {
        var connection = connection
        connection.replication = true
        self.connection = connection
    }
}

/// `pgbk receive-wal`: WAL over the replication protocol into the repository, as a standby
/// that can be synchronous. The segment being received is `wal/receiving/*.partial`
/// (ReceivedPartials, ReceivingSegment), durable before each status update reports it
/// flushed, so that with synchronous_standby_names naming it a COMMIT returns only once its
/// WAL is in the repository. Each whole segment is published as archive-push publishes it (the same
/// checks and name), so receive-wal and archive_command may both run. Streaming starts at the
/// segment after the newest one the archive holds on the server's timeline, so a restart (or
/// a kill -9) continues without a gap; if the server no longer has that WAL, it says so.
public final class ReceiveOperation {
    let repository: Repository
    let options: ReceiveOptions
    private let stop = StopFlag()

    public init(repository: Repository, options: ReceiveOptions) {
        self.repository = repository
        self.options = options
    }

    /// SIGTERM or SIGINT: the current step finishes, the partial is flushed, and run returns.
    public func stopOnSignals() {
        var set = StopFlag.signals
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let stop = self.stop
        _ = LocalHost.startThread {
            var set = StopFlag.signals
            var signal: Int32 = 0
            while sigwait(&set, &signal) != 0 {}
            stop.flag.store(true, ordering: .sequentiallyConsistent)
        }
    }

    var stopRequested: Bool { stop.flag.load(ordering: .sequentiallyConsistent) }

    /// Where the segment being received is written: the repository's wal/receiving/ for a
    /// directory repository, else a local spool whose partial is uploaded at each flush.
    var receivingDirectory: String {
        repository.driver is PosixStorage ? repository.storage.describe(ReceivedPartials.directory) : options.spoolPath
    }

    var upload: ReceivingSegment.Upload? {
        repository.driver is PosixStorage ? nil : .init(storage: repository.storage, intervalSeconds: Double(options.partialIntervalSeconds))
    }

    /// Streams until stopped. The first connection's problems (another cluster, no
    /// replication privilege, a missing slot, WAL the server no longer has) end it with an
    /// error; a connection lost later is retried with backoff. What a stopped receiver left
    /// is published first, even when the server cannot be reached: a database host that is
    /// down is when its WAL is needed (pgbk cron starts receive-wal for this).
    public func run() throws {
        let lock = try lockReceiving()
        defer { lock.release() }
        let published = try publishLeftovers()
        if published > 0 { Console.info("receive-wal: stored \(published) whole segment(s) a stopped receive-wal left") }
        var connection = try connect()
        var backoff: UInt32 = 1
        while !stopRequested {
            do {
                try stream(on: connection)
                backoff = 1
            } catch where connection.isAlive == false || Self.slotStillHeld(error) {
                Console.warning("receive-wal: \(oneLineDescription(error)); reconnecting in \(backoff) s")
            }
            if stopRequested { break }
            sleep(backoff)
            backoff = min(backoff * 2, 30)
            do { connection = try connect() } catch {
                Console.warning("receive-wal: \(oneLineDescription(error))")
            }
        }
        Console.info("receive-wal stopped")
    }

    /// One receive-wal per repository on this host: a second would write the same partial.
    /// The lock is the host's (HostLocks), so that a failed start writes nothing into the
    /// repository. A local spool (object storage) is made private to this user first: a
    /// fixed name below /tmp must not be someone else's directory or link.
    private func lockReceiving() throws -> FileLock {
        guard let lock = try HostLocks.lockIfFree(Self.lockName(repository)) else {
            throw EngineError.invalidArgument("another pgbk receive-wal is receiving into \(repository.path) on this host")
        }
        if !(repository.driver is PosixStorage) { try FileSystem.makePrivateDirectory(receivingDirectory) }
        return lock
    }

    /// The host lock a receiver holds on its repository.
    static func lockName(_ repository: Repository) -> String { "receive-wal " + repository.storage.location }

    /// Whether a receive-wal holds its lock on `repository` on this host.
    public static func isRunning(into repository: Repository) throws -> Bool {
        guard let free = try HostLocks.lockIfFree(lockName(repository)) else { return true }
        free.release()
        return false
    }

    /// A replication connection to the repository's cluster, and the slot when asked for.
    private func connect() throws -> Connection {
        let connection = try Connection(options.connection)
        let identity = try connection.command("IDENTIFY_SYSTEM")
        let found = UInt64(identity.value(0, "systemid") ?? "") ?? 0
        guard found == repository.identity.systemIdentifier else {
            throw EngineError.clusterMismatch(what: "the server", found: found, expected: repository.identity.systemIdentifier,
                                              repository: repository.path)
        }
        if let slot = options.slot, options.createSlot {
            try createSlot(slot, on: connection)
        }
        return connection
    }

    private func createSlot(_ slot: String, on connection: Connection) throws {
        let syntax = connection.serverVersionNumber >= 150000 ? "PHYSICAL (RESERVE_WAL)" : "PHYSICAL RESERVE_WAL"
        do {
            try connection.command("CREATE_REPLICATION_SLOT \(try Self.quotedSlot(slot)) \(syntax)")
            Console.info("created replication slot \(slot)")
        } catch let error as PostgresError where error.sqlState == "42710" {
            // It exists already: a restart with --create-slot uses it.
        }
    }

    /// The slot is still held by the walsender of a receiver that just died (a kill -9 and a
    /// restart by systemd): it lets go once it notices, so this is worth a retry.
    static func slotStillHeld(_ error: any Error) -> Bool {
        (error as? PostgresError)?.sqlState == "55006"
    }

    /// Slot names are lower-case letters, digits and underscores (PostgreSQL's own rule).
    static func quotedSlot(_ slot: String) throws -> String {
        guard !slot.isEmpty, slot.count <= 63, slot.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }) else {
            throw EngineError.invalidArgument("--slot \(slot): a slot name is lower-case letters, digits and underscores, at most 63")
        }
        return slot
    }
}

/// Set once SIGTERM or SIGINT arrived.
final class StopFlag: Sendable {
    let flag = Atomic<Bool>(false)

    static var signals: sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        return set
    }
}
