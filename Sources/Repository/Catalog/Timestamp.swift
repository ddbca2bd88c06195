import PostgresFormat
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// A UTC time to the second, written as `YYYY-MM-DD HH:MM:SS+00` (a form PostgreSQL accepts
/// for recovery_target_time, and that sorts as text).
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let seconds: Int64

    public init(seconds: Int64) { self.seconds = seconds }

    public static func now() -> Timestamp { Timestamp(seconds: Int64(time(nil))) }

    /// A catalog time: `YYYY-MM-DD HH:MM:SS` in UTC (no zone, or a zero offset: +00, Z, UTC).
    public init?(_ text: some StringProtocol) {
        guard let parsed = Self.parse(String(text)), parsed.zoneOffset ?? 0 == 0 else { return nil }
        let utc = parsed.zoneOffset == nil ? Self.parse(String(text) + "+00") : parsed
        guard let micros = utc?.micros else { return nil }
        seconds = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
    }

    /// pgbk's one timestamp parser: `YYYY-MM-DD HH:MM:SS[.ffffff][zone]` (a space or T between
    /// date and time; zone Z, UTC, GMT, +HH, +HHMM or +HH:MM) into microseconds since 1970, and
    /// the zone's offset in seconds (nil: none given, and the machine's local time assumed).
    public static func parse(_ text: String) -> (micros: Int64, zoneOffset: Int?)? {
        let s = Array(text.trimmingBlanks().unicodeScalars)
        func num(_ from: Int, _ len: Int) -> Int? {
            guard from + len <= s.count else { return nil }
            var v = 0
            for c in s[from..<from + len] {
                guard c.isASCII, let d = Int(String(c)) else { return nil }
                v = v * 10 + d
            }
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
            while i < s.count, s[i].isASCII, let dgt = Int(String(s[i])) {
                if digits < 6 { micros = micros * 10 + dgt; digits += 1 }
                i += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<6 { micros *= 10 }
        }
        guard let offset = zoneOffset(String(String(String.UnicodeScalarView(s[i...])).trimmingBlanks())) else { return nil }
        var t = tm()
        t.tm_year = Int32(y - 1900); t.tm_mon = Int32(mo - 1); t.tm_mday = Int32(d)
        t.tm_hour = Int32(h); t.tm_min = Int32(mi); t.tm_sec = Int32(se); t.tm_isdst = -1
        let seconds = offset.map { Int64(timegm(&t)) - Int64($0) } ?? Int64(mktime(&t))
        return (seconds * 1_000_000 + Int64(micros), offset)
    }

    /// "" -> .some(nil) (no zone); Z, UTC, GMT -> 0; +HH, +HHMM, +HH:MM -> seconds; else nil.
    private static func zoneOffset(_ zone: String) -> Int??  {
        if zone.isEmpty { return .some(nil) }
        if zone == "Z" || zone == "UTC" || zone == "GMT" { return 0 }
        guard let sign = zone.first, sign == "+" || sign == "-" else { return nil }
        let digits = zone.dropFirst().filter { $0 != ":" }
        guard digits.count == 2 || digits.count == 4, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
              let hh = Int(digits.prefix(2)), let mm = Int(digits.count == 4 ? String(digits.suffix(2)) : "0") else { return nil }
        return (hh * 3600 + mm * 60) * (sign == "-" ? -1 : 1)
    }

    public var description: String { format("%Y-%m-%d %H:%M:%S") + "+00" }

    /// `YYYYMMDD-HHMMSS`, the time part of a backup ID.
    public var compact: String { format("%Y%m%d-%H%M%S") }

    func format(_ pattern: String) -> String {
        var t = tm()
        var secs = time_t(seconds)
        gmtime_r(&secs, &t)
        var buffer = [CChar](repeating: 0, count: 64)
        let n = strftime(&buffer, buffer.count, pattern, &t)
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.seconds < b.seconds }
}
