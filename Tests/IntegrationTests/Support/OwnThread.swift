import Foundation
import Testing

/// Runs each test of a suite on threads of its own rather than on Swift's cooperative pool.
/// The integration tests block (on servers, child processes, waits), and the pool has one
/// thread per CPU: two blocked tests would hold a 2-CPU machine's whole pool while its CPUs
/// idle, and every other test, however short, would queue behind them. Swift Testing still
/// bounds how many tests run at once (SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH,
/// twice the CPUs by default).
struct OwnThread: SuiteTrait, TestTrait, TestScoping {
    var isRecursive: Bool { true }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        guard testCase != nil else { return try await function() }
        try await withTaskExecutorPreference(ThreadPerJob.shared) { try await function() }
    }
}

extension Trait where Self == OwnThread {
    static var ownThread: Self { OwnThread() }
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
