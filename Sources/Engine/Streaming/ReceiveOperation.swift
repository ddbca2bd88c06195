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

    public init(connection: ConnectionParameters) {
        var connection = connection
        connection.replication = true
        self.connection = connection
    }
}

/// `pgbk receive-wal`: WAL over the replication protocol into a directory repository, as a
/// standby that can be synchronous. The segment being received is `wal/receiving/*.partial`,
/// fdatasync'ed before each status update reports it flushed, so that with
/// synchronous_standby_names naming it a COMMIT returns only once its WAL is on the
/// repository's disk. Each whole segment is published as archive-push publishes it (the same
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

    var receivingDirectory: String { repository.walRoot + "/" + ReceivingSegment.directoryName }

    /// Streams until stopped. The first connection's problems (another cluster, no
    /// replication privilege, a missing slot, WAL the server no longer has) end it with an
    /// error; a connection lost later is retried with backoff.
    public func run() throws {
        guard repository.storage is PosixStorage else {
            throw EngineError.invalidArgument("receive-wal writes into a directory repository; \(repository.path) is object storage")
        }
        var connection = try connect()
        try publishLeftovers()
        var backoff: UInt32 = 1
        while !stopRequested {
            do {
                try stream(on: connection)
                backoff = 1
            } catch where connection.isAlive == false {
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
