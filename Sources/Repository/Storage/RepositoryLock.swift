#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The repository-wide lock for commands that change the catalog. It is an flock(2): the
/// kernel releases it when the holder dies, even by SIGKILL, so a stale lock cannot outlive
/// its process. The file's text only names the holder. Where it lives is the storage's
/// call (docs/architecture.md): in the repository (`BACKUP_PATH/lock`) when the storage has
/// file locks, as a POSIX directory does, also across hosts sharing it over NFS; otherwise on
/// this host, keyed by the repository's system identifier, as pgBackRest keeps its locks.
public final class RepositoryLock {
    private var fd: Int32
    public let path: String

    public struct Busy: Error, Sendable, CustomStringConvertible {
        public let path: String
        public let holder: String
        public var waited = 0
        public var description: String {
            "repository is locked by another pgbk (\(holder.isEmpty ? "a restore, or a holder that left no name" : holder))\(waited > 0 ? " for more than \(waited) s" : ""); lock file \(path); use --lock-timeout to wait"
        }
    }

    /// Exclusive for commands that change the catalog; shared for those that only read a
    /// chain (restore), so that nothing expires it meanwhile. Waits up to `timeoutSeconds`.
    public init(repository: Repository, command: String, shared: Bool = false, timeoutSeconds: Int = 0) throws {
        path = Self.path(for: repository)
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        if fd < 0 && shared && (errno == EROFS || errno == EACCES || errno == EPERM) {
            // A read-only repository (a read-only mount of the backup share): a shared lock
            // needs only a readable file, and where there is none, nobody can change the
            // catalog through this mount anyway.
            fd = open(path, O_RDONLY | O_CLOEXEC)
            if fd < 0 && errno == ENOENT {
                self.shared = true
                return
            }
        }
        guard fd >= 0 else { throw SystemError("open lock file", path) }
        let deadline = Timestamp.now().seconds + Int64(timeoutSeconds)
        while flock(fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0 {
            let code = errno
            if code == EWOULDBLOCK && Timestamp.now().seconds < deadline {
                usleep(100_000)
                continue
            }
            close(fd)
            fd = -1
            guard code == EWOULDBLOCK else { throw SystemError("lock", path, code: code) }
            throw Busy(path: path, holder: Self.holder(path), waited: timeoutSeconds)
        }
        if !shared {
            // Written before trimming, so that the file is never empty while it is held.
            let text = "PID \(getpid()) (pgbk \(command)) since \(Timestamp.now())\n"
            let length = text.withCString { pwrite(fd, $0, strlen($0), 0) }
            if length > 0 { _ = ftruncate(fd, off_t(length)) }
        }
        self.shared = shared
    }

    private var shared = false

    static func path(for repository: Repository) -> String {
        if let posix = repository.storage as? PosixStorage, posix.features.contains(.fileLocks) { return posix.path("lock") }
        return HostLocks.directory + "/\(repository.identity.systemIdentifier).lock"
    }

    deinit { release() }

    /// Who holds the lock. A holder that has just taken it may not have written its name yet:
    /// look again for a moment before giving up on it.
    static func holder(_ path: String) -> String {
        for _ in 0..<20 {
            let text = (try? FileSystem.readText(path)).map { $0.split(separator: "\n").first.map(String.init) ?? "" } ?? ""
            if !text.isEmpty { return text }
            usleep(20_000)
        }
        return ""
    }

    public func release() {
        guard fd >= 0 else { return }
        if !shared { _ = ftruncate(fd, 0) }
        flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }
}
