/// A `<TLI>.history` file: for each ancestor timeline, the LSN where the history branched
/// off it ("parentTLI <tab> switchpoint <tab> reason").
public struct TimelineHistory: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public let timeline: TimelineID
        public let switchLSN: LSN

        public init(timeline: TimelineID, switchLSN: LSN) {
            self.timeline = timeline
            self.switchLSN = switchLSN
        }
    }

    public let timeline: TimelineID
    /// Oldest ancestor first.
    public let ancestors: [Entry]

    public init(timeline: TimelineID, text: String) throws {
        var entries: [Entry] = []
        for line in text.split(separator: "\n") {
            let trimmed = line.trimmingBlanks()
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let fields = trimmed.split(whereSeparator: { $0 == "\t" || $0 == " " })
            guard fields.count >= 2, let tli = TimelineID(fields[0]), let lsn = LSN(fields[1]) else {
                throw FormatError("\(hex8(UInt64(timeline))).history", "invalid line \"\(trimmed)\"")
            }
            // Timelines must increase; switch points need not: a recovery that follows timeline N
            // and stops before N branched off writes a history with a lower switch point last.
            if let last = entries.last, tli <= last.timeline {
                throw FormatError("\(hex8(UInt64(timeline))).history", "timelines out of order at \"\(trimmed)\"")
            }
            entries.append(Entry(timeline: tli, switchLSN: lsn))
        }
        self.timeline = timeline
        ancestors = entries
    }

    public init(timeline: TimelineID, ancestors: [Entry]) {
        self.timeline = timeline
        self.ancestors = ancestors
    }

    public static func fileName(_ timeline: TimelineID) -> String { hex8(UInt64(timeline)) + ".history" }

    /// Where the history really left each ancestor: its own switch point, or a later, lower
    /// one (a later timeline that branched before this one did skips it altogether).
    public var effectiveAncestors: [Entry] {
        var cap = LSN(UInt64.max)
        var out: [Entry] = []
        for entry in ancestors.reversed() {
            cap = min(cap, entry.switchLSN)
            out.append(Entry(timeline: entry.timeline, switchLSN: cap))
        }
        return out.reversed()
    }

    /// Whether a position `lsn` on `tli` is part of this timeline's past: either this
    /// timeline, or an ancestor before the point where the history left it.
    public func contains(_ lsn: LSN, on tli: TimelineID) -> Bool {
        if tli == timeline { return true }
        guard let entry = effectiveAncestors.first(where: { $0.timeline == tli }) else { return false }
        return lsn <= entry.switchLSN
    }
}
