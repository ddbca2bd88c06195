import Foundation
import Synchronization

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// A TCP proxy on loopback in front of the gateway that misbehaves on purpose, per new
/// connection: answers 503 SlowDown (throttling), closes without an answer (a dropped
/// connection), or passes the exchange through and cuts it after some bytes of response.
/// Everything else is passed through untouched, so signatures still reach the real server.
final class FaultProxy: Sendable {
    /// `answer` replies with that S3 error itself, without forwarding (AWS answers a repeated
    /// CompleteMultipartUpload with NoSuchUpload once the first has cleaned the upload up).
    enum Fault: Sendable, Equatable { case throttle, drop, cut(afterBytes: Int), answer(status: Int, code: String) }

    let port: Int
    private let upstreamPort: Int
    private let listener: Int32
    private let state = Mutex<(plan: [Fault], always: Fault?, served: [Fault])>(([], nil, []))
    /// What to do with the next requests whose line (method and target) matches, in order:
    /// `.drop` forwards the request and keeps its answer from the client; `.answer` answers
    /// it here without forwarding. Per request, not per connection: clients keep connections.
    private let requestRules = Mutex<(method: String, containing: String, actions: [Fault])?>(nil)
    let requestFaultsServed = Atomic<Int>(0)
    /// The clients' connections being served, so that an outage can cut them.
    private let open = Mutex<Set<Int32>>([])
    // Every write is a send with MSG_NOSIGNAL: a connection cut by an outage must fail the
    // write, not raise SIGPIPE in the test process.

    init(upstreamPort: Int) throws {
        self.upstreamPort = upstreamPort
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else { throw TestFailure("fault proxy: cannot listen") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        listener = fd
        Thread.detachNewThread { [self] in
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 { if errno == EINTR { continue } else { return } }
                let fault = nextFault()
                Thread.detachNewThread { [self] in handle(client, fault) }
            }
        }
    }

    var endpoint: String { "http://127.0.0.1:\(port)" }

    /// The next connections get these faults, in order; then `always` (nil: pass through).
    func plan(_ faults: [Fault], always: Fault? = nil) {
        state.withLock { $0.plan = faults; $0.always = always; $0.served = [] }
    }

    var served: [Fault] { state.withLock { $0.served } }

    /// The next requests whose line is `method` with a target containing `containing` meet
    /// `actions`, one each (`.drop`: the server acts on it, but its answer never comes back).
    func onRequests(_ method: String, containing: String, _ actions: [Fault]) {
        requestRules.withLock { $0 = (method, containing, actions) }
    }

    /// The action for a request in `bytes` (what the client sent), if a rule names it.
    private func requestFault(_ bytes: ArraySlice<UInt8>) -> Fault? {
        requestRules.withLock { rule in
            guard let r = rule, !r.actions.isEmpty else { return nil }
            guard Self.hasRequestLine(in: bytes, method: r.method, containing: r.containing) else { return nil }
            rule!.actions.removeFirst()
            requestFaultsServed.add(1, ordering: .sequentiallyConsistent)
            return r.actions.first
        }
    }

    /// Whether `bytes` hold a line starting `METHOD ` whose rest contains `containing`.
    /// Only line starts are looked at (memchr for each newline): an upload's body passes
    /// through here 64 KiB at a time, and decoding each chunk as text made a 10 MB upload
    /// take 20 s in a debug build.
    static func hasRequestLine(in bytes: ArraySlice<UInt8>, method: String, containing: String) -> Bool {
        let prefix = Array((method + " ").utf8)
        return bytes.withUnsafeBytes { raw -> Bool in
            guard let base = raw.baseAddress else { return false }
            var start = 0
            while start < raw.count {
                let rest = raw.count - start
                let end = memchr(base + start, Int32(UInt8(ascii: "\n")), rest).map { base.distance(to: $0) } ?? raw.count
                if rest >= prefix.count, memcmp(base + start, prefix, prefix.count) == 0,
                   String(decoding: UnsafeRawBufferPointer(start: base + start, count: end - start), as: UTF8.self).contains(containing) {
                    return true
                }
                start = end + 1
            }
            return false
        }
    }

    func close() { shutdown(listener, Int32(SHUT_RDWR)); Glibc.close(listener) }

    /// The gateway "goes away" for this proxy's clients alone (others sharing the gateway
    /// are untouched): the connections being served are cut and every new one is closed
    /// unanswered, until `endOutage`.
    func outage() {
        plan([], always: .drop)
        open.withLock { fds in for fd in fds { shutdown(fd, Int32(SHUT_RDWR)) } }
    }

    func endOutage() { plan([]) }

    private func nextFault() -> Fault? {
        state.withLock { s in
            let fault = s.plan.isEmpty ? s.always : s.plan.removeFirst()
            if let fault { s.served.append(fault) }
            return fault
        }
    }

    private func handle(_ client: Int32, _ fault: Fault?) {
        // Out of the set before it is closed: an outage never shuts a reused descriptor.
        open.withLock { _ = $0.insert(client) }
        defer { open.withLock { _ = $0.remove(client) }; Glibc.close(client) }
        // The first request's head (and body, so that a 503 is read cleanly by the client).
        var buffered: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        var headEnd: Int?
        while headEnd == nil {
            let n = read(client, &chunk, chunk.count)
            if n <= 0 { return }
            buffered += chunk[0..<n]
            headEnd = Self.find(Array("\r\n\r\n".utf8), in: buffered).map { $0 + 4 }
        }
        switch fault {
        case .drop:
            return
        case .throttle:
            answer(client, buffered, headEnd: headEnd!, status: 503, code: "SlowDown")
        case .answer(let status, let code):
            answer(client, buffered, headEnd: headEnd!, status: status, code: code)
        case .cut(let limit):
            pass(client, buffered, responseLimit: limit)
        case nil:
            pass(client, buffered, responseLimit: nil)
        }
    }

    /// Reads the request's body (so that the client reads the answer cleanly) and answers
    /// with an S3 error document.
    private func answer(_ client: Int32, _ buffered: [UInt8], headEnd: Int, status: Int, code: String) {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let head = String(decoding: buffered[0..<headEnd], as: UTF8.self).lowercased()
        var bodyLength = 0
        if let line = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }) {
            bodyLength = Int(line.dropFirst(15).trimmingCharacters(in: .whitespaces)) ?? 0
        }
        var remaining = bodyLength - (buffered.count - headEnd)
        while remaining > 0 {
            let n = read(client, &chunk, min(chunk.count, remaining))
            if n <= 0 { return }
            remaining -= n
        }
        Self.writeError(client, status: status, code: code)
    }

    private static func writeError(_ client: Int32, status: Int, code: String) {
        let body = "<?xml version=\"1.0\"?><Error><Code>\(code)</Code><Message>fault proxy</Message></Error>"
        let response = "HTTP/1.1 \(status) \(code)\r\nContent-Type: application/xml\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
        _ = Array(response.utf8).withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    private func pass(_ client: Int32, _ buffered: [UInt8], responseLimit: Int?) {
        let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { Glibc.close(upstream) }
        var address = Self.loopback(port: upstreamPort)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return }
        // Without pipelining, every answer after a request `.drop` names is that request's:
        // from then on nothing more goes back to the client.
        let silenced = Atomic<Bool>(false)
        @Sendable func forward(_ bytes: ArraySlice<UInt8>) -> Bool {
            switch requestFault(bytes) {
            case .answer(let status, let code):
                Self.writeError(client, status: status, code: code)
                shutdown(client, Int32(SHUT_RDWR))
                shutdown(upstream, Int32(SHUT_RDWR))
                return false
            case .drop: silenced.store(true, ordering: .sequentiallyConsistent)
            default: break
            }
            return bytes.withUnsafeBytes { send(upstream, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
        }
        guard forward(buffered[...]) else { return }
        let done = Mutex(false)
        Thread.detachNewThread {
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = read(client, &chunk, chunk.count)
                if n <= 0 || !forward(chunk[0..<n]) { break }
            }
            shutdown(upstream, Int32(SHUT_WR))
            done.withLock { $0 = true }
        }
        var chunk = [UInt8](repeating: 0, count: 65536)
        var sent = 0
        while true {
            let n = read(upstream, &chunk, chunk.count)
            if n <= 0 { break }
            if silenced.load(ordering: .sequentiallyConsistent) { break }
            let allowed = responseLimit.map { min(n, $0 - sent) } ?? n
            if allowed > 0, send(client, chunk, allowed, Int32(MSG_NOSIGNAL)) != allowed { break }
            sent += allowed
            if let responseLimit, sent >= responseLimit { break }
        }
        shutdown(client, Int32(SHUT_RDWR))
        shutdown(upstream, Int32(SHUT_RDWR))
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
        return nil
    }
}
