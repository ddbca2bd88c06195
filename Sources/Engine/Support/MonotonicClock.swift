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
