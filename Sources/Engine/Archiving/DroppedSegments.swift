import PostgresFormat
import Repository

/// --archive-push-queue-max: when more WAL waits to be archived than the limit, a segment is
/// let go unarchived (exit 0: PostgreSQL recycles it) rather than fill the primary's disk.
/// The gap is never silent: it is recorded in the spool first (pg_wal/pgbk-push/dropped/,
/// which check reads), then in every repository (wal/dropped/, which check, show timeline,
/// the metrics, validate and restore read); what cannot reach a repository now is carried
/// there by the next push that succeeds.
public struct DroppedSegments: Sendable {
    let spool: WALPushSpool
    /// Records one drop in every repository (all or an error).
    let record: @Sendable (_ walName: String, _ reason: String) throws -> Void

    public init(spool: WALPushSpool, record: @escaping @Sendable (_ walName: String, _ reason: String) throws -> Void) {
        self.spool = spool
        self.record = record
    }

    public var directory: String { spool.directory + "/dropped" }

    public func dropIfQueueOver(_ limit: UInt64?, path: String) throws -> Bool {
        let walName = FileSystem.baseName(of: path)
        guard let limit, WALFileKind(fileName: walName) == .segment else { return false }
        let segmentSize = try FileSystem.status(path, followLinks: true).size
        let waiting = UInt64(spool.ready().count) * segmentSize
        guard waiting > limit else { return false }
        let reason = "\(waiting) bytes of WAL waited to be archived, over --archive-push-queue-max \(limit), at \(Timestamp.now())"
        try FileSystem.makeDirectories(directory)
        try AtomicFile.write(directory + "/" + walName, text: reason + "\n")
        Console.warning("DROPPED \(walName) unarchived: \(reason); the archive has a gap from here, recovery cannot pass it: take a full backup once archiving works again")
        flush()
        return true
    }

    /// Records every locally kept drop in every repository; keeps what failed for later.
    public func flush() {
        guard let names = try? FileSystem.list(directory), !names.isEmpty else { return }
        for walName in names where WALFileKind(fileName: walName) == .segment {
            let reason = ((try? FileSystem.readText(directory + "/" + walName, limit: 4096)) ?? "").split(separator: "\n").first.map(String.init) ?? ""
            do {
                try record(walName, reason)
                try FileSystem.remove(directory + "/" + walName)
            } catch {
                Console.warning("the drop of \(walName) is not recorded in the repository yet (\(oneLineDescription(error))); the next archive-push tries again")
            }
        }
    }
}
