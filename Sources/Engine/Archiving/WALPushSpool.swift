import PostgresFormat
import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Asynchronous archive-push's shared state on the database host, as pgBackRest's spool
/// `out` directory: a background pusher stores the segments PostgreSQL has marked ready
/// (`archive_status/NAME.ready`) ahead of the archive_command calls for them, and leaves a
/// receipt per stored file, `NAME.ok`. A call then exits 0 at once, but only when the receipt
/// names exactly the bytes it was given and the repositories it would have pushed to: a
/// receipt is a claim about content, checked each time, never a flag that is trusted.
/// The directory sits in pg_wal, which backups never copy, so a restored copy starts without
/// its source's receipts.
public struct WALPushSpool: Sendable {
    public let directory: String
    /// pg_wal, and its archive_status, where PostgreSQL marks what waits to be archived.
    public let walDirectory: String
    public var statusDirectory: String { walDirectory + "/archive_status" }

    public static func defaultDirectory(forSource path: String) -> String {
        FileSystem.parentDirectory(of: FileSystem.absolute(path)) + "/pgbk-push"
    }

    public init(directory: String, walDirectory: String) {
        self.directory = directory
        self.walDirectory = walDirectory
    }

    var lockPath: String { directory + "/pusher.lock" }

    /// What a receipt certifies: this many bytes with this CRC-32C are stored in every one
    /// of these repositories (their numbers and locations, one line).
    public struct Receipt: Sendable, Equatable {
        public let size: UInt64
        public let checksum: UInt32
        public let repositories: String

        public init(size: UInt64, checksum: UInt32, repositories: String) {
            self.size = size
            self.checksum = checksum
            self.repositories = repositories
        }

        var text: String { "\(size) \(CRC32C.hex(checksum))\n\(repositories)\n" }

        static func parse(_ text: String) -> Receipt? {
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            guard lines.count == 3, lines[2].isEmpty else { return nil }
            let fields = lines[0].split(separator: " ")
            guard fields.count == 2, let size = UInt64(fields[0]), let crc = CRC32C.parseHex(fields[1]) else { return nil }
            return Receipt(size: size, checksum: crc, repositories: String(lines[1]))
        }
    }

    public func makeDirectory() throws {
        if !FileSystem.isDirectory(directory) { try FileSystem.makeDirectories(directory) }
    }

    /// The receipt for `walName`, if one is there and readable.
    public func receipt(_ walName: String) -> Receipt? {
        (try? FileSystem.readText(directory + "/" + walName + ".ok", limit: 4096)).flatMap { Receipt.parse($0) }
    }

    public func recordStored(_ walName: String, _ receipt: Receipt) throws {
        try AtomicFile.write(directory + "/" + walName + ".ok", text: receipt.text)
        try? FileSystem.remove(directory + "/" + walName + ".error")
    }

    /// The pusher's last failure for `walName` (one line), so that the call waiting for it
    /// stops waiting and pushes the file itself, which reports the error to PostgreSQL's log.
    public func recordFailure(_ walName: String, _ message: String) {
        try? AtomicFile.write(directory + "/" + walName + ".error", text: message + "\n")
    }

    public func failure(_ walName: String) -> String? {
        (try? FileSystem.readText(directory + "/" + walName + ".error", limit: 4096))
            .map { $0.split(separator: "\n").first.map(String.init) ?? "" }
    }

    public func clearFailure(_ walName: String) {
        try? FileSystem.remove(directory + "/" + walName + ".error")
    }

    /// The files PostgreSQL waits to archive, in the order it archives them: timeline
    /// history files first, then by name (which is WAL order within a timeline).
    public func ready() -> [String] {
        let names = ((try? FileSystem.list(statusDirectory)) ?? []).compactMap { entry -> String? in
            guard entry.hasSuffix(".ready") else { return nil }
            let name = String(entry.dropLast(6))
            return WALFileKind(fileName: name) == nil ? nil : name
        }
        return names.sorted { a, b in
            let (ha, hb) = (a.hasSuffix(".history"), b.hasSuffix(".history"))
            return ha != hb ? ha : a < b
        }
    }

    /// Receipts and failures of files no longer waiting (archived, PostgreSQL renamed their
    /// .ready to .done); with `temporaries`, what a killed pusher was writing (only by a
    /// pusher that holds the lock and has not started writing).
    public func trim(waiting: Set<String>, temporaries: Bool = false) {
        for entry in (try? FileSystem.list(directory)) ?? [] {
            let path = directory + "/" + entry
            if AtomicFile.isTemporaryName(entry) {
                if temporaries { try? FileSystem.remove(path) }
                continue
            }
            for suffix in [".ok", ".error"] where entry.hasSuffix(suffix) {
                if !waiting.contains(String(entry.dropLast(suffix.count))) { try? FileSystem.remove(path) }
            }
        }
    }

    /// Whether a pusher is at work (it holds the spool's lock).
    public func lockHeld() -> Bool { SpoolLock(path: lockPath).isHeld() }

    /// The pusher's lock, or nil when another pusher has it.
    public func tryLock() -> FileLock? { SpoolLock(path: lockPath).take() }

    /// What `check` shows of asynchronous archive-push: whether a pusher runs, what waits
    /// (and since when), and the files it last failed on.
    public struct Status: Sendable, Equatable {
        public var running: Bool
        public var waiting: Int
        public var oldestWaitingSince: Int64?
        public var failures: [String]
        /// Segments dropped (--archive-push-queue-max) whose record has not reached the
        /// repository yet.
        public var droppedUnrecorded: [String]

        public init(running: Bool, waiting: Int, oldestWaitingSince: Int64?, failures: [String], droppedUnrecorded: [String] = []) {
            self.running = running
            self.waiting = waiting
            self.oldestWaitingSince = oldestWaitingSince
            self.failures = failures
            self.droppedUnrecorded = droppedUnrecorded
        }
    }

    /// nil where no asynchronous archive-push has run (no spool directory).
    public func status() -> Status? {
        guard FileSystem.isDirectory(directory) else { return nil }
        let ready = ready()
        let oldest = ready.compactMap { try? FileSystem.status(statusDirectory + "/" + $0 + ".ready").mtime }.min()
        let failures = ready.compactMap { name in failure(name).map { "\(name): \($0)" } }
        let dropped = ((try? FileSystem.list(directory + "/dropped")) ?? []).filter { WALFileKind(fileName: $0) == .segment }.sorted()
        return Status(running: lockHeld(), waiting: ready.count, oldestWaitingSince: oldest, failures: failures, droppedUnrecorded: dropped)
    }

    /// Size and CRC-32C of a file PostgreSQL asks to archive: what a receipt is checked against.
    public static func checksum(of path: String) throws -> (size: UInt64, checksum: UInt32) {
        try sizeAndChecksum(of: path)
    }
}
