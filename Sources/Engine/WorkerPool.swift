#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import Dispatch

/// Runs items on up to `jobs` threads, handing them out in the given order (callers pass
/// largest first). Each worker builds its own state (buffers) once, so memory is bounded by
/// jobs x state. The first error stops the others and is rethrown.
public enum WorkerPool {
    static func run<State, Result: Sendable>(count: Int, jobs: Int, makeState: @Sendable () -> State,
                                             work: @Sendable (Int, inout State) throws -> Result) throws -> [Result?] {
        let shared = Shared<Result>(count: count)
        let workers = max(1, min(jobs, count))
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
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
        if let error = shared.error { throw error }
        return shared.results
    }

    /// The default for -j: the CPUs, at most 8 (I/O, not CPU, is the limit beyond that).
    public static var defaultJobs: Int { max(1, min(8, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))) }
}

/// Work handed out under a mutex; results kept by index.
private final class Shared<Result>: @unchecked Sendable {
    private var lock = pthread_mutex_t()
    private var cursor = 0
    private let count: Int
    private(set) var results: [Result?]
    private(set) var error: Error?

    init(count: Int) {
        self.count = count
        results = Array(repeating: nil, count: count)
        pthread_mutex_init(&lock, nil)
    }

    deinit { pthread_mutex_destroy(&lock) }

    func next() -> Int? {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        guard error == nil, cursor < count else { return nil }
        cursor += 1
        return cursor - 1
    }

    func store(_ result: Result, at index: Int) {
        pthread_mutex_lock(&lock)
        results[index] = result
        pthread_mutex_unlock(&lock)
    }

    func fail(_ e: Error) {
        pthread_mutex_lock(&lock)
        if error == nil { error = e }
        pthread_mutex_unlock(&lock)
    }
}

/// A mutex for the few steps workers must take one at a time.
final class SerialLock: @unchecked Sendable {
    private var mutex = pthread_mutex_t()

    init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }

    func run<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }
}
