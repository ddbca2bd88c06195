#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Seconds on a clock that never jumps (NTP, a DBA's date command): for timeouts, rates and
/// durations, never for what is recorded as a time of day.
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// pgbk's one wait loop. Asks `done` until it says yes (true) or `seconds` have passed on the monotonic clock
/// (false), sleeping `firstDelay` µs between asks, doubled each time up to `longestDelay`.
public func poll(forSeconds seconds: Double, firstDelay: UInt32 = 50_000, longestDelay: UInt32? = nil,
          until done: () throws -> Bool) rethrows -> Bool {
    let deadline = monotonicSeconds() + seconds
    var delay = firstDelay
    while try !done() {
        guard monotonicSeconds() < deadline else { return false }
        usleep(delay)
        delay = min(delay * 2, longestDelay ?? firstDelay)
    }
    return true
}
