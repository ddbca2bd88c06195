#if canImport(Glibc)
import StorageInterface
@preconcurrency import Glibc
#endif

/// An exclusive flock(2) on a file, waited for; released by the kernel if the holder dies.
/// `shared`: a host lock file every user may lock (HostLocks), else the repository's own.
public final class FileLock: StorageLock {
    private var fd: Int32
    public let path: String

    public init(path: String, hostShared: Bool = false) throws {
        self.path = path
        if hostShared {
            fd = try HostLocks.open(path).fd
        } else {
            fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        }
        guard fd >= 0 else { throw SystemError("open lock file", path) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else {
                let error = SystemError("lock", path)
                close(fd)
                fd = -1
                throw error
            }
        }
    }

    deinit { release() }

    public func release() {
        guard fd >= 0 else { return }
        flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }
}
