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
    /// nil only for a shared lock on a read-only repository that has no lock file.
    private var held: FileLock?
    public let path: String
    /// Between hosts, where the storage has no file locks (RepositoryLease).
    private var lease: RepositoryLease?

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
        path = try Self.path(for: repository)
        let hostLocal = !Self.inRepository(repository)
        self.shared = shared
        guard let (fd, writable) = try Self.openLockFile(path, hostLocal: hostLocal, shared: shared) else { return }
        guard let held = try FileLock.take(fd, path: path, shared: shared, waitSeconds: timeoutSeconds) else {
            throw Busy(path: path, holder: Self.holder(path), waited: timeoutSeconds)
        }
        self.held = held
        self.writable = writable
        let text = "PID \(getpid()) (pgbk \(command)) on \(LocalHost.name()) since \(Timestamp.now())"
        if !shared && writable {
            // Written before trimming, so that the file is never empty while it is held.
            let length = (text + "\n").withCString { pwrite(fd, $0, strlen($0), 0) }
            if length > 0 { _ = ftruncate(fd, off_t(length)) }
        }
        if hostLocal {
            do {
                lease = try RepositoryLease.acquire(repository.storage, exclusive: !shared, holder: text,
                                                    // The host lock's own identity: this host, and this lock file on it.
                                                    host: RepositoryLease.hostTag(LocalHost.name() + ":" + path), holdsHostLock: !shared,
                                                    timeoutSeconds: timeoutSeconds)
            } catch {
                release()
                throw error
            }
        }
    }

    /// The lock file's descriptor, and whether the holder's name may be written into it;
    /// nil for a shared lock on a read-only repository without a lock file (a read-only
    /// mount of the backup share: nobody can change the catalog through it anyway).
    private static func openLockFile(_ path: String, hostLocal: Bool, shared: Bool) throws -> (Int32, Bool)? {
        if hostLocal { return try HostLocks.open(path) }
        var fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        if fd < 0 && shared && (errno == EROFS || errno == EACCES || errno == EPERM) {
            // A shared lock needs only a readable file.
            fd = open(path, O_RDONLY | O_CLOEXEC)
            if fd < 0 && errno == ENOENT { return nil }
        }
        guard fd >= 0 else { throw SystemError("open lock file", path) }
        return (fd, true)
    }

    private var shared = false
    private var writable = true

    /// A store with file locks keeps its lock file inside (flock holds across NFS); any
    /// other has a host lock here and a lease in the store.
    static func inRepository(_ repository: Repository) -> Bool {
        repository.storage.repositoryLockPath != nil
    }

    static func path(for repository: Repository) throws -> String {
        if let inside = repository.storage.repositoryLockPath { return inside }
        // The cluster and the location: two buckets of one cluster (copy between them) are
        // two repositories, each with its own lock.
        return try HostLocks.directory() + "/\(repository.identity.systemIdentifier)-\(LocalHost.tag(repository.path)).lock"
    }


    deinit { release() }

    /// Who holds the lock. A holder that has just taken it may not have written its name yet:
    /// look again for a moment before giving up on it.
    static func holder(_ path: String) -> String {
        var text = ""
        _ = poll(forSeconds: 0.4, firstDelay: 20_000) {
            text = (try? FileSystem.readText(path)).map { $0.split(separator: "\n").first.map(String.init) ?? "" } ?? ""
            return !text.isEmpty
        }
        return text
    }

    public func release() {
        lease?.release()
        lease = nil
        guard let held else { return }
        if !shared && writable { _ = ftruncate(held.fd, 0) }
        held.release()
        self.held = nil
    }
}
