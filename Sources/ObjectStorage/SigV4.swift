import CryptoDigest
/// AWS Signature Version 4 for S3 (the Authorization header form). Pure apart from the
/// digests, which come from libcrypto; the published AWS examples are its unit tests.
struct SigV4: Sendable {
    let accessKeyID: String
    let secretKey: String
    let sessionToken: String?
    let region: String
    let service = "s3"

    static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// The headers to add to a request: x-amz-date, x-amz-content-sha256, the session token
    /// when there is one, and Authorization over every header in `headers` plus those.
    /// `path` is already URI-encoded as it goes on the wire; `query` is unencoded pairs.
    func sign(method: String, path: String, query: [(String, String)], headers: [(String, String)],
              payloadHash: String, date: AmzDate) -> [(String, String)] {
        var all = headers.map { ($0.0.lowercased(), Self.trim($0.1)) }
        var added = [("x-amz-date", date.stamp), ("x-amz-content-sha256", payloadHash)]
        if let sessionToken { added.append(("x-amz-security-token", sessionToken)) }
        all += added
        all.sort { $0.0 < $1.0 }
        let signedHeaders = all.map(\.0).joined(separator: ";")
        let canonicalHeaders = all.map { "\($0.0):\($0.1)\n" }.joined()
        let canonicalRequest = [method, path, Self.canonicalQuery(query), canonicalHeaders, signedHeaders, payloadHash]
            .joined(separator: "\n")
        let scope = "\(date.day)/\(region)/\(service)/aws4_request"
        let stringToSign = "AWS4-HMAC-SHA256\n\(date.stamp)\n\(scope)\n" + Digest.hex(Digest.sha256(Array(canonicalRequest.utf8)))
        let signature = Digest.hex(Digest.hmacSHA256(key: signingKey(day: date.day), Array(stringToSign.utf8)))
        added.append(("Authorization", "AWS4-HMAC-SHA256 Credential=\(accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"))
        return added
    }

    func signingKey(day: String) -> [UInt8] {
        var key = Digest.hmacSHA256(key: Array(("AWS4" + secretKey).utf8), Array(day.utf8))
        for part in [region, service, "aws4_request"] { key = Digest.hmacSHA256(key: key, Array(part.utf8)) }
        return key
    }

    static func canonicalQuery(_ query: [(String, String)]) -> String {
        query.map { (uriEncode($0.0, keepSlash: false), uriEncode($0.1, keepSlash: false)) }
            .sorted { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }
            .map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    /// RFC 3986 percent-encoding of everything but unreserved characters, as SigV4 wants it
    /// (and S3 object key paths keep their slashes).
    static func uriEncode(_ text: String, keepSlash: Bool) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(UnicodeScalar(byte))
            case UInt8(ascii: "/") where keepSlash:
                out += "/"
            default:
                let digits = Array("0123456789ABCDEF")
                out += "%" + String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 15)])
            }
        }
        return out
    }

    static func trim(_ value: String) -> String {
        var s = Substring(value)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        // Sequential spaces inside a value count as one.
        var out = ""
        var lastSpace = false
        for c in s {
            if c == " " { if !lastSpace { out.append(c) }; lastSpace = true } else { out.append(c); lastSpace = false }
        }
        return out
    }
}

/// The request time in SigV4's two forms: `20130524T000000Z` and `20130524`.
struct AmzDate: Sendable {
    let stamp: String
    var day: String { String(stamp.prefix(8)) }

    init(stamp: String) { self.stamp = stamp }

    init(secondsSince1970 t: Int) {
        var seconds = t
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        stamp = "\(parts.tm_year + 1900)\(two(parts.tm_mon + 1))\(two(parts.tm_mday))T\(two(parts.tm_hour))\(two(parts.tm_min))\(two(parts.tm_sec))Z"
    }

    static func now() -> AmzDate { AmzDate(secondsSince1970: time(nil)) }
}

#if canImport(Glibc)
@preconcurrency import Glibc
#endif
