/// What went wrong talking to an object store, as one line naming the request and the
/// object. Never carries the secret key: only the access key id, where it helps.
public enum S3Error: Error, Sendable, CustomStringConvertible {
    /// Configuration or libraries: nothing was sent.
    case setup(String)
    /// The server answered with an error status (S3's error code and message, when it sent them).
    case http(request: String, status: Int, code: String, message: String, hint: String)
    /// The request did not complete: connection refused or dropped, timeout, TLS.
    case transport(request: String, reason: String, retriable: Bool)
    /// The response could not be understood.
    case protocolError(request: String, reason: String)

    public var description: String {
        switch self {
        case .setup(let text): return text
        case .http(let request, let status, let code, let message, let hint):
            var text = "\(request): HTTP \(status)"
            if !code.isEmpty { text += " \(code)" }
            if !message.isEmpty { text += ": \(message)" }
            if !hint.isEmpty { text += " (\(hint))" }
            return text
        case .transport(let request, let reason, _): return "\(request): \(reason)"
        case .protocolError(let request, let reason): return "\(request): unexpected response: \(reason)"
        }
    }

    /// Answers that say the store is full or will not take the object: the same the next
    /// time, however long the backoff (Ceph's QuotaExceeded, HTTP 507, MinIO's StorageFull).
    static let permanentCodes: Set<String> = [
        "QuotaExceeded", "InsufficientStorage", "XMinioStorageFull", "EntityTooLarge", "NotImplemented",
    ]

    /// Worth sending again: the server is busy or failed, or the connection did; never a full
    /// store (each archive-push would otherwise spend minutes failing, WAL piling up).
    var isRetriable: Bool {
        switch self {
        case .http(_, let status, let code, _, _):
            if status == 507 || status == 501 || Self.permanentCodes.contains(code) { return false }
            return status >= 500 || status == 408 || status == 429 || code == "SlowDown" || code == "RequestTimeout"
        case .transport(_, _, let retriable): return retriable
        case .setup, .protocolError: return false
        }
    }

    var status: Int? { if case .http(_, let status, _, _, _) = self { return status } else { return nil } }
}
