import StorageInterface
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// pgbk's one flock(2) wrapper: exclusive or shared, waited for (for ever, up to a number of
/// seconds, or not at all); released by `release`, and by the kernel if the holder dies, even
/// by SIGKILL. It owns the descriptor it locks.
public final class FileLock: StorageLock {
    public private(set) var fd: Int32
    public let path: String

    /// Locks `fd` (taken over: closed when the lock cannot be had, or on release). Returns
    /// nil when another holder has it and `waitSeconds` ran out (nil: wait for ever).
    public static func take(_ fd: Int32, path: String, shared: Bool = false, waitSeconds: Int?) throws -> FileLock? {
        try lock(fd, path: path, shared: shared, waitSeconds: waitSeconds) ? FileLock(fd: fd, path: path) : nil
    }

    /// true once locked; false (the descriptor closed) when busy past the wait.
    private static func lock(_ fd: Int32, path: String, shared: Bool, waitSeconds: Int?) throws -> Bool {
        let operation = (shared ? LOCK_SH : LOCK_EX) | (waitSeconds == nil ? 0 : LOCK_NB)
        var code: Int32 = 0
        // Blocking (waitSeconds nil), flock returns only once locked or on an error.
        _ = poll(forSeconds: Double(waitSeconds ?? 0), firstDelay: 100_000) {
            while flock(fd, operation) != 0 {
                code = errno
                if code != EINTR { return code != EWOULDBLOCK }
            }
            code = 0
            return true
        }
        guard code != 0 else { return true }
        close(fd)
        if code == EWOULDBLOCK { return false }
        throw SystemError("lock", path, code: code)
    }

    private init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    /// An exclusive lock on `path`, waited for. `hostShared`: a host lock file every user
    /// may lock (HostLocks), else one of this user's own.
    public convenience init(path: String, hostShared: Bool = false) throws {
        let fd = hostShared ? try HostLocks.open(path).fd : open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SystemError("open lock file", path) }
        guard try Self.lock(fd, path: path, shared: false, waitSeconds: nil) else { throw SystemError("lock", path, code: EWOULDBLOCK) }
        self.init(fd: fd, path: path)
    }

    deinit { release() }

    public func release() {
        guard fd >= 0 else { return }
        flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }
}
