import PostgresFormat
import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Where recovery should stop, as PostgreSQL's recovery_target_* settings say it.
public struct RecoveryTarget: Sendable, Equatable {
    public enum Point: Sendable, Equatable {
        case time(text: String, micros: Int64)
        case xid(UInt32)
        case lsn(LSN)
        case name(String)
        case immediate
    }

    public enum Timeline: Sendable, Equatable {
        case latest, current
        case number(TimelineID)
    }

    public enum Action: String, Sendable { case pause, promote, shutdown }

    public var point: Point?
    public var inclusive: Bool?
    public var timeline: Timeline?
    public var action: Action?

    public init(point: Point? = nil, inclusive: Bool? = nil, timeline: Timeline? = nil, action: Action? = nil) {
        self.point = point
        self.inclusive = inclusive
        self.timeline = timeline
        self.action = action
    }

    /// The settings for postgresql.auto.conf, in PostgreSQL's names.
    public var settings: [(String, String)] {
        var out: [(String, String)] = []
        switch point {
        case .time(let text, _): out.append(("recovery_target_time", text))
        case .xid(let xid): out.append(("recovery_target_xid", String(xid)))
        case .lsn(let lsn): out.append(("recovery_target_lsn", lsn.description))
        case .name(let name): out.append(("recovery_target_name", name))
        case .immediate: out.append(("recovery_target", "immediate"))
        case nil: break
        }
        if let inclusive { out.append(("recovery_target_inclusive", inclusive ? "true" : "false")) }
        switch timeline {
        case .latest: out.append(("recovery_target_timeline", "latest"))
        case .current: out.append(("recovery_target_timeline", "current"))
        case .number(let n): out.append(("recovery_target_timeline", String(n)))
        case nil: break
        }
        if let action { out.append(("recovery_target_action", action.rawValue)) }
        return out
    }

    public var description: String {
        switch point {
        case .time(let text, _): return "time \(text)"
        case .xid(let xid): return "xid \(xid)"
        case .lsn(let lsn): return "LSN \(lsn)"
        case .name(let name): return "restore point \"\(name)\""
        case .immediate: return "the end of the backup (immediate)"
        case nil: return "the end of the archived WAL"
        }
    }
}

/// Parses `YYYY-MM-DD HH:MM:SS[.ffffff][zone]` (zone: Z, UTC, GMT, +HH, +HHMM, +HH:MM) into
/// microseconds since 1970. Without a zone the machine's local time is assumed (PostgreSQL
/// then uses its own timezone setting: give a zone to be sure). `Timestamp.parse`, pgbk's one
/// timestamp parser.
public func parseTimestampMicros(_ text: String) -> (micros: Int64, hadZone: Bool)? {
    Timestamp.parse(text).map { ($0.micros, $0.zoneOffset != nil) }
}

/// `pgbk delete DATE`: `YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS[.ffffff]`, with any zone that
/// --recovery-target-time accepts (Z, UTC, GMT, +HH, -HH:MM ...); UTC when none is given, as
/// pg_rman's delete reads it. Microseconds since 1970.
public func parseDeleteDate(_ text: String) -> Int64? {
    let trimmed = String(text.trimmingBlanks())
    guard trimmed.count >= 10 else { return nil }
    let date = trimmed.prefix(10)
    let rest = trimmed.dropFirst(10).drop { $0 == " " || $0 == "T" }
    let hasTime = rest.count >= 3 && rest.prefix(2).allSatisfy { $0.isASCII && $0.isNumber } && rest.dropFirst(2).first == ":"
    let full = hasTime ? trimmed : date + " 00:00:00" + (rest.isEmpty ? "" : " " + rest)
    guard let parsed = parseTimestampMicros(full) else { return nil }
    return parsed.hadZone ? parsed.micros : parseTimestampMicros(full + "+00")?.micros
}

/// Microseconds as `YYYY-MM-DD HH:MM:SS.ffffff+00`.
public func formatMicros(_ micros: Int64) -> String {
    let seconds = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
    let fraction = String(micros - seconds * 1_000_000)
    let base = Timestamp(seconds: seconds).description.dropLast(3)
    return base + "." + String(repeating: "0", count: 6 - fraction.count) + fraction + "+00"
}

