#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// A UTC time to the second, written as `YYYY-MM-DD HH:MM:SS+00` (a form PostgreSQL accepts
/// for recovery_target_time, and that sorts as text).
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let seconds: Int64

    public init(seconds: Int64) { self.seconds = seconds }

    public static func now() -> Timestamp { Timestamp(seconds: Int64(time(nil))) }

    public init?(_ text: some StringProtocol) {
        // Accepts "YYYY-MM-DD HH:MM:SS" with an optional "+00", "Z" or " UTC".
        let s = String(text)
        let digits = s.unicodeScalars.map { $0 }
        guard digits.count >= 19 else { return nil }
        func num(_ from: Int, _ len: Int) -> Int32? { Int32(String(String.UnicodeScalarView(digits[from..<from + len]))) }
        guard let y = num(0, 4), let mo = num(5, 2), let d = num(8, 2), let h = num(11, 2),
              let mi = num(14, 2), let se = num(17, 2) else { return nil }
        let rest = String(String.UnicodeScalarView(digits[19...]))
        guard ["", "+00", "Z", " UTC", "+00:00"].contains(rest) else { return nil }
        var t = tm()
        t.tm_year = y - 1900; t.tm_mon = mo - 1; t.tm_mday = d
        t.tm_hour = h; t.tm_min = mi; t.tm_sec = se
        seconds = Int64(timegm(&t))
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
