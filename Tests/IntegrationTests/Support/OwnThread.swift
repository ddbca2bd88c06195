import Foundation
import Synchronization
import Testing

/// Runs each test of a suite on threads of its own rather than on Swift's cooperative pool,
/// at most `TestSlots.width` at a time. The integration tests block (on servers, child
/// processes, waits), and the pool has one thread per CPU: two blocked tests held a 2-CPU
/// machine's whole pool while its CPUs idled, and every other test, however short, queued
/// behind them. The pool bounded them too, so the bound is kept here: twice the CPUs.
struct OwnThread: SuiteTrait, TestTrait, TestScoping {
    var isRecursive: Bool { true }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        guard testCase != nil else { return try await function() }
        await TestSlots.shared.take()
        defer { TestSlots.shared.give() }
        let started = ContinuousClock.now
        defer { TestTimes.record(test, since: started) }
        try await withTaskExecutorPreference(ThreadPerJob.shared) { try await function() }
    }
}

/// With PGBK_TEST_TIMES=FILE, each test case's time in its slot is appended to FILE
/// (seconds, tab, test): what to shorten to keep `make test` within its budget.
enum TestTimes {
    static func record(_ test: Test, since started: ContinuousClock.Instant) {
        guard let path = ProcessInfo.processInfo.environment["PGBK_TEST_TIMES"] else { return }
        let elapsed = started.duration(to: .now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let line = String(format: "%.1f\t%@\n", seconds, "\(test.id)")
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        guard fd >= 0 else { return }
        _ = line.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
        close(fd)
    }
}

extension Trait where Self == OwnThread {
    static var ownThread: Self { OwnThread() }
}

/// A counting semaphore for tasks: `take` waits (suspended, holding no thread) for a slot.
final class TestSlots: Sendable {
    static let width = 2 * ProcessInfo.processInfo.activeProcessorCount
    static let shared = TestSlots(width)

    private let state: Mutex<(free: Int, waiting: [CheckedContinuation<Void, Never>])>

    init(_ width: Int) { state = Mutex((width, [])) }

    func take() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let granted = state.withLock { s -> Bool in
                if s.free > 0 { s.free -= 1; return true }
                s.waiting.append(continuation)
                return false
            }
            if granted { continuation.resume() }
        }
    }

    func give() {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if s.waiting.isEmpty { s.free += 1; return nil }
            return s.waiting.removeFirst()
        }
        next?.resume()
    }
}

/// A task executor that runs each job on a new thread: a test's body is one long job.
final class ThreadPerJob: TaskExecutor {
    static let shared = ThreadPerJob()

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        Thread.detachNewThread { job.runSynchronously(on: executor) }
    }
}
