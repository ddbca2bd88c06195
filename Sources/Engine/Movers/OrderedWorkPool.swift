import Dispatch
import Repository
import Synchronization
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Work submitted one item at a time, done on up to `jobs` threads, and handed back in the
/// order it was submitted, with at most `window` items between submission and hand-back:
/// a backup walks a million files and writes their list as it goes, in the walk's order,
/// holding a window of them rather than all. `submit` blocks while the window is full,
/// handing finished results to `consume` on the caller's thread meanwhile. The first error
/// (of a worker, or of `consume`) stops the work and is rethrown; call `finish` at the end
/// (or `cancel` on the way out of an error) so that no thread outlives the pool.
final class OrderedWorkPool<Item: Sendable, Result: Sendable> {
    private let shared: Shared
    private let window: Int
    private let consume: (Result) throws -> Void
    private var threads: [pthread_t] = []
    /// Where no thread could be started, the caller's thread does the work.
    private var inline: ((Item) throws -> Result)?
    private var submitted = 0
    private var consumed = 0

    init<State>(jobs: Int, window: Int, makeState: @escaping @Sendable () -> State,
                work: @escaping @Sendable (Item, inout State) throws -> Result,
                consume: @escaping (Result) throws -> Void) {
        self.window = max(1, window)
        self.consume = consume
        let shared = Shared()
        self.shared = shared
        for _ in 0..<max(1, jobs) {
            guard let thread = LocalHost.startThread({ Self.serve(shared, makeState: makeState, work: work) }) else { continue }
            threads.append(thread)
        }
        if threads.isEmpty {
            var state = makeState()
            inline = { item in try work(item, &state) }
        }
    }

    /// Queues `item` for a worker.
    func submit(_ item: Item) throws {
        try makeRoom()
        if let inline {
            do { shared.store(try inline(item), at: submitted) } catch { shared.fail(error) }
        } else {
            shared.push(.work(submitted, item))
        }
        submitted += 1
        try handBack()
    }

    /// Takes a result that needs no work (a directory's entry) into its place in the order.
    func submitDone(_ result: Result) throws {
        try makeRoom()
        shared.store(result, at: submitted)
        submitted += 1
        try handBack()
    }

    /// Waits for every result and hands it back; stops the threads.
    func finish() throws {
        defer { cancel() }
        while consumed < submitted {
            try handBack()
            if consumed < submitted { shared.completed.wait() }
        }
        try shared.check()
    }

    /// Stops the threads (dropping queued work); idempotent.
    func cancel() {
        guard !threads.isEmpty else { return }
        shared.close(wakeUp: threads.count)
        for thread in threads { pthread_join(thread, nil) }
        threads = []
    }

    deinit { cancel() }

    private func makeRoom() throws {
        while submitted - consumed >= window {
            try handBack()
            if submitted - consumed >= window { shared.completed.wait() }
        }
    }

    private func handBack() throws {
        try shared.check()
        while let result = shared.take(consumed) {
            consumed += 1
            do { try consume(result) } catch { shared.fail(error); throw error }
        }
    }

    private static func serve<State>(_ shared: Shared, makeState: @Sendable () -> State,
                                     work: @Sendable (Item, inout State) throws -> Result) {
        var state = makeState()
        while case .work(let n, let item) = shared.pop() {
            do { shared.store(try work(item, &state), at: n) } catch { shared.fail(error) }
        }
    }

    private enum Job: Sendable {
        case work(Int, Item)
        case stop
    }

    /// The queue and the finished results, under a mutex; two semaphores to wait on.
    private final class Shared: Sendable {
        private struct State: Sendable {
            var queue: [Job] = []
            var head = 0
            var results: [Int: Result] = [:]
            var error: (any Error)?
            var closed = false
        }

        private let state = Mutex(State())
        /// One signal per queued job (and one per thread to stop).
        let available = DispatchSemaphore(value: 0)
        /// One signal per stored result or failure.
        let completed = DispatchSemaphore(value: 0)

        func push(_ job: Job) {
            state.withLock { s in
                if s.head > 1024 && s.head * 2 > s.queue.count {
                    s.queue.removeFirst(s.head)
                    s.head = 0
                }
                s.queue.append(job)
            }
            available.signal()
        }

        /// The next job, after waiting for one; `.stop` once the pool is closed or failed.
        func pop() -> Job {
            available.wait()
            return state.withLock { s in
                guard !s.closed, s.error == nil, s.head < s.queue.count else { return .stop }
                s.head += 1
                return s.queue[s.head - 1]
            }
        }

        func store(_ result: Result, at n: Int) {
            state.withLock { $0.results[n] = result }
            completed.signal()
        }

        func take(_ n: Int) -> Result? {
            state.withLock { $0.results.removeValue(forKey: n) }
        }

        func fail(_ error: any Error) {
            state.withLock { if $0.error == nil { $0.error = error } }
            completed.signal()
        }

        func check() throws {
            if let error = state.withLock({ $0.error }) { throw error }
        }

        func close(wakeUp threads: Int) {
            state.withLock { $0.closed = true }
            for _ in 0..<threads { available.signal() }
        }
    }
}
