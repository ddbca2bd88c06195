import Repository
import Synchronization
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// SIGINT and SIGTERM while a command holds something that must not outlive it (a drill's
/// PostgreSQL and its scratch copy): they are blocked in the calling thread, and so in every
/// thread it starts afterwards, and taken by a thread of their own that runs `cleanup` and
/// then lets the signal end the process as it would have (exit status 128 + N). The
/// command's own final step runs through `finish`, under the same lock: a signal that
/// comes meanwhile waits for it and then ends the process, never cleaning twice.
public final class SignalGuard: Sendable {
    private let done = Mutex(false)
    private let cleanup: @Sendable (Int32) -> Void

    public init(_ cleanup: @escaping @Sendable (Int32) -> Void) {
        self.cleanup = cleanup
        var set = Self.signals
        pthread_sigmask(SIG_BLOCK, &set, nil)
        _ = LocalHost.startThread { [self] in
            var set = Self.signals
            var signal: Int32 = 0
            while sigwait(&set, &signal) != 0 {}
            done.withLock { finished in
                guard !finished else { return }
                self.cleanup(signal)
                finished = true
            }
            Glibc.signal(signal, SIG_DFL)
            var one = sigset_t()
            sigemptyset(&one)
            sigaddset(&one, signal)
            pthread_sigmask(SIG_UNBLOCK, &one, nil)
            raise(signal)
        }
    }

    /// The command's last step (its own cleanup and record), never at the same time as the
    /// signal's cleanup.
    public func finish(_ body: () throws -> Void) throws {
        try done.withLock { finished in
            defer { finished = true }
            try body()
        }
    }

    private static var signals: sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        return set
    }
}
