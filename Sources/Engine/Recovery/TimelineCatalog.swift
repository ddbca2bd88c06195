import PostgresFormat
import Repository

/// What the archive knows about timelines: every archived `.history` file, and which
/// segments are archived on which timeline. The archive is listed once, here; a command
/// looks segments up in `files` instead of listing a directory per segment.
public struct TimelineCatalog: Sendable {
    public let histories: [TimelineID: TimelineHistory]
    /// Archived segment numbers per timeline.
    public let segments: [TimelineID: Set<UInt64>]
    public let segmentSize: UInt64
    /// Every archived file by WAL name (more than one copy of a name is reported on use).
    let files: [String: [ArchivedWAL]]
    /// Segments archive-push dropped (--archive-push-queue-max) that the archive lacks, per
    /// timeline: gaps whose cause is known, counted as the archive's extent (a drop after the
    /// last archived segment is a gap too).
    public let dropped: [TimelineID: Set<UInt64>]

    public init(repository: Repository) throws {
        segmentSize = UInt64(repository.identity.walSegmentSize)
        let archive = WALArchive(repository: repository)
        var histories: [TimelineID: TimelineHistory] = [:]
        var segments: [TimelineID: Set<UInt64>] = [:]
        let store = repository.wal
        let all = try store.listAll()
        for file in all where file.walName.hasSuffix(".history") {
            guard let tli = TimelineID(file.walName.prefix(8), radix: 16), let h = try archive.history(of: tli) else { continue }
            histories[tli] = h
        }
        for file in all {
            guard WALFileKind(fileName: file.walName) == .segment,
                  let name = WALSegmentName(file.walName, segmentSize: segmentSize) else { continue }
            segments[name.timeline, default: []].insert(name.segmentNumber)
        }
        self.histories = histories
        self.segments = segments
        files = Dictionary(grouping: all, by: \.walName)
        var dropped: [TimelineID: Set<UInt64>] = [:]
        for walName in try store.dropped() {
            // One archived later proves it missing; one before every archived segment of its
            // timeline lies where retention has removed WAL anyway.
            guard let name = WALSegmentName(walName, segmentSize: segmentSize),
                  segments[name.timeline]?.contains(name.segmentNumber) != true,
                  (segments[name.timeline]?.min()).map({ name.segmentNumber > $0 }) ?? true else { continue }
            dropped[name.timeline, default: []].insert(name.segmentNumber)
        }
        self.dropped = dropped
    }

    /// Whether archive-push dropped this missing segment, said after its name in a message.
    public func droppedNote(_ walName: String) -> String {
        guard let name = WALSegmentName(walName, segmentSize: segmentSize), dropped[name.timeline]?.contains(name.segmentNumber) == true else { return "" }
        return " (archive-push dropped it: the WAL waiting to be archived was over --archive-push-queue-max)"
    }

    /// The archived copy of `walName` as listed, nil when there is none; two copies are an
    /// error, as in WALArchiveStore.find.
    public func archived(_ walName: String, store: WALArchiveStore) throws -> ArchivedWAL? {
        try store.single(walName, among: files[walName] ?? [])
    }

    /// The newest timeline the archive knows of.
    public var latest: TimelineID {
        max(histories.keys.max() ?? 1, segments.keys.max() ?? 1)
    }

    /// The timeline whose continuity matters when no server says which is its own: the newest
    /// backup's, or the newest timeline that branched from it after that backup (a failover
    /// since). A branch from an earlier point is another node's (a PITR copy restored into
    /// the past that archived here) and never decides whether production's WAL has a gap.
    public func productionTimeline(newestBackup: BackupInfo?) -> TimelineID {
        guard let newest = newestBackup, let stop = newest.stopLSN else { return latest }
        let known = Set(histories.keys).union(segments.keys).union([newest.timeline])
        return known.filter { $0 == newest.timeline || ($0 > newest.timeline && isAncestor(newest.timeline, at: stop, of: $0)) }.max()
            ?? newest.timeline
    }

    /// The history of `tli` (a timeline without a history file has no ancestors).
    public func history(of tli: TimelineID) -> TimelineHistory {
        histories[tli] ?? TimelineHistory(timeline: tli, ancestors: [])
    }

    /// Whether `lsn` on `tli` is in the past of `target`.
    public func isAncestor(_ tli: TimelineID, at lsn: LSN, of target: TimelineID) -> Bool {
        history(of: target).contains(lsn, on: tli)
    }

    /// The timeline whose file holds segment `segno` when recovering along `target`'s history:
    /// the newest one that had begun by that segment (PostgreSQL's XLogFileReadAnyTLI order).
    public func timeline(forSegment segno: UInt64, along target: TimelineID) -> TimelineID {
        let h = history(of: target)
        let ancestors = h.effectiveAncestors
        var chosen = ancestors.first?.timeline ?? target
        var begin: UInt64 = 0
        for entry in ancestors {
            if begin <= segno { chosen = entry.timeline }
            begin = entry.switchLSN.value / segmentSize
        }
        if begin <= segno { chosen = target }
        return chosen
    }

    /// The last archived (or dropped) segment on the path to `target` at or after `from`, if any.
    public func lastSegment(along target: TimelineID, from: UInt64) -> UInt64? {
        var last: UInt64? = nil
        for (tli, numbers) in segments.merging(dropped, uniquingKeysWith: { $0.union($1) }) {
            for n in numbers where n >= from && timeline(forSegment: n, along: target) == tli {
                if last == nil || n > last! { last = n }
            }
        }
        return last
    }
}
