import Testing
import Synchronization
#if canImport(Glibc)
import Glibc
#endif
import Repository
@testable import Engine

/// The pool a backup copies through (issue 28, item 4): results in the order submitted,
/// never more than the window between submission and hand-back, the first error rethrown
/// and nothing handed back after it.
@Suite struct OrderedWorkPoolTests {
    struct Failure: Error, Equatable { let item: Int }

    /// Items that take uneven times, so that later ones finish first.
    static func slow(_ n: Int) { usleep(UInt32((n * 7919) % 13) * 100) }

    @Test func resultsComeBackInOrderWithinTheWindow() throws {
        let window = 16
        let running = Atomic<Int>(0), mostRunning = Atomic<Int>(0)
        var handedBack: [Int] = []
        var submitted = 0
        var widest = 0
        let pool = OrderedWorkPool<Int, Int>(jobs: 4, window: window, makeState: { 0 }, work: { n, calls in
            let now = running.add(1, ordering: .relaxed).newValue
            _ = mostRunning.max(now, ordering: .relaxed)
            defer { running.subtract(1, ordering: .relaxed) }
            calls += 1
            Self.slow(n)
            return n * n
        }, consume: { handedBack.append($0) })
        for n in 0..<2_000 {
            if n % 10 == 0 { try pool.submitDone(n * n) } else { try pool.submit(n) }
            submitted += 1
            widest = max(widest, submitted - handedBack.count)
        }
        try pool.finish()
        #expect(handedBack == (0..<2_000).map { $0 * $0 })
        #expect(widest <= window)
        #expect(mostRunning.load(ordering: .relaxed) <= 4)
        #expect(mostRunning.load(ordering: .relaxed) > 1, "the work ran side by side")
    }

    @Test func aFailedItemStopsThePoolAndNothingAfterItIsHandedBack() throws {
        var handedBack: [Int] = []
        let pool = OrderedWorkPool<Int, Int>(jobs: 3, window: 8, makeState: { () }, work: { n, _ in
            Self.slow(n)
            if n == 500 { throw Failure(item: n) }
            return n
        }, consume: { handedBack.append($0) })
        defer { pool.cancel() }
        #expect(throws: Failure(item: 500)) {
            for n in 0..<10_000 { try pool.submit(n) }
            try pool.finish()
        }
        #expect(handedBack == Array(0..<handedBack.count))
        #expect(handedBack.count <= 500)
    }

    @Test func aFailureToConsumeIsRethrown() throws {
        var handedBack = 0
        let pool = OrderedWorkPool<Int, Int>(jobs: 2, window: 4, makeState: { () }, work: { n, _ in n }, consume: { n in
            if n == 30 { throw Failure(item: n) }
            handedBack += 1
        })
        defer { pool.cancel() }
        #expect(throws: Failure(item: 30)) {
            for n in 0..<1_000 { try pool.submit(n) }
            try pool.finish()
        }
        #expect(handedBack == 30)
    }
}
