import Synchronization
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Named points where tests stop pgbk on purpose, as PostgreSQL's injection points do:
/// `PGBK_FAULT=NAME[@N][:ACTION]` acts on the Nth time (default the first) that any thread
/// passes the point NAME. ACTION `kill` (the default) is SIGKILL, a crash at exactly that
/// moment; `error` throws an I/O error there; `stop` is SIGSTOP, so that a test can change
/// the world (stop a storage server) at that moment and then let pgbk go on with SIGCONT.
/// Unset, a point costs one comparison.
public enum FaultInjection {
    enum Action: Sendable, Equatable { case kill, error, stop }

    struct Spec: Sendable, Equatable {
        let name: String
        let count: Int
        let action: Action
    }

    static let spec: Spec? = getenv("PGBK_FAULT").flatMap { parse(String(cString: $0)) }
    private static let passes = Mutex<Int>(0)

    static func parse(_ text: String) -> Spec? {
        var rest = Substring(text)
        var action = Action.kill
        if let colon = rest.lastIndex(of: ":") {
            switch rest[rest.index(after: colon)...] {
            case "kill": action = .kill
            case "error": action = .error
            case "stop": action = .stop
            default: return nil
            }
            rest = rest[..<colon]
        }
        var count = 1
        if let at = rest.lastIndex(of: "@") {
            guard let n = Int(rest[rest.index(after: at)...]), n >= 1 else { return nil }
            count = n
            rest = rest[..<at]
        }
        return rest.isEmpty ? nil : Spec(name: String(rest), count: count, action: action)
    }

    public struct Injected: Error, CustomStringConvertible {
        public let point: String
        public var description: String { "injected I/O error at \(point) (PGBK_FAULT)" }
    }

    public static func point(_ name: String) throws {
        guard let spec, spec.name == name else { return }
        let pass = passes.withLock { value -> Int in
            value += 1
            return value
        }
        guard pass == spec.count else { return }
        switch spec.action {
        case .kill:
            Glibc.kill(getpid(), SIGKILL)
            pause()
        case .stop:
            Glibc.kill(getpid(), SIGSTOP)
            return
        case .error:
            break
        }
        throw Injected(point: name)
    }
}
