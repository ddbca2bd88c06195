/// The name of a WAL segment: timeline, then the segment number split in two 8-digit halves
/// (`TTTTTTTTXXXXXXXXYYYYYYYY`), where the split depends on the segment size.
public struct WALSegmentName: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let timeline: TimelineID
    public let segmentNumber: UInt64
    public let segmentSize: UInt64

    public init(timeline: TimelineID, segmentNumber: UInt64, segmentSize: UInt64) {
        self.timeline = timeline
        self.segmentNumber = segmentNumber
        self.segmentSize = segmentSize
    }

    /// The segment that holds the byte at `lsn`.
    public init(timeline: TimelineID, containing lsn: LSN, segmentSize: UInt64) {
        self.init(timeline: timeline, segmentNumber: lsn.value / segmentSize, segmentSize: segmentSize)
    }

    /// The segment that holds the byte just before `lsn`: the last segment a backup that
    /// stopped at `lsn` needs (PostgreSQL's XLByteToPrevSeg).
    public init(timeline: TimelineID, endingAt lsn: LSN, segmentSize: UInt64) {
        self.init(timeline: timeline, segmentNumber: (lsn.value &- 1) / segmentSize, segmentSize: segmentSize)
    }

    public init?(_ name: some StringProtocol, segmentSize: UInt64) {
        guard name.count == 24, name.allSatisfy(\.isHexDigit),
              let tli = UInt32(name.prefix(8), radix: 16),
              let log = UInt64(name.dropFirst(8).prefix(8), radix: 16),
              let seg = UInt64(name.suffix(8), radix: 16)
        else { return nil }
        let perLog = Self.segmentsPerLogID(segmentSize)
        guard seg < perLog else { return nil }
        self.init(timeline: tli, segmentNumber: log * perLog + seg, segmentSize: segmentSize)
    }

    static func segmentsPerLogID(_ segmentSize: UInt64) -> UInt64 { 0x1_0000_0000 / segmentSize }

    public var name: String {
        let perLog = Self.segmentsPerLogID(segmentSize)
        return hex8(UInt64(timeline)) + hex8(segmentNumber / perLog) + hex8(segmentNumber % perLog)
    }

    public var description: String { name }

    public var startLSN: LSN { LSN(segmentNumber * segmentSize) }

    public var next: WALSegmentName {
        WALSegmentName(timeline: timeline, segmentNumber: segmentNumber + 1, segmentSize: segmentSize)
    }

    public static func < (lhs: WALSegmentName, rhs: WALSegmentName) -> Bool {
        (lhs.timeline, lhs.segmentNumber) < (rhs.timeline, rhs.segmentNumber)
    }
}

func hex8(_ value: UInt64) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    return String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}

/// What kind of file PostgreSQL hands to `archive_command`, judged by its name alone.
public enum WALFileKind: Sendable, Equatable {
    case segment          // 000000010000000000000001
    case partial          // 000000010000000000000001.partial
    case backupHistory    // 000000010000000000000001.00000028.backup
    case timelineHistory  // 00000002.history

    public init?(fileName name: String) {
        let isHex: (Substring) -> Bool = { !$0.isEmpty && $0.allSatisfy(\.isHexDigit) }
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        switch parts.count {
        case 1 where parts[0].count == 24 && isHex(parts[0]): self = .segment
        case 2 where parts[0].count == 24 && isHex(parts[0]) && parts[1] == "partial": self = .partial
        case 2 where parts[0].count == 8 && isHex(parts[0]) && parts[1] == "history": self = .timelineHistory
        case 3 where parts[0].count == 24 && isHex(parts[0]) && parts[1].count == 8 && isHex(parts[1])
            && parts[2] == "backup": self = .backupHistory
        default: return nil
        }
    }

    /// Whether the file begins with a WAL page header that names its cluster.
    public var hasWALHeader: Bool { self == .segment || self == .partial }
}
