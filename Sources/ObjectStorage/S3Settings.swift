import Repository

/// Everything the S3 driver needs to reach a repository, resolved from `s3://BUCKET[/PREFIX]`
/// and settings named as the AWS tools name them (environment variables, and the same keys
/// in pgbk's configuration file), plus pgbk's own S3_* tuning keys.
public struct S3Settings: Sendable {
    public enum Addressing: String, Sendable { case path, host }

    public var bucket: String
    /// Key prefix of the repository, without leading or trailing slash ("" for the bucket root).
    public var prefix: String
    public var endpoint: Endpoint
    public var region: String
    public var accessKeyID: String
    var secretKey: String
    var sessionToken: String?
    public var addressing: Addressing
    public var caBundle: String?
    /// Bytes per multipart part, and the most one stream buffers (at least 5 MiB, S3's minimum).
    public var partSize: Int
    /// Bytes per ranged GET when reading. Not the part size: a restore holds one such chunk
    /// per open stream (a chain of N backups opens N + 1 per worker), so it is small and
    /// fixed, and a large S3_PART_SIZE costs memory only on writes.
    public var readChunkSize = 1 << 20
    /// Chunks fetched ahead of the one being read (S3_READ_AHEAD, 0 to 16; default 2): memory
    /// per open read is (1 + this) x 1 MiB.
    public var readAhead = 2
    /// Seconds after which a multipart upload nobody completed is taken for a killed writer's
    /// and aborted (S3_UPLOAD_EXPIRY; a day by default: far longer than any one file takes).
    public var uploadExpirySeconds: Int
    /// Attempts after the first for a request that failed in a way worth retrying.
    public var retries: Int
    /// Seconds without progress before a request is abandoned (and retried).
    public var timeoutSeconds: Int
    /// Encryption by the server, as the bucket's policy may demand (on top of pgbk's own).
    public var serverSideEncryption: ServerSideEncryption?
    /// `S3_STORAGE_CLASS`: the class of backup data and archived WAL (say STANDARD_IA); the
    /// catalog (small files read by every command) stays in the bucket's default class.
    public var dataStorageClass: String?
    /// `S3_TAGS`: tags every object is created with (for lifecycle rules and cost reports).
    public var tags: [(key: String, value: String)] = []

    /// S3's three kinds: SSE-S3 (`S3_SSE=AES256`), SSE-KMS (`S3_SSE=aws:kms`, with
    /// `S3_SSE_KMS_KEY_ID` or the bucket's default key), SSE-C (`S3_SSE_CUSTOMER_KEY_FILE`: a
    /// file of exactly 32 bytes that every request for an object then carries).
    public enum ServerSideEncryption: Sendable, Equatable {
        case s3
        case kms(keyID: String?)
        case customer(key: [UInt8])
    }

    public struct Endpoint: Sendable, Equatable {
        public var secure: Bool
        public var host: String
        public var port: Int?

        /// `host[:port]` as the Host header carries it (no port when it is the scheme's default).
        var authority: String {
            guard let port, port != (secure ? 443 : 80) else { return host }
            return "\(host):\(port)"
        }
        var scheme: String { secure ? "https" : "http" }

        /// IP literals and localhost have no DNS names below them for buckets.
        var needsPathStyle: Bool {
            if host == "localhost" || host.hasPrefix("[") { return true }
            let parts = host.split(separator: ".", omittingEmptySubsequences: false)
            return parts.count == 4 && parts.allSatisfy { UInt8($0) != nil }
        }
    }

    public static let minimumPartSize = 5 << 20

    public static func isS3URL(_ text: String) -> Bool { text.hasPrefix("s3://") }

    /// `lookup` answers a setting's name with its value (environment first, then the
    /// configuration file: the caller decides); nil when unset.
    public init(url: String, lookup: (String) -> String?) throws(S3Error) {
        guard Self.isS3URL(url) else { throw .setup("\(url): not an s3://BUCKET[/PREFIX] URL") }
        let rest = url.dropFirst(5)
        let bucketPart = rest.prefix { $0 != "/" }
        bucket = String(bucketPart)
        try Self.checkBucket(bucket, url: url)
        let components = rest.dropFirst(bucketPart.count).split(separator: "/")
        for component in components where component == "." || component == ".." {
            throw .setup("\(url): the key prefix must not contain . or .. components")
        }
        prefix = components.joined(separator: "/")

        region = lookup("AWS_REGION") ?? lookup("AWS_DEFAULT_REGION") ?? "us-east-1"
        let endpointText = lookup("AWS_ENDPOINT_URL_S3") ?? lookup("AWS_ENDPOINT_URL") ?? "https://s3.\(region).amazonaws.com"
        endpoint = try Self.parseEndpoint(endpointText)

        guard let key = lookup("AWS_ACCESS_KEY_ID") else {
            throw .setup("\(url): no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (in the environment or the configuration file)")
        }
        guard let secret = lookup("AWS_SECRET_ACCESS_KEY") else {
            throw .setup("\(url): AWS_ACCESS_KEY_ID \(key) is set but AWS_SECRET_ACCESS_KEY is not")
        }
        accessKeyID = key
        secretKey = secret
        sessionToken = lookup("AWS_SESSION_TOKEN")
        caBundle = lookup("AWS_CA_BUNDLE")

        if let style = lookup("S3_URI_STYLE") {
            guard let value = Addressing(rawValue: style) else {
                throw .setup("S3_URI_STYLE must be path or host, not \(style)")
            }
            addressing = value
        } else {
            // Bucket names with dots do not match a wildcard TLS certificate as host names.
            addressing = endpoint.needsPathStyle || (endpoint.secure && bucket.contains(".")) ? .path : .host
        }
        partSize = try Self.integer(lookup, "S3_PART_SIZE", default: 16 << 20, range: Self.minimumPartSize...(5 << 30), suffixes: true)
        retries = try Self.integer(lookup, "S3_RETRIES", default: 5, range: 0...100, suffixes: false)
        timeoutSeconds = try Self.integer(lookup, "S3_TIMEOUT", default: 60, range: 1...3600, suffixes: false)
        uploadExpirySeconds = try Self.integer(lookup, "S3_UPLOAD_EXPIRY", default: 86_400, range: 0...(365 * 86_400), suffixes: false)
        readAhead = try Self.integer(lookup, "S3_READ_AHEAD", default: 2, range: 0...16, suffixes: false)
        serverSideEncryption = try Self.serverSideEncryption(lookup)
        dataStorageClass = try Self.storageClass(lookup("S3_STORAGE_CLASS"))
        tags = try Self.tags(lookup("S3_TAGS"))
    }

    /// Storage classes whose objects can be read at once: a backup or WAL stored in GLACIER
    /// or DEEP_ARCHIVE could be neither restored nor validated without a restore request.
    static let readableStorageClasses = ["STANDARD", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR",
                                         "REDUCED_REDUNDANCY", "EXPRESS_ONEZONE"]

    static func storageClass(_ value: String?) throws(S3Error) -> String? {
        guard let value else { return nil }
        guard !value.isEmpty, value.allSatisfy({ ($0.isASCII && ($0.isUppercase || $0.isNumber)) || $0 == "_" }) else {
            throw .setup("S3_STORAGE_CLASS must be a storage class such as STANDARD_IA, not \(value)")
        }
        if value == "GLACIER" || value == "DEEP_ARCHIVE" {
            throw .setup("S3_STORAGE_CLASS \(value): its objects cannot be read without a restore request, so nothing stored there could be restored or validated; use \(readableStorageClasses.joined(separator: ", ")) (or a lifecycle rule for copies kept longer)")
        }
        return value
    }

    /// `S3_TAGS=key=value&key=value`: S3's tag rules (at most 10; keys up to 128 and values up
    /// to 256 characters of letters, digits, spaces and + - = . _ : / @).
    static func tags(_ value: String?) throws(S3Error) -> [(key: String, value: String)] {
        guard let value, !value.isEmpty else { return [] }
        var tags: [(key: String, value: String)] = []
        for pair in value.split(separator: "&", omittingEmptySubsequences: false) {
            guard let eq = pair.firstIndex(of: "=") else { throw .setup("S3_TAGS: \(pair) is not KEY=VALUE (pairs joined by &)") }
            let (k, v) = (String(pair[..<eq]), String(pair[pair.index(after: eq)...]))
            let allowed: (Character) -> Bool = { ($0.isASCII && ($0.isLetter || $0.isNumber)) || " +-=._:/@".contains($0) }
            guard !k.isEmpty, k.count <= 128, v.count <= 256, k.allSatisfy(allowed), v.allSatisfy(allowed), !k.hasPrefix("aws:") else {
                throw .setup("S3_TAGS: \(pair): a key of 1-128 and a value of up to 256 letters, digits, spaces or + - = . _ : / @ (keys not starting aws:)")
            }
            guard !tags.contains(where: { $0.key == k }) else { throw .setup("S3_TAGS: the key \(k) is given twice") }
            tags.append((k, v))
        }
        guard tags.count <= 10 else { throw .setup("S3_TAGS: \(tags.count) tags, S3 allows 10 per object") }
        return tags
    }

    static func serverSideEncryption(_ lookup: (String) -> String?) throws(S3Error) -> ServerSideEncryption? {
        let keyID = lookup("S3_SSE_KMS_KEY_ID")
        switch (lookup("S3_SSE"), lookup("S3_SSE_CUSTOMER_KEY_FILE")) {
        case (nil, nil):
            if keyID != nil { throw .setup("S3_SSE_KMS_KEY_ID is set but S3_SSE is not aws:kms") }
            return nil
        case (.some, .some):
            throw .setup("S3_SSE and S3_SSE_CUSTOMER_KEY_FILE are both set: SSE-C is one kind of server-side encryption, S3_SSE names the others")
        case ("AES256"?, nil):
            if keyID != nil { throw .setup("S3_SSE_KMS_KEY_ID is set but S3_SSE is AES256, not aws:kms") }
            return .s3
        case ("aws:kms"?, nil):
            return .kms(keyID: keyID)
        case (let other?, nil):
            throw .setup("S3_SSE must be AES256 (SSE-S3) or aws:kms (SSE-KMS), not \(other); SSE-C is S3_SSE_CUSTOMER_KEY_FILE")
        case (nil, let file?):
            if keyID != nil { throw .setup("S3_SSE_KMS_KEY_ID is set with S3_SSE_CUSTOMER_KEY_FILE (SSE-C), which uses no KMS") }
            return .customer(key: try customerKey(file))
        }
    }

    /// SSE-C's key: a regular file of exactly 32 bytes that no other user can read.
    static func customerKey(_ path: String) throws(S3Error) -> [UInt8] {
        let status: FileStatus
        do { status = try FileSystem.status(path, followLinks: true) } catch {
            throw .setup("S3_SSE_CUSTOMER_KEY_FILE \(path): \(error)")
        }
        guard status.kind == .regular else { throw .setup("S3_SSE_CUSTOMER_KEY_FILE \(path) is not a regular file") }
        guard status.mode & 0o007 == 0 else {
            throw .setup("S3_SSE_CUSTOMER_KEY_FILE \(path) can be read by every user of the host; run: chmod o-rwx \(path)")
        }
        let key: [UInt8]
        do { key = try FileSystem.readAll(path, limit: 64) } catch { throw .setup("S3_SSE_CUSTOMER_KEY_FILE \(path): \(error)") }
        guard key.count == 32 else {
            throw .setup("S3_SSE_CUSTOMER_KEY_FILE \(path) holds \(key.count) bytes, not the 32 of an AES-256 key (make one with: openssl rand 32 > \(path))")
        }
        return key
    }

    /// The repository as a URL, for messages.
    public var location: String { prefix.isEmpty ? "s3://\(bucket)" : "s3://\(bucket)/\(prefix)" }

    /// The object key of a repository-relative name.
    func key(_ name: String) -> String {
        if prefix.isEmpty { return name }
        return name.isEmpty ? prefix : prefix + "/" + name
    }

    /// The URL path and Host of a request for `key` (nil: the bucket itself).
    func target(key: String?) -> (host: String, path: String) {
        let encodedKey = key.map { SigV4.uriEncode($0, keepSlash: true) }
        switch addressing {
        case .path:
            return (endpoint.authority, "/" + bucket + (encodedKey.map { "/" + $0 } ?? ""))
        case .host:
            return (bucket + "." + endpoint.authority, "/" + (encodedKey ?? ""))
        }
    }

    static func checkBucket(_ bucket: String, url: String) throws(S3Error) {
        let valid = (3...63).contains(bucket.utf8.count) && bucket.utf8.allSatisfy { b in
            (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9"))
                || b == UInt8(ascii: "-") || b == UInt8(ascii: ".")
        }
        guard valid else {
            throw .setup("\(url): \"\(bucket)\" is not a bucket name (3 to 63 lower-case letters, digits, dots and hyphens)")
        }
    }

    static func parseEndpoint(_ text: String) throws(S3Error) -> Endpoint {
        let secure: Bool
        var rest: Substring
        if text.hasPrefix("https://") { secure = true; rest = text.dropFirst(8) }
        else if text.hasPrefix("http://") { secure = false; rest = text.dropFirst(7) }
        else { throw .setup("endpoint \(text): must start with http:// or https://") }
        while rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.contains("/"), !rest.contains("@"), !rest.contains("?") else {
            throw .setup("endpoint \(text): give only scheme, host and port (no path, user or query)")
        }
        var host = rest
        var port: Int?
        if let colon = rest.lastIndex(of: ":"), !rest[colon...].contains("]") {
            guard let p = Int(rest[rest.index(after: colon)...]), (1...65535).contains(p) else {
                throw .setup("endpoint \(text): the port is not a number from 1 to 65535")
            }
            port = p
            host = rest[..<colon]
        }
        guard !host.isEmpty else { throw .setup("endpoint \(text): no host") }
        return Endpoint(secure: secure, host: String(host), port: port)
    }

    static func integer(_ lookup: (String) -> String?, _ name: String, default value: Int, range: ClosedRange<Int>,
                        suffixes: Bool) throws(S3Error) -> Int {
        guard let text = lookup(name) else { return value }
        guard let n = suffixes ? ByteSize.parse(text) : Int(text), range.contains(n) else {
            throw .setup("\(name) must be \(suffixes ? "a size (with K, M or G) " : "")from \(range.lowerBound) to \(range.upperBound), not \(text)")
        }
        return n
    }
}
