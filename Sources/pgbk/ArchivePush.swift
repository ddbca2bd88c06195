import ArgumentParser
import Engine
import PostgresFormat
import Repository
import Synchronization

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

struct ArchivePush: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "archive-push",
        abstract: "Archive one WAL file (archive_command = 'pgbk archive-push -B PATH %p').",
        discussion: """
        With several repositories it stores the file in every one (--repo N: in that one only) and exits 0 only when every one holds it; when one fails, the others still get it, and the error names the one that failed. PostgreSQL then retries, and the repositories that hold the file accept the retry as identical.
        With --async (or ARCHIVE_PUSH_ASYNC=on in the configuration file), the call starts, or finds, one background pgbk per cluster that stores every file PostgreSQL has marked ready, -j at a time, and leaves a receipt for each in a spool directory (default: pgbk-push beside %p, in pg_wal). A call still exits 0 only once its own file is stored: it checks the receipt against the file's size and CRC-32C and the repositories it names; without one in --archive-timeout seconds, or when the background pgbk failed on the file, it pushes the file itself. The background pgbk exits when nothing has been ready for a while.
        """,
        helpNames: [.long])

    static let defaultJobs = 4
    static let defaultTimeout = 60

    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var compression: CompressionOptions
    @Flag(name: .customLong("async"), help: "Push ahead in the background (default: ARCHIVE_PUSH_ASYNC in the configuration file, else off).")
    var async = false
    @Option(name: [.customShort("j", allowingJoined: true), .customLong("jobs")], parsing: .unconditional,
            help: "With --async, files pushed in parallel (default: ARCHIVE_PUSH_JOBS, else 4).")
    var jobs: Int?
    @Option(name: .customLong("spool-path"), help: "With --async, where the receipts are kept (default: pgbk-push beside %p).")
    var spoolPath: String?
    @Option(name: .customLong("archive-timeout"), parsing: .unconditional,
            help: "With --async, seconds a call waits for the background pgbk before it pushes its file itself (default 60).")
    var archiveTimeout: Int = Self.defaultTimeout
    @Option(name: .customLong("archive-push-queue-max"),
            help: "Off by default. When more WAL than this (with K, M or G) waits to be archived, a call lets PostgreSQL recycle its segment unarchived, to save the primary's disk, and records the gap this makes in the repository, which check, show timeline, the metrics and restore then report (default: ARCHIVE_PUSH_QUEUE_MAX).")
    var queueMax: String?
    @Flag(name: .customLong("pusher"), help: .hidden) var pusher = false
    @Option(name: .customLong("pusher-idle"), help: .hidden) var pusherIdle: Double = 10
    @Argument(help: "The file to archive (%p).") var path: String

    func run() throws {
        let targets = ArchiveTargets(repository: repository, compression: compression, targets: try repository.chosenPaths())
        let drops = DroppedSegments(spool: spool, record: targets.recordDropped)
        if pusher { return try runPusher(targets, drops: drops) }
        if try drops.dropIfQueueOver(try queueLimit(), path: path) { return }
        guard try isAsync() else {
            try targets.push(path)
            return drops.flush()
        }
        try pushAhead(targets)
    }

    private func queueLimit() throws -> UInt64? {
        guard let text = try queueMax ?? repository.localConfiguration().value("ARCHIVE_PUSH_QUEUE_MAX") else { return nil }
        guard let bytes = ByteSize.parse(text).flatMap(UInt64.init(exactly:)), bytes > 0 else {
            throw EngineError.invalidArgument("--archive-push-queue-max/ARCHIVE_PUSH_QUEUE_MAX must be a size such as 4G, not \(text)")
        }
        return bytes
    }

    private func isAsync() throws -> Bool {
        if async { return true }
        guard let value = try repository.localConfiguration().value("ARCHIVE_PUSH_ASYNC") else { return false }
        switch value.lowercased() {
        case "on", "y", "yes", "true", "1": return true
        case "off", "n", "no", "false", "0": return false
        default: throw EngineError.invalidArgument("ARCHIVE_PUSH_ASYNC must be on or off, not \(value)")
        }
    }

    private func resolvedJobs() throws -> Int {
        let text = try jobs.map(String.init) ?? repository.localConfiguration().value("ARCHIVE_PUSH_JOBS")
        guard let text else { return Self.defaultJobs }
        guard let n = Int(text), (1...64).contains(n) else {
            throw EngineError.invalidArgument("-j/--jobs/ARCHIVE_PUSH_JOBS must be 1 to 64, not \(text)")
        }
        return n
    }

    var spool: WALPushSpool {
        WALPushSpool(directory: spoolPath ?? WALPushSpool.defaultDirectory(forSource: path),
                     walDirectory: FileSystem.parentDirectory(of: FileSystem.absolute(path)))
    }

    /// An archive_command call with --async: exits 0 once a receipt certifies this file's
    /// bytes in these repositories, most of the time at once.
    private func pushAhead(_ targets: ArchiveTargets) throws {
        let jobs = try resolvedJobs()
        guard archiveTimeout >= 0 else { throw EngineError.invalidArgument("--archive-timeout must be 0 or more seconds, not \(archiveTimeout)") }
        let spool = self.spool
        let walName = FileSystem.baseName(of: path)
        try spool.makeDirectory()
        let content = try WALPushSpool.checksum(of: path)
        let expected = WALPushSpool.Receipt(size: content.size, checksum: content.checksum, repositories: targets.receiptName)
        var lastStart: Double?
        let stored = poll(forSeconds: Double(archiveTimeout), firstDelay: 1_000, longestDelay: 20_000) {
            if spool.receipt(walName) == expected { return true }
            if spool.failure(walName) != nil { return true }
            // A pusher that has just been started needs a moment to take the lock.
            if lastStart.map({ monotonicSeconds() - $0 > 1 }) ?? true, !spool.lockHeld() {
                startPusher(jobs: jobs)
                lastStart = monotonicSeconds()
            }
            return false
        } && spool.receipt(walName) == expected
        if stored { return Console.detail("archived \(path) (stored ahead by the background archive-push)") }
        if let failure = spool.failure(walName) {
            Console.warning("the background archive-push failed on \(walName) (\(failure)); pushing it here")
        } else {
            Console.warning("the background archive-push did not store \(walName) within \(archiveTimeout) s; pushing it here")
        }
        try targets.push(path)
    }

    /// One detached pgbk with this command line and --pusher; its warnings go to
    /// PostgreSQL's log through stderr.
    private func startPusher(jobs: Int) {
        let args = [selfExecutablePath()] + Array(CommandLine.arguments.dropFirst()) + ["-j", String(jobs), "--pusher"]
        if (try? ChildProcess.start(args, detached: true, inheritStderr: true)) == nil {
            Console.warning("cannot start the background archive-push")
        }
    }

    private func runPusher(_ targets: ArchiveTargets, drops: DroppedSegments) throws {
        let spool = self.spool
        try spool.makeDirectory()
        drops.flush()
        let pusher = WALPusher(spool: spool, jobs: try resolvedJobs(), idleSeconds: pusherIdle,
                               repositories: targets.receiptName) {
            try targets.push($0)
            drops.flush()
        }
        _ = pusher.run()
    }
}

/// The repositories archive-push stores into. Each is opened (and checked as a writer)
/// once, and again after a failure: the background pusher pushes many files through one.
final class ArchiveTargets: Sendable {
    let repository: RepositoryOptions
    let compression: CompressionOptions
    let targets: [(number: Int, path: String)]
    private let opened = Mutex<[Int: Repository]>([:])

    init(repository: RepositoryOptions, compression: CompressionOptions, targets: [(number: Int, path: String)]) {
        self.repository = repository
        self.compression = compression
        self.targets = targets
    }

    /// What a receipt names: every repository's number and location.
    var receiptName: String { targets.map { "\($0.number) \($0.path)" }.joined(separator: " | ") }

    /// Stores the file in every repository at once (the call takes as long as the slowest,
    /// not the sum); with several, names each that failed.
    func push(_ path: String) throws {
        try repository.refuseTargetTime()
        guard targets.count > 1 else { return try push(path, into: 0, label: nil) }
        let failed = WorkerPool.concurrently(targets.count) { n -> String? in
            let label = RepositoryLabel.label(self.targets[n].number, self.targets[n].path)
            do {
                try self.push(path, into: n, label: label)
                return nil
            } catch {
                return "\(label): \(oneLineDescription(error))"
            }
        }.compactMap { $0 }
        guard failed.isEmpty else {
            throw EngineError.archiveIncomplete(file: FileSystem.baseName(of: path), held: targets.count - failed.count, of: targets.count, failures: failed)
        }
    }

    private func push(_ path: String, into n: Int, label: String?) throws {
        do {
            let repo = try open(n)
            let name = label.map { " in " + $0 } ?? ""
            let (c, level) = try compression.resolve(repo.config)
            switch try WALArchive(repository: repo).push(path, compression: c, level: level) {
            case .stored(let stored): Console.detail("archived \(path) as \(stored)\(name)")
            case .alreadyArchived: Console.info("\(FileSystem.baseName(of: path)) is already archived\(name) with identical content")
            }
        } catch {
            _ = opened.withLock { $0.removeValue(forKey: n) }
            throw error
        }
    }

    /// Records a dropped segment in every repository (all or an error).
    func recordDropped(_ walName: String, reason: String) throws {
        try repository.refuseTargetTime()
        for n in targets.indices { try open(n).wal.recordDropped(walName, reason: reason) }
    }

    private func open(_ n: Int) throws -> Repository {
        if let repo = opened.withLock({ $0[n] }) { return repo }
        let repo = try Repository.open(storage: try repository.storage(path: targets[n].path))
        try repo.checkWriter()
        opened.withLock { $0[n] = repo }
        return repo
    }
}
