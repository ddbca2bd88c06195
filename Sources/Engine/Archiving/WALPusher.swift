import Repository
import Synchronization

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The background process of asynchronous archive-push: `jobs` threads store, oldest first,
/// every file PostgreSQL has marked ready, each into every repository (`push`), and leave a
/// receipt for the archive_command call that will ask for it. One per spool (its lock);
/// it exits once nothing has been ready for `idleSeconds`. Killed at any moment, it loses
/// nothing: a receipt is written only after every repository holds the file, and a file
/// without one is pushed again (the repositories accept an identical copy as archived).
public struct WALPusher: Sendable {
    public let spool: WALPushSpool
    public let jobs: Int
    public let idleSeconds: Double
    /// The repositories a receipt names (numbers and locations).
    public let repositories: String
    /// Stores the file at this path in every repository, or throws naming what failed.
    public let push: @Sendable (String) throws -> Void

    public init(spool: WALPushSpool, jobs: Int, idleSeconds: Double, repositories: String,
                push: @escaping @Sendable (String) throws -> Void) {
        self.spool = spool
        self.jobs = jobs
        self.idleSeconds = idleSeconds
        self.repositories = repositories
        self.push = push
    }

    /// false when another pusher holds the spool.
    public func run() -> Bool {
        guard let lock = spool.tryLock() else { return false }
        defer { lock.release() }
        spool.trim(waiting: Set(spool.ready()), temporaries: true)
        let queue = ReadyQueue(spool: spool, idleSeconds: idleSeconds)
        let work = self
        WorkerPool.runThreads(max(1, jobs)) {
            while let name = queue.next() {
                queue.finished(name, stored: work.store(name))
            }
        }
        return true
    }

    private func store(_ name: String) -> Bool {
        let path = spool.walDirectory + "/" + name
        do {
            let before = try WALPushSpool.checksum(of: path)
            let receipt = WALPushSpool.Receipt(size: before.size, checksum: before.checksum, repositories: repositories)
            // A receipt left by an earlier pusher counts only when it names these bytes.
            if spool.receipt(name) == receipt { return true }
            // PostgreSQL never rewrites a ready file. Were the file changed during the push,
            // the receipt would not match it, and the call for it pushes it itself.
            try push(path)
            try spool.recordStored(name, receipt)
            return true
        } catch {
            let line = oneLineDescription(error)
            Console.warning("archive-push (background): \(name): \(line)")
            spool.recordFailure(name, line)
            return false
        }
    }
}

/// The ready files handed out to the pusher's threads: each once, in PostgreSQL's order,
/// none already receipted; one that failed waits before it is tried again.
private final class ReadyQueue: Sendable {
    private struct State: Sendable {
        var pending: [String] = []
        var inFlight: Set<String> = []
        var done: Set<String> = []
        var retryAfter: [String: Double] = [:]
        var lastScan = 0.0
        var lastTrim = 0.0
        var idleSince = monotonicSeconds()
    }
    private let state = Mutex(State())
    private let spool: WALPushSpool
    private let idleSeconds: Double
    static let scanInterval = 0.01
    static let retryDelay = 5.0

    init(spool: WALPushSpool, idleSeconds: Double) {
        self.spool = spool
        self.idleSeconds = idleSeconds
    }

    /// The next file to store; nil once the pusher has been idle long enough.
    func next() -> String? {
        while true {
            let now = monotonicSeconds()
            let answer: String?? = state.withLock { s in
                if s.pending.isEmpty && now - s.lastScan >= Self.scanInterval { scan(&s, now: now) }
                if let name = s.pending.first {
                    s.pending.removeFirst()
                    s.inFlight.insert(name)
                    return .some(name)
                }
                if !s.inFlight.isEmpty { s.idleSince = now }
                return now - s.idleSince > idleSeconds ? .some(nil) : nil
            }
            if let answer { return answer }
            usleep(UInt32(Self.scanInterval * 1e6))
        }
    }

    func finished(_ name: String, stored: Bool) {
        state.withLock { s in
            s.inFlight.remove(name)
            if !stored { s.retryAfter[name] = monotonicSeconds() + Self.retryDelay } else { s.done.insert(name) }
            s.idleSince = monotonicSeconds()
        }
    }

    private func scan(_ s: inout State, now: Double) {
        s.lastScan = now
        let ready = spool.ready()
        let waiting = Set(ready)
        s.done.formIntersection(waiting)
        if now - s.lastTrim > 1 {
            s.lastTrim = now
            spool.trim(waiting: waiting)
            s.retryAfter = s.retryAfter.filter { waiting.contains($0.key) }
        }
        for name in ready where !s.done.contains(name) && !s.inFlight.contains(name) {
            if let after = s.retryAfter[name], after > now { continue }
            s.pending.append(name)
        }
        if !s.pending.isEmpty { s.idleSince = now }
    }
}
