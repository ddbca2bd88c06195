import CObjectStoreLoader
import Synchronization

/// One HTTP exchange's inputs.
struct HTTPRequest {
    var method: String
    var url: String
    var headers: [(String, String)]
    /// The whole body: S3 requests are sent from memory (a part at most), so a retry can
    /// send it again.
    var body: UnsafeRawBufferPointer?
    /// The most the response body may hold; more is a protocol error, not memory growth.
    var responseLimit: Int
}

struct HTTPResponse {
    var status: Int
    /// Header names in lower case.
    var headers: [String: String]
    var body: [UInt8]
}

/// A libcurl easy handle: one request at a time, its connection kept alive between them.
/// Owned by one thread at a time, handed between threads only through `HTTPConnectionPool`.
final class HTTPConnection {
    private let handle: UnsafeMutableRawPointer

    init() throws(S3Error) {
        try NativeLibraries.load()
        guard let handle = pgbk_curl_easy_init() else { throw .setup("libcurl could not make a handle") }
        self.handle = handle
    }

    deinit { pgbk_curl_easy_cleanup(handle) }

    /// Failures worth another attempt: the network or the server's end of it. A certificate
    /// that does not verify, a bad URL or option is the same the next time. SEND_FAIL_REWIND
    /// is a kept-alive connection that closed after a request with a body was sent: curl
    /// cannot resend it itself, pgbk's retry sends it again whole.
    static let transientFailures: Set<CURLcode> = [
        CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_CONNECT, CURLE_PARTIAL_FILE, CURLE_OPERATION_TIMEDOUT,
        CURLE_SSL_CONNECT_ERROR, CURLE_GOT_NOTHING, CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_SEND_FAIL_REWIND,
    ]

    /// Performs the request; a transport failure is thrown as its curl reason.
    func perform(_ request: HTTPRequest, caBundle: String?, timeoutSeconds: Int) throws(S3Error) -> HTTPResponse {
        pgbk_curl_easy_reset(handle)
        // Room for an error document whatever the expected size (a 1-byte GET's 403 says why).
        let limit = max(request.responseLimit, 64 << 10)
        let exchange = Exchange(body: request.body, limit: limit)
        let context = Unmanaged.passUnretained(exchange).toOpaque()
        var headerList: UnsafeMutablePointer<curl_slist>?
        // curl adds "Expect: 100-continue" to large uploads (a round trip) and a form
        // Content-Type to POSTs: both off.
        for line in request.headers.map({ "\($0.0): \($0.1)" }) + ["Expect:", "Content-Type:"] {
            headerList = pgbk_curl_slist_append(headerList, line)
        }
        defer { pgbk_curl_slist_free_all(headerList) }

        var ok = pgbk_curl_setopt_string(handle, CURLOPT_URL, request.url) == CURLE_OK
        ok = ok && pgbk_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList) == CURLE_OK
        ok = ok && pgbk_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1) == CURLE_OK
        ok = ok && pgbk_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT, Int(min(timeoutSeconds, 30))) == CURLE_OK
        // A stalled transfer (under 1 byte/s for the timeout) fails and is retried; a slow
        // but moving one of a large part is not cut off.
        ok = ok && pgbk_curl_setopt_long(handle, CURLOPT_LOW_SPEED_LIMIT, 1) == CURLE_OK
        ok = ok && pgbk_curl_setopt_long(handle, CURLOPT_LOW_SPEED_TIME, Int(timeoutSeconds)) == CURLE_OK
        ok = ok && pgbk_curl_setopt_long(handle, CURLOPT_PROTOCOLS, Int(CURLPROTO_HTTP | CURLPROTO_HTTPS)) == CURLE_OK
        if let caBundle { ok = ok && pgbk_curl_setopt_string(handle, CURLOPT_CAINFO, caBundle) == CURLE_OK }
        ok = ok && pgbk_curl_setopt_data_callback(handle, CURLOPT_WRITEFUNCTION, writeBody) == CURLE_OK
        ok = ok && pgbk_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, context) == CURLE_OK
        ok = ok && pgbk_curl_setopt_data_callback(handle, CURLOPT_HEADERFUNCTION, readHeader) == CURLE_OK
        ok = ok && pgbk_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, context) == CURLE_OK
        switch request.method {
        case "GET": break
        case "HEAD": ok = ok && pgbk_curl_setopt_long(handle, CURLOPT_NOBODY, 1) == CURLE_OK
        case "PUT", "POST":
            let length = request.body?.count ?? 0
            if request.method == "PUT" {
                ok = ok && pgbk_curl_setopt_long(handle, CURLOPT_UPLOAD, 1) == CURLE_OK
                ok = ok && pgbk_curl_setopt_offset(handle, CURLOPT_INFILESIZE_LARGE, curl_off_t(length)) == CURLE_OK
            } else {
                ok = ok && pgbk_curl_setopt_long(handle, CURLOPT_POST, 1) == CURLE_OK
                ok = ok && pgbk_curl_setopt_offset(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(length)) == CURLE_OK
            }
            ok = ok && pgbk_curl_setopt_data_callback(handle, CURLOPT_READFUNCTION, readBody) == CURLE_OK
            ok = ok && pgbk_curl_setopt_pointer(handle, CURLOPT_READDATA, context) == CURLE_OK
        default:
            ok = ok && pgbk_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, request.method) == CURLE_OK
        }
        guard ok else { throw .setup("libcurl refused an option (libcurl too old?)") }

        let code = withExtendedLifetime(exchange) { pgbk_curl_easy_perform(handle) }
        if exchange.overflow {
            throw .protocolError(request: "", reason: "response body larger than \(limit) bytes")
        }
        guard code == CURLE_OK else {
            throw .transport(request: "", reason: String(cString: pgbk_curl_easy_strerror(code)),
                             retriable: Self.transientFailures.contains(code))
        }
        var status = 0
        _ = pgbk_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return HTTPResponse(status: status, headers: exchange.headers, body: exchange.received)
    }
}

/// What the callbacks see of one exchange.
private final class Exchange {
    let body: UnsafeRawBufferPointer?
    var sent = 0
    let limit: Int
    var received: [UInt8] = []
    var headers: [String: String] = [:]
    var overflow = false

    init(body: UnsafeRawBufferPointer?, limit: Int) {
        self.body = body
        self.limit = limit
    }
}

private let writeBody: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = { data, size, count, context in
    let exchange = Unmanaged<Exchange>.fromOpaque(context!).takeUnretainedValue()
    let n = size * count
    guard exchange.received.count + n <= exchange.limit else {
        exchange.overflow = true
        return 0
    }
    // Sized once from Content-Length (a chunk of megabytes would otherwise be copied each
    // time the array doubles on the way).
    if exchange.received.isEmpty, let length = exchange.headers["content-length"].flatMap(Int.init), length <= exchange.limit {
        exchange.received.reserveCapacity(length)
    }
    exchange.received.append(contentsOf: UnsafeRawBufferPointer(start: data, count: n))
    return n
}

private let readBody: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = { buffer, size, count, context in
    let exchange = Unmanaged<Exchange>.fromOpaque(context!).takeUnretainedValue()
    guard let body = exchange.body, let buffer else { return 0 }
    let n = min(size * count, body.count - exchange.sent)
    guard n > 0 else { return 0 }
    UnsafeMutableRawPointer(buffer).copyMemory(from: body.baseAddress! + exchange.sent, byteCount: n)
    exchange.sent += n
    return n
}

private let readHeader: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = { data, size, count, context in
    let exchange = Unmanaged<Exchange>.fromOpaque(context!).takeUnretainedValue()
    let n = size * count
    let line = String(decoding: UnsafeRawBufferPointer(start: data, count: n), as: UTF8.self)
    if line.hasPrefix("HTTP/") {
        // A new response (after a redirect or 100 Continue): only the last one's headers count.
        exchange.headers = [:]
    } else if let colon = line.firstIndex(of: ":") {
        let name = line[..<colon].lowercased()
        var value = line[line.index(after: colon)...]
        while let f = value.first, f == " " || f == "\t" { value = value.dropFirst() }
        // "\r\n" is one Character in Swift: isWhitespace covers it.
        while let l = value.last, l.isWhitespace { value = value.dropLast() }
        exchange.headers[name] = String(value)
    }
    return n
}

/// Idle connections, so that a worker's next request reuses a kept-alive one.
final class HTTPConnectionPool: Sendable {
    /// A handle crosses threads only through this lock, and is used by one thread at a time.
    private struct Idle: @unchecked Sendable { let connection: HTTPConnection }
    private let idle = Mutex<[Idle]>([])

    func take() throws(S3Error) -> HTTPConnection {
        if let found = idle.withLock({ $0.popLast() }) { return found.connection }
        return try HTTPConnection()
    }

    func give(_ connection: HTTPConnection) {
        idle.withLock { $0.append(Idle(connection: connection)) }
    }
}
