import ArgumentParser
import Engine
import ObjectStorage
import PostgresFormat
import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

struct ArchiveGet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "archive-get",
        abstract: "Restore one archived WAL file (restore_command = 'pgbk archive-get -B PATH %f %p').",
        discussion: """
        Exits 1 silently when the file is not archived (normal at the end of recovery). Any other failure exits 200, which makes PostgreSQL stop recovery instead of ending it early with transactions missing.
        From object storage, the segments after the one asked for are fetched ahead, in parallel, by one background pgbk into a spool directory (default: pgbk-prefetch beside %p, in pg_wal), at most --queue-max bytes; pgbk restore sets recovery_end_command to remove it (--end-of-recovery).
        """,
        helpNames: [.long])

    static let fatalExitCode: Int32 = 200
    static let defaultObjectStoreQueue: UInt64 = 128 << 20

    @OptionGroup var repository: RepositoryOptions
    @Argument(help: "The WAL file name (%f).") var walName: String?
    @Argument(help: "Where to write it (%p).") var destination: String?

    @Option(name: .customLong("queue-max"), help: "Bytes of WAL to fetch ahead, with K, M or G (default: ARCHIVE_GET_QUEUE_MAX, else 128M from object storage and 0 from a directory).")
    var queueMax: String?
    @Option(name: .customLong("spool-path"), help: "Where fetched-ahead segments wait (default: pgbk-prefetch beside %p).")
    var spoolPath: String?
    @Option(name: [.customShort("j", allowingJoined: true), .customLong("jobs")], help: "Segments fetched ahead in parallel (default 4).")
    var jobs: Int = 4
    @Flag(name: .customLong("end-of-recovery"), help: "Remove the spool directory (recovery_end_command).")
    var endOfRecovery = false
    @Option(name: .customLong("prefetch-after"), help: .hidden)
    var prefetchAfter: String?
    @Option(name: .customLong("generation"), help: "Fetch from the WAL of this generation of the repository (a restore of a backup taken before upgrade-repository writes it into restore_command); no fetching ahead.")
    var generation: Int?

    /// The repository as the generation asked for was; itself without --generation.
    private func scoped(_ repo: Repository) throws -> Repository {
        guard let generation else { return repo }
        guard let view = repo.asGeneration(generation) else {
            throw EngineError.invalidArgument("--generation \(generation): \(repo.path) has generations 1 to \(repo.identity.generation)")
        }
        return view
    }

    func validate() throws {
        guard (1...64).contains(jobs) else { throw ValidationError("-j/--jobs must be 1 to 64, not \(jobs)") }
        if !endOfRecovery && prefetchAfter == nil && (walName == nil || destination == nil) {
            throw ValidationError("archive-get needs the WAL file name (%f) and where to write it (%p)")
        }
    }

    func run() throws {
        do {
            if endOfRecovery {
                let directory = spoolPath ?? WALPrefetchSpool.defaultDirectory(forDestination: "pg_wal/x")
                try WALPrefetchSpool(directory: directory, maxBytes: 0, segmentSize: 1).remove()
                return
            }
            if generation == nil, try fromSpoolAlone() { return }
            // With several repositories the first is read (and fetched ahead from); the others
            // are tried in order for what it lacks, holds damaged or cannot give.
            let others = try repository.repo == nil ? Array(repository.chosenPaths().dropFirst()) : []
            let repo: Repository
            do { repo = try scoped(try repository.open()) } catch where !others.isEmpty && prefetchAfter == nil {
                guard let walName, let destination else { return }
                Console.warning("\(RepositoryLabel.label(1, try repository.resolvedPath())): \(describe(error))")
                return try fetch(nil, walName, destination, others: others)
            }
            let archive = WALArchive(repository: repo)
            let queue = try queueBytes(repo)
            if let after = prefetchAfter {
                // The background prefetcher: a spool beside the destination it was told of.
                guard let spool = try spool(repo, queue: queue, destination: destination ?? "pg_wal/x") else { return }
                try spool.fill(after: after, archive: archive, jobs: jobs)
                return
            }
            guard let walName, let destination else { return }
            guard generation == nil, let spool = try spool(repo, queue: queue, destination: destination),
                  WALSegmentName(walName, segmentSize: UInt64(repo.identity.walSegmentSize)) != nil else {
                try fetch(archive, walName, destination, others: others)
                return
            }
            spool.trim(before: walName)
            var taken = try spool.take(walName, to: destination)
            if !taken && spool.lockHeld() {
                spool.waitFor(walName)
                taken = try spool.take(walName, to: destination)
            }
            if taken {
                Console.detail("restored \(walName) (fetched ahead)")
            } else {
                try fetch(archive, walName, destination, others: others)
            }
            if !spool.lockHeld() { startPrefetcher(after: walName, spool: spool) }
        } catch let code as ExitCode {
            throw code
        } catch {
            Console.error(describe(error))
            throw ExitCode(Self.fatalExitCode)
        }
    }

    /// A segment the prefetcher queued from this repository is handed out without opening
    /// the repository (not one request: most of recovery's calls end here). The prefetcher
    /// starts again when half the queue is used.
    private func fromSpoolAlone() throws -> Bool {
        guard let walName, let destination, queueMax != "0" else { return false }
        let directory = spoolPath ?? WALPrefetchSpool.defaultDirectory(forDestination: destination)
        guard let source = WALPrefetchSpool.source(in: directory), source.location == (try repository.resolvedPath()),
              WALSegmentName(walName, segmentSize: source.segmentSize) != nil else { return false }
        let spool = WALPrefetchSpool(source: source, directory: directory)
        spool.trim(before: walName)
        var taken = try spool.take(walName, to: destination)
        if !taken && spool.lockHeld() {
            spool.waitFor(walName)
            taken = try spool.take(walName, to: destination)
        }
        guard taken else { return false }
        Console.detail("restored \(walName) (fetched ahead)")
        if !spool.lockHeld() && spool.queuedCount <= spool.capacity / 2 { startPrefetcher(after: walName, spool: spool) }
        return true
    }

    /// From the first repository (`first`, nil when it could not be opened), else from the
    /// others in order. "Not archived" (exit 1, which ends recovery) only when every
    /// repository answered so; any that could not answer makes it a failure (200).
    private func fetch(_ first: WALArchive?, _ walName: String, _ destination: String, others: [(number: Int, path: String)]) throws {
        var unanswered = first == nil ? 1 : 0
        if let first {
            do {
                if case .restored = try first.get(walName, to: destination) { return Console.detail("restored \(walName)") }
            } catch where !others.isEmpty {
                Console.warning("\(RepositoryLabel.label(1, try repository.resolvedPath())): \(describe(error))")
                unanswered += 1
            }
        }
        for (number, path) in others {
            let name = RepositoryLabel.label(number, path)
            do {
                let archive = WALArchive(repository: try scoped(try repository.open(path: path)))
                if case .restored = try archive.get(walName, to: destination) {
                    return Console.warning("restored \(walName) from \(name), the first repository could not give it")
                }
            } catch {
                Console.warning("\(name): \(describe(error))")
                unanswered += 1
            }
        }
        guard unanswered > 0 else { throw ExitCode(1) }
        throw EngineError.noUsableBackup("\(walName): \(unanswered) of \(others.count + 1) repositories could not be read, and none of the others holds it")
    }

    private func queueBytes(_ repo: Repository) throws -> UInt64 {
        let text = try queueMax ?? repository.localConfiguration().value("ARCHIVE_GET_QUEUE_MAX") ?? repo.config["ARCHIVE_GET_QUEUE_MAX"]
        // A local filesystem (it can rename) gains nothing from fetching ahead.
        guard let text else { return repo.storage.features.contains(.rename) ? 0 : Self.defaultObjectStoreQueue }
        guard let bytes = ByteSize.parse(text).flatMap(UInt64.init(exactly:)) else {
            throw EngineError.invalidArgument("--queue-max/ARCHIVE_GET_QUEUE_MAX must be a size such as 128M, not \(text)")
        }
        return bytes
    }

    private func spool(_ repo: Repository, queue: UInt64, destination: String) throws -> WALPrefetchSpool? {
        let segmentSize = UInt64(repo.identity.walSegmentSize)
        guard queue >= segmentSize else { return nil }
        let directory = spoolPath ?? WALPrefetchSpool.defaultDirectory(forDestination: destination)
        if !FileSystem.isDirectory(directory) { try FileSystem.makeDirectories(directory) }
        return WALPrefetchSpool(directory: directory, maxBytes: queue, segmentSize: segmentSize)
    }

    /// One detached pgbk (its own session, so that recovery never waits for it) with the
    /// same repository options; its errors go to PostgreSQL's log through stderr.
    private func startPrefetcher(after walName: String, spool: WALPrefetchSpool) {
        var args = [selfExecutablePath(), "archive-get"] + repository.commandLineArguments
        args += ["--queue-max", String(spool.maxBytes), "--spool-path", spool.directory, "-j", String(jobs),
                 "--prefetch-after", walName]
        if (try? ChildProcess.start(args, detached: true, inheritStderr: true)) == nil {
            Console.warning("cannot start the WAL prefetcher; recovery goes on fetching one segment at a time")
        }
    }
}
