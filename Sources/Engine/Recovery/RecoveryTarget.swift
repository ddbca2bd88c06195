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

/// Parses `YYYY-MM-DD HH:MM:SS[.ffffff][zone]` (zone: Z, UTC, +HH, +HHMM, +HH:MM) into
/// microseconds since 1970. Without a zone the machine's local time is assumed (PostgreSQL
/// then uses its own timezone setting: give a zone to be sure).
public func parseTimestampMicros(_ text: String) -> (micros: Int64, hadZone: Bool)? {
    let s = Array(text.trimmingBlanks().unicodeScalars)
    func num(_ from: Int, _ len: Int) -> Int? {
        guard from + len <= s.count else { return nil }
        var v = 0
        for c in s[from..<from + len] { guard let d = c.properties.numericType != nil ? Int(String(c)) : nil else { return nil }; v = v * 10 + d }
        return v
    }
    guard s.count >= 19, s[4] == "-", s[7] == "-", s[10] == " " || s[10] == "T", s[13] == ":", s[16] == ":",
          let y = num(0, 4), let mo = num(5, 2), let d = num(8, 2), let h = num(11, 2), let mi = num(14, 2), let se = num(17, 2),
          (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, se < 61 else { return nil }
    var i = 19
    var micros = 0
    if i < s.count && s[i] == "." {
        i += 1
        var digits = 0
        while i < s.count, let dgt = Int(String(s[i])), s[i].isASCII {
            if digits < 6 { micros = micros * 10 + dgt; digits += 1 }
            i += 1
        }
        guard digits > 0 else { return nil }
        for _ in digits..<6 { micros *= 10 }
    }
    var zone = String(String(String.UnicodeScalarView(s[i...])).trimmingBlanks())
    var offsetSeconds: Int? = nil
    if zone == "Z" || zone == "UTC" || zone == "GMT" { offsetSeconds = 0; zone = "" }
    if let sign = zone.first, sign == "+" || sign == "-" {
        let digits = zone.dropFirst().filter { $0 != ":" }
        guard digits.count == 2 || digits.count == 4, digits.allSatisfy(\.isNumber),
              let hh = Int(digits.prefix(2)), let mm = Int(digits.dropFirst(2).isEmpty ? "0" : String(digits.dropFirst(2))) else { return nil }
        offsetSeconds = (hh * 3600 + mm * 60) * (sign == "-" ? -1 : 1)
        zone = ""
    }
    guard zone.isEmpty else { return nil }
    var t = tm()
    t.tm_year = Int32(y - 1900); t.tm_mon = Int32(mo - 1); t.tm_mday = Int32(d)
    t.tm_hour = Int32(h); t.tm_min = Int32(mi); t.tm_sec = Int32(se); t.tm_isdst = -1
    let seconds: Int64
    if let offsetSeconds {
        seconds = Int64(timegm(&t)) - Int64(offsetSeconds)
    } else {
        seconds = Int64(mktime(&t))
    }
    return (seconds * 1_000_000 + Int64(micros), offsetSeconds != nil)
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

