import CryptoDigest
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The S3 operations pgbk uses, each one signed request with retries. Thread-safe: workers
/// share one client and each takes a pooled connection per request.
public final class S3Client: Sendable {
    public let settings: S3Settings
    private let signer: SigV4
    private let pool = HTTPConnectionPool()
    /// Server-side encryption: what a request creating an object carries, and what every
    /// request reading or writing an object's content carries (SSE-C's key).
    let creationHeaders: [(String, String)]
    let contentHeaders: [(String, String)]

    public init(settings: S3Settings) throws(S3Error) {
        try NativeLibraries.load()
        self.settings = settings
        signer = SigV4(accessKeyID: settings.accessKeyID, secretKey: settings.secretKey,
                       sessionToken: settings.sessionToken, region: settings.region)
        switch settings.serverSideEncryption {
        case nil:
            (creationHeaders, contentHeaders) = ([], [])
        case .s3:
            (creationHeaders, contentHeaders) = ([("x-amz-server-side-encryption", "AES256")], [])
        case .kms(let keyID):
            creationHeaders = [("x-amz-server-side-encryption", "aws:kms")]
                + (keyID.map { [("x-amz-server-side-encryption-aws-kms-key-id", $0)] } ?? [])
            contentHeaders = []
        case .customer(let key):
            let md5 = key.withUnsafeBytes { Digest.md5($0) }
            contentHeaders = [("x-amz-server-side-encryption-customer-algorithm", "AES256"),
                              ("x-amz-server-side-encryption-customer-key", Digest.base64(key)),
                              ("x-amz-server-side-encryption-customer-key-md5", Digest.base64(md5))]
            creationHeaders = contentHeaders
        }
    }

    struct Request {
        var method: String
        var key: String?
        var query: [(String, String)] = []
        var headers: [(String, String)] = []
        var body: UnsafeRawBufferPointer?
        var responseLimit = 1 << 20
        /// Statuses that are answers rather than failures (404 for HEAD, 412 for a conditional PUT).
        var accepted: Set<Int> = []
    }

    /// "PUT s3://bucket/key", for messages.
    func describe(_ request: Request) -> String {
        "\(request.method) s3://\(settings.bucket)\(request.key.map { "/" + $0 } ?? "")"
    }

    /// Sends with retries on 5xx, 408, 429 and failed connections: exponential backoff from
    /// 100 ms, capped at 10 s, with full jitter, `settings.retries` times.
    func send(_ request: Request) throws(S3Error) -> HTTPResponse {
        var attempt = 0
        while true {
            do {
                return try sendOnce(request)
            } catch let error where error.isRetriable && attempt < settings.retries {
                attempt += 1
                let ceiling = min(10_000, 100 << min(attempt, 10))
                usleep(UInt32(UInt32.random(in: UInt32(ceiling / 4)...UInt32(ceiling)) * 1000))
            } catch {
                if attempt > 0, case .transport(let what, let reason, let retriable) = error {
                    throw .transport(request: what, reason: reason + " (after \(attempt + 1) attempts)", retriable: retriable)
                }
                if attempt > 0, case .http(let what, let status, let code, let message, let hint) = error, error.isRetriable {
                    throw .http(request: what, status: status, code: code, message: message,
                                hint: (hint.isEmpty ? "" : hint + "; ") + "after \(attempt + 1) attempts")
                }
                throw error
            }
        }
    }

    /// The same with a body held in an array.
    func send(_ request: Request, body: [UInt8]) throws(S3Error) -> HTTPResponse {
        let result = body.withUnsafeBytes { raw in
            Result { () throws(S3Error) -> HTTPResponse in
                var r = request
                r.body = raw
                return try send(r)
            }
        }
        return try result.get()
    }

    private func sendOnce(_ request: Request) throws(S3Error) -> HTTPResponse {
        let (host, path) = settings.target(key: request.key)
        let payloadHash = request.body.map { Digest.hex(Digest.sha256($0)) } ?? SigV4.emptyPayloadHash
        var headers = request.headers
        headers.append(("host", host))
        headers += signer.sign(method: request.method, path: path, query: request.query, headers: headers,
                               payloadHash: payloadHash, date: .now())
        headers.removeAll { $0.0 == "host" }
        let query = SigV4.canonicalQuery(request.query)
        let url = "\(settings.endpoint.scheme)://\(host)\(path)\(query.isEmpty ? "" : "?" + query)"

        let connection = try pool.take()
        let response: HTTPResponse
        do {
            response = try connection.perform(HTTPRequest(method: request.method, url: url, headers: headers, body: request.body,
                                                          responseLimit: request.responseLimit),
                                               caBundle: settings.caBundle, timeoutSeconds: settings.timeoutSeconds)
        } catch {
            // A failed connection is dropped with its handle, not reused.
            switch error {
            case .transport(_, let reason, let retriable): throw .transport(request: describe(request), reason: reason, retriable: retriable)
            case .protocolError(_, let reason): throw .protocolError(request: describe(request), reason: reason)
            default: throw error
            }
        }
        pool.give(connection)
        if (200..<300).contains(response.status) || request.accepted.contains(response.status) { return response }
        throw failure(request, response)
    }

    func failure(_ request: Request, _ response: HTTPResponse) -> S3Error {
        let document = XMLElement.parse(response.body)
        let code = document?["Code"] ?? ""
        let message = document?["Message"] ?? ""
        var hint = ""
        switch (response.status, code) {
        case (403, "SignatureDoesNotMatch"):
            hint = "the secret key does not match access key id \(settings.accessKeyID)"
        case (403, "InvalidAccessKeyId"):
            hint = "access key id \(settings.accessKeyID) is not known to \(settings.endpoint.authority)"
        case (403, "RequestTimeTooSkewed"):
            hint = "this host's clock differs from the server's"
        case (403, _):
            hint = "access key id \(settings.accessKeyID)"
        case (404, "NoSuchBucket"):
            hint = "bucket \(settings.bucket) does not exist at \(settings.endpoint.authority); create it first"
        default: break
        }
        return .http(request: describe(request), status: response.status, code: code, message: message, hint: hint)
    }

    // MARK: objects

    /// `range` of the object, or all of it; nil when it does not exist. The object's total
    /// size and ETag come with it, so that a reader can ask for the rest of the same version.
    public struct Chunk: Sendable {
        public var bytes: [UInt8]
        public var totalSize: UInt64
        public var etag: String
    }

    /// `versionId`: that version of the object (a repository read as it was at a time).
    func get(_ key: String, range: Range<UInt64>, ifMatch etag: String?, versionId: String? = nil) throws(S3Error) -> Chunk? {
        var headers = [("range", "bytes=\(range.lowerBound)-\(range.upperBound - 1)")] + contentHeaders
        if let etag { headers.append(("if-match", etag)) }
        let request = Request(method: "GET", key: key, query: versionId.map { [("versionId", $0)] } ?? [], headers: headers,
                              responseLimit: Int(range.count), accepted: [404, 416])
        let response = try send(request)
        if response.status == 404 {
            // A missing bucket is an error; only a missing key is "no such object".
            if let code = XMLElement.parse(response.body)?["Code"], code != "NoSuchKey" { throw failure(request, response) }
            return nil
        }
        if response.status == 416 {
            // Past the end: only an empty object (or a range starting at its end) gets here.
            guard let info = try head(key, versionId: versionId) else { return nil }
            guard range.lowerBound >= info.size else {
                throw .protocolError(request: describe(request), reason: "416 for a range inside the object")
            }
            return Chunk(bytes: [], totalSize: info.size, etag: info.etag)
        }
        var total = UInt64(response.body.count)
        if response.status == 206 {
            guard let contentRange = response.headers["content-range"], let slash = contentRange.lastIndex(of: "/"),
                  let size = UInt64(contentRange[contentRange.index(after: slash)...]) else {
                throw .protocolError(request: describe(request), reason: "206 without a Content-Range total")
            }
            total = size
        }
        return Chunk(bytes: response.body, totalSize: total, etag: response.headers["etag"] ?? "")
    }

    public struct ObjectInfo: Sendable {
        public var size: UInt64
        public var mtime: Int64
        public var etag: String
    }

    func head(_ key: String, versionId: String? = nil) throws(S3Error) -> ObjectInfo? {
        let response: HTTPResponse
        let query = versionId.map { [("versionId", $0)] } ?? []
        do {
            response = try send(Request(method: "HEAD", key: key, query: query, headers: contentHeaders, accepted: [404]))
        } catch {
            // A HEAD answer has no body, so no error code: a refused HEAD (403: which key,
            // which secret?) is asked again as a one-byte GET, whose answer says why.
            guard let status = error.status, (400..<500).contains(status) else { throw error }
            _ = try send(Request(method: "GET", key: key, query: query, headers: [("range", "bytes=0-0")] + contentHeaders, responseLimit: 1,
                                 accepted: [404, 416]))
            throw error
        }
        if response.status == 404 { return nil }
        guard let size = response.headers["content-length"].flatMap({ UInt64($0) }) else {
            throw .protocolError(request: "HEAD s3://\(settings.bucket)/\(key)", reason: "no Content-Length")
        }
        return ObjectInfo(size: size, mtime: response.headers["last-modified"].flatMap(HTTPDate.parse) ?? 0,
                          etag: response.headers["etag"] ?? "")
    }

    /// Content-MD5 of an upload's body. Buckets with Object Lock refuse a PUT or part without
    /// a content checksum (AWS), and every server that receives one checks the body against
    /// it; MD5 is the one every S3 implementation takes (x-amz-checksum-* came later).
    static func integrityHeaders(_ body: UnsafeRawBufferPointer) -> [(String, String)] {
        [("content-md5", Digest.base64(Digest.md5(body)))]
    }

    /// What a request creating an object carries besides encryption: the storage class (for
    /// backup data and WAL only, `data`) and the tags.
    func objectHeaders(data: Bool) -> [(String, String)] {
        var headers = creationHeaders
        if data, let storageClass = settings.dataStorageClass { headers.append(("x-amz-storage-class", storageClass)) }
        if !settings.tags.isEmpty {
            headers.append(("x-amz-tagging", settings.tags.map { SigV4.uriEncode($0.key, keepSlash: false) + "=" + SigV4.uriEncode($0.value, keepSlash: false) }.joined(separator: "&")))
        }
        return headers
    }

    /// One PUT; with `ifNoneMatch` it fails with `exists` (412) when the key exists. The
    /// SHA-256 in the signature makes the server check the payload.
    /// Returns false when the precondition failed.
    func put(_ key: String, body: UnsafeRawBufferPointer, ifNoneMatch: Bool, data: Bool = false) throws(S3Error) -> Bool {
        var headers = Self.integrityHeaders(body) + objectHeaders(data: data)
        if ifNoneMatch { headers.append(("if-none-match", "*")) }
        let request = Request(method: "PUT", key: key, headers: headers, body: body, accepted: ifNoneMatch ? [412] : [])
        let response = try send(request)
        if response.status != 412 { try checkEncryptionApplied(request, response) }
        return response.status != 412
    }

    /// A server that takes the SSE headers and stores the object in plain (Ceph 16 does so
    /// for SSE-S3) says nothing about encryption in its answer: refused, never a false OK.
    func checkEncryptionApplied(_ request: Request, _ response: HTTPResponse) throws(S3Error) {
        let (header, kind): (String, String)
        switch settings.serverSideEncryption {
        case nil: return
        case .s3: (header, kind) = ("x-amz-server-side-encryption", "S3_SSE=AES256")
        case .kms: (header, kind) = ("x-amz-server-side-encryption", "S3_SSE=aws:kms")
        case .customer: (header, kind) = ("x-amz-server-side-encryption-customer-algorithm", "S3_SSE_CUSTOMER_KEY_FILE")
        }
        guard response.headers[header] == nil else { return }
        throw .protocolError(request: describe(request),
                             reason: "\(settings.endpoint.authority) did not say it applied the server-side encryption asked for (\(kind)): no \(header) in its answer; it may not support it")
    }

    func delete(_ key: String) throws(S3Error) {
        _ = try send(Request(method: "DELETE", key: key, accepted: [404]))
    }

    /// DeleteObjects, up to 1000 keys a request; any key it could not delete is an error.
    func delete(keys: [String]) throws(S3Error) {
        var start = 0
        while start < keys.count {
            let batch = keys[start..<min(keys.count, start + 1000)]
            start += batch.count
            let xml = "<Delete><Quiet>true</Quiet>" + batch.map { "<Object><Key>\(XMLElement.escape($0))</Key></Object>" }.joined() + "</Delete>"
            let body = Array(xml.utf8)
            let md5 = body.withUnsafeBytes { Digest.base64(Digest.md5($0)) }
            let response = try send(Request(method: "POST", key: nil, query: [("delete", "")], headers: [("content-md5", md5)]), body: body)
            if let document = XMLElement.parse(response.body), let error = document.children("Error").first {
                throw .http(request: "DELETE s3://\(settings.bucket)/\(error["Key"])", status: response.status,
                            code: error["Code"], message: error["Message"], hint: "")
            }
        }
    }

    // MARK: listing

    public struct Listing: Sendable {
        public var objects: [(key: String, size: UInt64, mtime: Int64)] = []
        public var prefixes: [String] = []
    }

    /// Every object (and, with a delimiter, every common prefix) under `prefix`, following
    /// continuation tokens.
    func list(prefix: String, delimiter: String?, pageSize: Int? = nil) throws(S3Error) -> Listing {
        var listing = Listing()
        var token: String?
        repeat {
            var query = [("list-type", "2"), ("prefix", prefix), ("encoding-type", "url")]
            if let pageSize { query.append(("max-keys", String(pageSize))) }
            if let delimiter { query.append(("delimiter", delimiter)) }
            if let token { query.append(("continuation-token", token)) }
            let request = Request(method: "GET", key: nil, query: query, responseLimit: 16 << 20)
            let response = try send(request)
            guard let document = XMLElement.parse(response.body), document.name == "ListBucketResult" else {
                throw .protocolError(request: describe(request) + "?prefix=" + prefix, reason: "not a ListBucketResult")
            }
            for item in document.children("Contents") {
                guard let key = PercentEncoding.decode(item["Key"]), let size = UInt64(item["Size"]) else {
                    throw .protocolError(request: describe(request), reason: "a listed object without key or size")
                }
                listing.objects.append((key, size, ISODate.parse(item["LastModified"]) ?? 0))
            }
            for item in document.children("CommonPrefixes") {
                guard let p = PercentEncoding.decode(item["Prefix"]) else {
                    throw .protocolError(request: describe(request), reason: "a common prefix that is not URL-encoded")
                }
                listing.prefixes.append(p)
            }
            token = document["IsTruncated"] == "true" ? document["NextContinuationToken"] : nil
            if document["IsTruncated"] == "true" && (token ?? "").isEmpty {
                throw .protocolError(request: describe(request), reason: "truncated listing without a continuation token")
            }
        } while token != nil
        return listing
    }

    // MARK: multipart

    func createMultipartUpload(_ key: String, data: Bool = false) throws(S3Error) -> String {
        let request = Request(method: "POST", key: key, query: [("uploads", "")], headers: objectHeaders(data: data))
        let response = try send(request)
        guard let id = XMLElement.parse(response.body)?["UploadId"], !id.isEmpty else {
            throw .protocolError(request: describe(request), reason: "no UploadId")
        }
        return id
    }

    /// Multipart uploads begun below `prefix` and never completed or aborted, oldest first
    /// as the server lists them (a key and its upload ID, when it was initiated).
    func listMultipartUploads(prefix: String) throws(S3Error) -> [(key: String, uploadID: String, initiated: Int64)] {
        var uploads: [(key: String, uploadID: String, initiated: Int64)] = []
        var markers: (key: String, upload: String)?
        repeat {
            var query = [("uploads", ""), ("prefix", prefix), ("encoding-type", "url")]
            if let markers { query += [("key-marker", markers.key), ("upload-id-marker", markers.upload)] }
            let request = Request(method: "GET", key: nil, query: query, responseLimit: 16 << 20)
            let response = try send(request)
            guard let document = XMLElement.parse(response.body), document.name == "ListMultipartUploadsResult" else {
                throw .protocolError(request: describe(request) + "?uploads", reason: "not a ListMultipartUploadsResult")
            }
            for upload in document.children("Upload") {
                guard let key = PercentEncoding.decode(upload["Key"]), !upload["UploadId"].isEmpty else {
                    throw .protocolError(request: describe(request), reason: "a listed upload without key or upload ID")
                }
                uploads.append((key, upload["UploadId"], ISODate.parse(upload["Initiated"]) ?? 0))
            }
            markers = nil
            if document["IsTruncated"] == "true" {
                let next = (PercentEncoding.decode(document["NextKeyMarker"]) ?? "", document["NextUploadIdMarker"])
                guard !next.0.isEmpty else {
                    throw .protocolError(request: describe(request), reason: "truncated upload listing without a next marker")
                }
                markers = next
            }
        } while markers != nil
        return uploads
    }

    func uploadPart(_ key: String, uploadID: String, number: Int, body: UnsafeRawBufferPointer) throws(S3Error) -> String {
        let request = Request(method: "PUT", key: key, query: [("partNumber", "\(number)"), ("uploadId", uploadID)],
                              headers: Self.integrityHeaders(body) + contentHeaders, body: body)
        let response = try send(request)
        guard let etag = response.headers["etag"], !etag.isEmpty else {
            throw .protocolError(request: describe(request), reason: "no ETag for part \(number)")
        }
        return etag
    }

    /// Returns false when `ifNoneMatch` and the key exists (where the server checks it).
    func completeMultipartUpload(_ key: String, uploadID: String, etags: [String], ifNoneMatch: Bool) throws(S3Error) -> Bool {
        let xml = "<CompleteMultipartUpload>" + etags.enumerated().map {
            "<Part><PartNumber>\($0.offset + 1)</PartNumber><ETag>\(XMLElement.escape($0.element))</ETag></Part>"
        }.joined() + "</CompleteMultipartUpload>"
        let body = Array(xml.utf8)
        var headers: [(String, String)] = []
        if ifNoneMatch { headers.append(("if-none-match", "*")) }
        let request = Request(method: "POST", key: key, query: [("uploadId", uploadID)], headers: headers,
                              accepted: ifNoneMatch ? [404, 412] : [404])
        let response = try send(request, body: body)
        if response.status == 412 || response.status == 404 {
            // After a retry, NoSuchUpload (or, with If-None-Match, "exists") may mean the first
            // attempt completed it and its answer was lost. It did if the object's ETag is the
            // one S3 gives exactly these parts: then the object is ours, and whole.
            if let info = try head(key), info.etag == Self.multipartETag(etags) { return true }
            if response.status == 412 { return false }
            throw failure(request, response)
        }
        // S3 may answer 200 and still fail the completion, in the body.
        if let document = XMLElement.parse(response.body), document.name == "Error" {
            throw .http(request: describe(request), status: response.status, code: document["Code"], message: document["Message"], hint: "")
        }
        if settings.serverSideEncryption != nil && (try? checkEncryptionApplied(request, response)) == nil {
            // Some servers (SeaweedFS) say it only of the object itself.
            let head = Request(method: "HEAD", key: key, headers: contentHeaders)
            try checkEncryptionApplied(head, try send(head))
        }
        return true
    }

    /// S3's ETag of a completed multipart object: the MD5 of the parts' binary MD5s, then
    /// "-" and the number of parts.
    static func multipartETag(_ partETags: [String]) -> String {
        var digests: [UInt8] = []
        for etag in partETags {
            let hex = Array(etag.utf8.filter { $0 != UInt8(ascii: "\"") })
            guard hex.count == 32 else { return "" }
            var i = 0
            while i < 32 {
                guard let byte = UInt8(String(decoding: hex[i..<(i + 2)], as: UTF8.self), radix: 16) else { return "" }
                digests.append(byte)
                i += 2
            }
        }
        return "\"" + Digest.hex(digests.withUnsafeBytes { Digest.md5($0) }) + "-\(partETags.count)\""
    }

    func abortMultipartUpload(_ key: String, uploadID: String) {
        _ = try? send(Request(method: "DELETE", key: key, query: [("uploadId", uploadID)], accepted: [404]))
    }

    // MARK: buckets

    /// Creates the bucket (tests and first-time setup); an existing one owned by these
    /// credentials is fine.
    public func createBucket() throws(S3Error) {
        let response = try send(Request(method: "PUT", key: nil, accepted: [409]))
        if response.status == 409, XMLElement.parse(response.body)?["Code"] != "BucketAlreadyOwnedByYou" {
            throw failure(Request(method: "PUT", key: nil), response)
        }
    }
}
