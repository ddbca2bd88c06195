/// A WAL location ("log sequence number"), printed by PostgreSQL as `XXXXXXXX/XXXXXXXX`.
public struct LSN: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let value: UInt64

    public init(_ value: UInt64) { self.value = value }

    public init(high: UInt32, low: UInt32) {
        value = UInt64(high) << 32 | UInt64(low)
    }

    /// Parses PostgreSQL's `%X/%X` form, as returned by `pg_backup_start` or found in a label.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty, parts[0].count <= 8, parts[1].count <= 8,
              let high = UInt32(parts[0], radix: 16), let low = UInt32(parts[1], radix: 16)
        else { return nil }
        self.init(high: high, low: low)
    }

    public static let invalid = LSN(0)

    public var high: UInt32 { UInt32(truncatingIfNeeded: value >> 32) }
    public var low: UInt32 { UInt32(truncatingIfNeeded: value) }

    public var description: String {
        String(high, radix: 16, uppercase: true) + "/" + String(low, radix: 16, uppercase: true)
    }

    public static func < (lhs: LSN, rhs: LSN) -> Bool { lhs.value < rhs.value }
}

public typealias TimelineID = UInt32
