import PostgresFormat
import Repository

/// `pgbk show timeline`: each timeline, where it branched, its archived WAL and its gaps,
/// and the window of time a restore can reach.
public struct TimelineReport: Sendable {
    public struct Row: Sendable {
        public let timeline: TimelineID
        public let parent: TimelineID?
        public let switchLSN: LSN?
        public let firstSegment: String?
        public let lastSegment: String?
        public let segments: Int
        public let missing: [String]
    }

    public let rows: [Row]
    public let latest: TimelineID
    /// The timeline the gap and the window are judged along: the server's own when known
    /// (check), else production's as the catalog shows it (TimelineCatalog.productionTimeline).
    public let judged: TimelineID
    public let windowStart: String?
    public let lastTransaction: WALEvent?
    /// The first segment missing on the way from the oldest OK backup to the end of the
    /// judged timeline: the recoverable window ends there.
    public let firstGap: String?
    /// Whether archive-push dropped that segment (--archive-push-queue-max).
    public let firstGapDropped: Bool
    /// Every segment archive-push dropped that the archive lacks.
    public let dropped: [String]
    /// What receive-wal has received past the last whole archived segment: the segment it is
    /// receiving, where its whole records end, and when it last wrote.
    public let received: Received?

    public struct Received: Sendable {
        public let segment: String
        public let end: LSN
        public let writtenAt: Int64
    }
    /// Why receive-wal's partial cannot be used (not this cluster's WAL, unreadable).
    public let receivedProblem: String?

    /// The window in microseconds since 1970: from the oldest OK backup's recovery point to
    /// the last archived transaction's commit (nil where there is none).
    public var windowStartMicros: Int64? { windowStart.flatMap { parseTimestampMicros($0) }?.micros }
    public var windowEndMicros: Int64? {
        if case .transactionEnd(_, _, _, let micros)? = lastTransaction { return micros }
        return nil
    }

    /// `backups`: the catalog when the caller has read it already (each backup.ini is read
    /// once per command). `lastTransaction`: read the newest archived WAL for the window's
    /// end (false: the gap alone, from names, reading no WAL).
    public init(repository: Repository, timeline: TimelineID? = nil, backups loaded: [BackupInfo]? = nil,
                lastTransaction readLast: Bool = true) throws {
        let catalog = try TimelineCatalog(repository: repository)
        let size = catalog.segmentSize
        // After upgrade-repository: the current generation's backups, whose WAL this is.
        let identity = repository.identity
        let all = try (loaded ?? repository.loadAll().backups).filter { identity.holds(systemIdentifier: $0.systemIdentifier) }
        // Expire removes WAL older than the oldest usable backup's start: none is needed
        // before it, so a timeline's unarchived start before it is retention, not a gap.
        let retained = all.filter(\.isUsable).compactMap { $0.startLSN.map { $0.value / size } }.min()
        var rows: [Row] = []
        for tli in Set(catalog.histories.keys).union(catalog.segments.keys).sorted() {
            let numbers = catalog.segments[tli] ?? []
            // A dropped segment after the last archived one is a gap as well.
            let extent = numbers.union(catalog.dropped[tli] ?? [])
            var missing: [String] = []
            // A timeline begins in the segment holding its switch point: segments it never
            // archived from there on are gaps, even before its first archived one, unless
            // retention removed them.
            let begins = catalog.histories[tli]?.ancestors.last.map { max($0.switchLSN.value / size, retained ?? 0) }
            if let hi = extent.max(), let lo = begins.map({ min($0, extent.min()!) }) ?? extent.min() {
                var n = lo
                while n <= hi {
                    if !numbers.contains(n) { missing.append(WALSegmentName(timeline: tli, segmentNumber: n, segmentSize: size).name) }
                    n += 1
                }
            }
            let parent = catalog.histories[tli]?.ancestors.last
            rows.append(Row(timeline: tli, parent: parent?.timeline, switchLSN: parent?.switchLSN,
                            firstSegment: numbers.min().map { WALSegmentName(timeline: tli, segmentNumber: $0, segmentSize: size).name },
                            lastSegment: numbers.max().map { WALSegmentName(timeline: tli, segmentNumber: $0, segmentSize: size).name },
                            segments: numbers.count, missing: missing))
        }
        self.rows = rows
        latest = catalog.latest
        let judged = timeline ?? catalog.productionTimeline(newestBackup: all.last { $0.status == .ok || $0.status == .done })
        self.judged = judged
        // The window along the judged timeline starts at its oldest OK backup on its history.
        let backups = all.filter { b in
            b.status == .ok && (b.timeline == judged || b.stopLSN.map { catalog.isAncestor(b.timeline, at: $0, of: judged) } == true)
        }
        windowStart = backups.first?.recoveryTime
        // Recovery along the judged timeline stops at the first segment it cannot fetch.
        var gap: String? = nil
        if let oldest = backups.first?.startLSN, let lastSegno = catalog.lastSegment(along: judged, from: oldest.value / size) {
            var segno = oldest.value / size
            while segno <= lastSegno, gap == nil {
                let tli = catalog.timeline(forSegment: segno, along: judged)
                if catalog.segments[tli]?.contains(segno) != true {
                    gap = WALSegmentName(timeline: tli, segmentNumber: segno, segmentSize: size).name
                }
                segno += 1
            }
        }
        firstGap = gap
        firstGapDropped = gap.map { !catalog.droppedNote($0).isEmpty } ?? false
        dropped = catalog.dropped.flatMap { tli, numbers in numbers.map { WALSegmentName(timeline: tli, segmentNumber: $0, segmentSize: size).name } }.sorted()
        // The newest transaction: read the last two archived segments of the latest timeline.
        var last: WALEvent? = nil
        if readLast, gap == nil, let lastSegno = catalog.lastSegment(along: judged, from: 0) {
            let from = LSN((lastSegno > 0 ? lastSegno - 1 : 0) * size)
            // The cluster's WAL page size, as its backups recorded it (8192 unless built otherwise).
            let pageSize = Int(backups.last?.walBlockSize ?? 8192)
            let reader = ArchiveWALReader(repository: repository, catalog: catalog, pageSize: pageSize)
            if case .endOfArchive(let event) = try reader.scan(from: from, reportFrom: from, along: judged, stop: { _ in false }) {
                last = event
            }
        }
        lastTransaction = last
        do {
            received = try Self.received(repository, catalog: catalog, along: judged, pageSize: Int(backups.last?.walBlockSize ?? 8192))
            receivedProblem = nil
        } catch {
            received = nil
            receivedProblem = "receive-wal's partial segment cannot be used: \(oneLineDescription(error))"
        }
    }

    /// The newest partial on the judged timeline's path, read for where its records end.
    static func received(_ repository: Repository, catalog: TimelineCatalog, along judged: TimelineID, pageSize: Int) throws -> Received? {
        let partials = try repository.receiving.list().filter {
            catalog.timeline(forSegment: $0.segment.segmentNumber, along: judged) == $0.segment.timeline
        }
        guard let newest = partials.last else { return nil }
        let reader = ArchiveWALReader(repository: repository, catalog: catalog, pageSize: pageSize)
        guard let end = try reader.receivedEnd(segment: newest.segment.segmentNumber, along: judged) else { return nil }
        return Received(segment: newest.segment.name, end: end, writtenAt: newest.mtime)
    }
}
