import PostgresFormat
import Repository

/// The recoverable window over time, as `show timeline` draws it in the terminal and
/// `report --html` in SVG: per timeline, when its WAL was archived and where segments are
/// missing; the backups; the window; the retention horizon. Times are archive times (a
/// segment's stored file), seconds since 1970.
public struct RecoveryPicture: Sendable {
    public struct Lane: Sendable {
        public let timeline: TimelineID
        /// Archive time of each archived segment, by segment number.
        public let archived: [(segment: String, time: Int64)]
        /// Missing segments, placed at the archive time of the next archived one.
        public let gaps: [(segment: String, time: Int64)]
    }

    public let from: Int64
    public let to: Int64
    public let lanes: [Lane]
    public let backups: [BackupInfo]
    public let drills: [DrillRecord]
    /// The oldest OK backup's recovery point, and the last archived transaction.
    public let windowStart: Int64?
    public let windowEnd: Int64?
    /// The start of the oldest backup the retention settings in pgbk.ini keep (nil without any).
    public let horizon: Int64?

    public static func read(_ repository: Repository, report: TimelineReport? = nil, now: Timestamp = .now()) throws -> RecoveryPicture {
        let report = try report ?? TimelineReport(repository: repository)
        let segmentSize = UInt64(repository.identity.walSegmentSize)
        let files = try repository.wal.listAll().compactMap { file -> (WALSegmentName, Int64)? in
            guard WALFileKind(fileName: file.walName) == .segment, let name = WALSegmentName(file.walName, segmentSize: segmentSize) else { return nil }
            return (name, file.mtime)
        }
        var lanes: [Lane] = []
        for row in report.rows {
            let mine = files.filter { $0.0.timeline == row.timeline }.sorted { $0.0.segmentNumber < $1.0.segmentNumber }
            let gaps = row.missing.compactMap { missing -> (String, Int64)? in
                guard let name = WALSegmentName(missing, segmentSize: segmentSize) else { return nil }
                let next = mine.first { $0.0.segmentNumber > name.segmentNumber } ?? mine.last
                return next.map { (missing, $0.1) }
            }
            lanes.append(Lane(timeline: row.timeline, archived: mine.map { ($0.0.name, $0.1) }, gaps: gaps))
        }
        let (backups, _) = try repository.loadAll()
        let shown = backups.filter { $0.status != .deleted }
        let drills = (try? repository.loadDrills().drills) ?? []
        let windowEnd = report.windowEndMicros.map { $0 / 1_000_000 }
        let windowStart = report.windowStartMicros.map { $0 / 1_000_000 }
        var horizon: Int64?
        let g = repository.config["KEEP_DATA_GENERATIONS"].flatMap { Int($0) }, d = repository.config["KEEP_DATA_DAYS"].flatMap { Int($0) }
        if g != nil || d != nil {
            let kept = Set(RetentionPlanner.plan(shown, policy: .init(generations: g, days: d), now: now).keep)
            horizon = shown.first { kept.contains($0.id) }?.startTime.seconds
        }
        let times = files.map(\.1) + shown.map(\.startTime.seconds) + drills.map(\.endTime.seconds)
        let from = times.min() ?? now.seconds
        return RecoveryPicture(from: from, to: max(now.seconds, from + 1), lanes: lanes, backups: shown, drills: drills,
                               windowStart: windowStart, windowEnd: windowEnd, horizon: horizon)
    }

    /// How long a column of `width` spans, rounded to the second (at least one).
    public func secondsPerColumn(width: Int) -> Int64 {
        max(1, (max(1, to - from) + Int64(width) / 2) / Int64(width))
    }

    /// 0 ..< width: the column (or x) of a moment.
    public func position(_ time: Int64, width: Int) -> Int {
        let span = Double(max(1, to - from))
        return min(width - 1, max(0, Int(Double(time - from) / span * Double(width))))
    }

    /// One line per timeline, `width` columns of time: `=` archived WAL, `F`/`I` an OK full or
    /// incremental backup (lower case when not OK), `!` missing WAL; then a line with `[` at
    /// the window's start, `]` at its end and `R` at the retention horizon.
    public func bars(width: Int) -> [String] {
        var lines: [String] = []
        for lane in lanes {
            var cells = [Character](repeating: " ", count: width)
            for (_, time) in lane.archived { cells[position(time, width: width)] = "=" }
            for (_, time) in lane.gaps { cells[position(time, width: width)] = "!" }
            for b in backups where b.timeline == lane.timeline {
                let letter: Character = b.mode == .full ? "F" : "I"
                cells[position(b.startTime.seconds, width: width)] = b.isUsable && b.status == .ok ? letter : Character(letter.lowercased())
            }
            lines.append("TLI \(lane.timeline)".padding(7) + "|" + String(cells) + "|")
        }
        var marks = [Character](repeating: " ", count: width)
        if let horizon { marks[position(horizon, width: width)] = "R" }
        if let start = windowStart { marks[position(start, width: width)] = "[" }
        if let end = windowEnd { marks[position(end, width: width)] = "]" }
        lines.append(" ".padding(7) + " " + String(marks))
        return lines
    }
}

extension String {
    fileprivate func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(0, width - count)) }
}
