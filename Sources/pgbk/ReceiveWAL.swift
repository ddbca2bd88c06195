import ArgumentParser
import Engine
import Repository

/// `pgbk receive-wal`: WAL streamed into the repository as the server writes it.
struct ReceiveWAL: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receive-wal",
        abstract: "Stream WAL into the repository over the replication protocol, as a standby that can be synchronous (runs until SIGTERM).",
        discussion: "Each whole segment is stored as archive-push stores it, so archive_command may run alongside; the segment being received is wal/receiving/NAME.partial, made durable before the server is told it is flushed: fdatasync'ed in a directory repository; in object storage, written to a local spool and the partial object replaced every --partial-interval. With synchronous_standby_names naming --application-name and synchronous_commit = on, a COMMIT returns only once its WAL is in the repository.",
        helpNames: [.long])

    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var compression: CompressionOptions
    @Option(name: .customLong("slot"), help: "A physical replication slot, so that the server keeps the WAL not yet received (default: SLOT in the --server file, made when missing).")
    var slot: String?
    @Flag(name: .customLong("create-slot"), help: "Create the --slot if it does not exist.")
    var createSlot = false
    @Option(name: .customLong("status-interval"), parsing: .unconditional, help: "Seconds between status updates to the server when nothing else prompts one (default 10).")
    var statusInterval = 10
    @Option(name: .customLong("application-name"), help: "The name synchronous_standby_names refers to (default pgbk).")
    var applicationName = "pgbk"

    @Option(name: .customLong("partial-interval"), parsing: .unconditional, help: "Object storage: seconds between replacements of the partial object with what was received (default 10; a synchronous COMMIT waits up to this long).")
    var partialInterval = 10
    @Option(name: .customLong("spool-path"), help: "Object storage: the local directory for the segment being received (default $TMPDIR/pgbk-receive-wal-SYSTEMID).")
    var spoolPath: String?

    func validate() throws {
        guard partialInterval >= 0 else { throw ValidationError("--partial-interval must be 0 or more seconds, not \(partialInterval)") }
        if createSlot && slot == nil { throw ValidationError("--create-slot needs --slot NAME") }
        guard statusInterval >= 1 else { throw ValidationError("--status-interval must be at least 1 second, not \(statusInterval)") }
    }

    func run() throws {
        let repo = try repository.openForWriting()
        var options = ReceiveOptions(connection: connection.parameters(config: repo.config))
        options.connection.applicationName = applicationName
        // A backup host's server file names its slot; the server's side of it is made once.
        let serverSlot = repository.server == nil || slot != nil ? nil : try repository.localConfiguration().values["SLOT"]
        options.slot = slot ?? serverSlot
        options.createSlot = createSlot || serverSlot != nil
        options.statusIntervalSeconds = statusInterval
        options.partialIntervalSeconds = partialInterval
        options.spoolPath = spoolPath ?? (environment("TMPDIR") ?? "/tmp") + "/pgbk-receive-wal-\(repo.identity.systemIdentifier)"
        let (c, level) = try compression.resolve(repo.config)
        options.compression = c
        options.compressionLevel = level
        let operation = ReceiveOperation(repository: repo, options: options)
        operation.stopOnSignals()
        try operation.run()
    }
}
