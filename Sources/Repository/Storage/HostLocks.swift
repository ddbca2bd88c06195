#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Where locks live on this host for storages without file locks (object stores): one
/// directory for every user of the host (root's cron and the postgres user must exclude
/// each other), `PGBK_LOCK_PATH` (pgBackRest's lock-path) or `/run/lock/pgbk`, made 01777
/// like /tmp. Anyone could have made it first, so it is checked before use: a real directory,
/// not a link, owned by root or by this user (root also trusts one another user made, whose
/// worst is to delete a lock file), and not writable by all unless sticky. Lock files are
/// opened without following links and written only when this user owns them.
public enum HostLocks {
    public static func directory() throws -> String {
        let directory: String
        if let configured = getenv("PGBK_LOCK_PATH"), configured.pointee != 0 {
            directory = String(cString: configured)
        } else {
            directory = FileSystem.isDirectory("/run/lock") ? "/run/lock/pgbk" : "/tmp/pgbk-locks"
        }
        return try checked(directory)
    }

    /// `directory`, made if absent, once it passes the checks above.
    static func checked(_ directory: String) throws -> String {
        if mkdir(directory, 0o1777) == 0 {
            chmod(directory, 0o1777)  // mkdir's mode passes through the umask
        } else if errno != EEXIST {
            throw SystemError("create the lock directory", directory)
        }
        var st = stat()
        guard lstat(directory, &st) == 0 else { throw SystemError("inspect the lock directory", directory) }
        let mode = UInt32(st.st_mode)
        guard mode & UInt32(S_IFMT) == UInt32(S_IFDIR) else {
            throw CatalogError.invalid(directory, "the lock directory is not a directory (a link?): remove it")
        }
        guard st.st_uid == 0 || st.st_uid == geteuid() || geteuid() == 0 else {
            throw CatalogError.invalid(directory, "the lock directory belongs to uid \(st.st_uid), neither root nor this user: remove it, or set PGBK_LOCK_PATH")
        }
        guard mode & 0o002 == 0 || mode & UInt32(S_ISVTX) != 0 else {
            throw CatalogError.invalid(directory, "the lock directory is writable by everyone without the sticky bit: chmod 1777 it")
        }
        return directory
    }

    /// A lock file for any name (a URL and a path in it): FNV-1a keeps the file name short
    /// whatever the name's length.
    public static func path(for name: String) throws -> String {
        try directory() + "/s3-" + LocalHost.tag(name) + ".lock"
    }

    /// Opens a lock file, creating it readable by all (flock needs only a readable file, so
    /// every user of the host can lock it); never through a link. `writable` when this user
    /// owns it and may write the holder's name into it.
    /// This host's exclusive lock on `name` if no other process holds it, else nil: for a
    /// long-running command that must run once (receive-wal), which says so rather than wait.
    public static func lockIfFree(_ name: String) throws -> FileLock? {
        let path = try path(for: name)
        return try FileLock.take(try open(path).fd, path: path, waitSeconds: 0)
    }

    static func open(_ path: String) throws -> (fd: Int32, writable: Bool) {
        var fd = Glibc.open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o644)
        if fd < 0 && (errno == EACCES || errno == EPERM) { fd = Glibc.open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else { throw SystemError("open lock file", path) }
        var st = stat()
        guard fstat(fd, &st) == 0, UInt32(st.st_mode) & UInt32(S_IFMT) == UInt32(S_IFREG) else {
            close(fd)
            throw CatalogError.invalid(path, "the lock file is not a regular file: remove it")
        }
        if st.st_uid == geteuid() { fchmod(fd, 0o644) }
        return (fd, st.st_uid == geteuid() && fcntl(fd, F_GETFL) & O_ACCMODE == O_RDWR)
    }
}
