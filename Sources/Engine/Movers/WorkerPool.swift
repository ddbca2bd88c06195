import Dispatch
import Repository
import Synchronization
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Runs items on up to `jobs` threads, handing them out in the given order. Each worker builds its own state (buffers) once, so memory is bounded by
/// jobs x state. The first error stops the others and is rethrown.
public enum WorkerPool {
    static func run<State, Result: Sendable>(count: Int, jobs: Int, makeState: @Sendable () -> State,
                                             work: @Sendable (Int, inout State) throws -> Result) throws -> [Result?] {
        let shared = Shared<Result>(count: count)
        let workers = max(1, min(jobs, count))
        withoutActuallyEscaping(makeState) { makeState in
            withoutActuallyEscaping(work) { work in
                runThreads(workers) {
                    var state = makeState()
                    while let index = shared.next() {
                        do {
                            let result = try work(index, &state)
                            shared.store(result, at: index)
                        } catch {
                            shared.fail(error)
                            return
                        }
                    }
                }
            }
        }
        if let error = shared.error { throw error }
        return shared.results
    }

    /// `body` for each of `count` indexes at once, a thread each, and its results in order:
    /// a few independent waits side by side (archive-push into each repository).
    public static func concurrently<Result: Sendable>(_ count: Int, _ body: @Sendable (Int) -> Result) -> [Result] {
        let results = (try? run(count: count, jobs: count, makeState: { () }) { n, _ in body(n) }) ?? []
        return results.map { $0! }
    }

    /// Runs `body` on `count` threads of its own and waits for them. Not concurrentPerform:
    /// that caps itself at one thread per CPU, and -j 8 on 2 CPUs (I/O-bound work) must
    /// really run 8. A thread that cannot be created leaves its share to the others.
    static func runThreads(_ count: Int, _ body: @escaping @Sendable () -> Void) {
        let threads = (0..<count).compactMap { _ in LocalHost.startThread(body) }
        if threads.isEmpty { body() }
        for thread in threads { pthread_join(thread, nil) }
    }

    /// The default for -j: the CPUs, at most 8 (I/O, not CPU, is the limit beyond that).
    public static var defaultJobs: Int { max(1, min(8, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))) }
}

/// Work handed out under a mutex; results kept by index.
private final class Shared<Result: Sendable>: Sendable {
    private struct State: Sendable {
        var cursor = 0
        var results: [Result?]
        var error: (any Error)?
    }

    private let state: Mutex<State>
    private let count: Int

    init(count: Int) {
        self.count = count
        state = Mutex(State(results: Array(repeating: nil, count: count)))
    }

    func next() -> Int? {
        state.withLock { s -> Int? in
            guard s.error == nil, s.cursor < count else { return nil }
            s.cursor += 1
            return s.cursor - 1
        }
    }

    func store(_ result: Result, at index: Int) { state.withLock { $0.results[index] = result } }

    func fail(_ e: any Error) { state.withLock { if $0.error == nil { $0.error = e } } }

    var results: [Result?] { state.withLock { $0.results } }
    var error: (any Error)? { state.withLock { $0.error } }
}

/// A lock for the few steps workers must take one at a time, held for a system call or
/// more (a file's creation). A semaphore, not Mutex: Mutex is a priority-inheriting futex,
/// and the kernel spins a waiter on it while the holder runs (perf: 8% of a restore's CPU in
/// rt_mutex_slowlock_block); a semaphore's waiter sleeps, leaving the CPU to the holder.
final class SerialLock: Sendable {
    private let semaphore = DispatchSemaphore(value: 1)

    func run<T>(_ body: () throws -> T) throws -> T {
        semaphore.wait()
        defer { semaphore.signal() }
        return try body()
    }
}
