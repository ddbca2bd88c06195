import Synchronization
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `--max-rate`: a token bucket shared by every worker of a command, so that their bytes
/// together stay at `bytesPerSecond` on average (backup, restore and copy keep from starving
/// the database's I/O). A worker takes what it just moved and sleeps off any debt; the
/// bucket holds at most an eighth of a second, so no burst runs far ahead of the rate.
public final class RateLimiter: Sendable {
    public let bytesPerSecond: UInt64
    private let state: Mutex<Bucket>

    struct Bucket: Sendable {
        var tokens: Double
        var last: Double

        /// Seconds to wait after taking `bytes` at `now`, with the bucket updated.
        mutating func take(_ bytes: UInt64, at now: Double, rate: Double) -> Double {
            tokens = min(rate / 8, tokens + max(0, now - last) * rate)
            last = now
            tokens -= Double(bytes)
            return tokens < 0 ? -tokens / rate : 0
        }
    }

    public init(bytesPerSecond: UInt64) {
        self.bytesPerSecond = max(1, bytesPerSecond)
        state = Mutex(Bucket(tokens: 0, last: Self.now()))
    }

    /// Counts `bytes` against the rate, sleeping as long as the workers are ahead of it.
    public func take(_ bytes: Int) {
        guard bytes > 0 else { return }
        let rate = Double(bytesPerSecond)
        let wait = state.withLock { $0.take(UInt64(bytes), at: Self.now(), rate: rate) }
        if wait > 0 { usleep(UInt32(min(wait, 60) * 1_000_000)) }
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
