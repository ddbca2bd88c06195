import Testing
@testable import Engine

/// `--max-rate`'s bucket on a synthetic clock: bytes taken faster than the rate are slept
/// off, so that the average stays at the rate; a pause refills at most an eighth of a second.
@Suite struct RateLimiterTests {
    @Test func theWaitsKeepTheAverageAtTheRate() {
        let rate = 1_000_000.0
        var bucket = RateLimiter.Bucket(tokens: 0, last: 0)
        var clock = 0.0
        // 40 takes of 256 KiB by workers that never wait on their own: each waits out its debt.
        for _ in 0..<40 {
            let wait = bucket.take(262_144, at: clock, rate: rate)
            #expect(wait >= 0)
            clock += wait
        }
        let average = 40 * 262_144 / clock
        #expect(abs(average - rate) / rate < 0.01, "\(average) B/s")
    }

    @Test func slowerThanTheRateNeverWaitsAndAPauseGivesOnlyAShortBurst() {
        let rate = 1_000_000.0
        var bucket = RateLimiter.Bucket(tokens: 0, last: 0)
        // 100 kB every 0.2 s is 500 kB/s: no wait.
        for step in 1...10 { #expect(bucket.take(100_000, at: Double(step) * 0.2, rate: rate) == 0) }
        // After 10 s idle the bucket holds an eighth of a second (125 kB), not 10 s' worth.
        #expect(bucket.take(125_000, at: 12, rate: rate) == 0)
        let wait = bucket.take(500_000, at: 12, rate: rate)
        #expect(abs(wait - 0.5) < 1e-9, "\(wait)")
    }
}
