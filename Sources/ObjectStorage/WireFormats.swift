import CObjectStoreLoader
import PostgresFormat

/// S3's LastModified in listings: ISO 8601 in UTC ("2026-11-30T22:29:56.128Z").
enum ISODate {
    static func parse(_ text: String) -> Int64? { parseTime(text, format: "%Y-%m-%dT%H:%M:%S") }
}

/// HTTP's Last-Modified (RFC 9110's IMF-fixdate: "Mon, 30 Nov 2026 22:29:56 GMT").
enum HTTPDate {
    static func parse(_ text: String) -> Int64? { parseTime(text, format: "%a, %d %b %Y %H:%M:%S") }
}

/// strptime with the C locale's names, read as UTC.
private func parseTime(_ text: String, format: String) -> Int64? {
    var seconds: Int64 = 0
    return pgbk_parse_utc_time(text, format, &seconds) == 1 ? seconds : nil
}

/// Keys in listings asked for with encoding-type=url.
enum PercentEncoding {
    static func decode(_ text: String) -> String? {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let b = iterator.next() {
            if b == UInt8(ascii: "%") {
                guard let h = iterator.next().flatMap(Hex.nibble), let l = iterator.next().flatMap(Hex.nibble) else { return nil }
                bytes.append(h << 4 | l)
            } else if b == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else {
                bytes.append(b)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

}
