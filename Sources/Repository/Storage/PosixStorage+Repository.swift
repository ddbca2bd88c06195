#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// What only a repository in a local directory has: a path that must exist (or be made), and
/// an owner that root must not write as.
extension PosixStorage {
    /// The driver on an existing repository directory.
    public static func existing(_ path: String) throws -> PosixStorage {
        let path = FileSystem.absolute(path)
        guard FileSystem.isDirectory(path) else {
            throw CatalogError.invalid(path, "backup path does not exist or is not a directory")
        }
        return PosixStorage(root: path)
    }

    /// The driver on a directory for a new repository, created when absent.
    public static func creating(_ path: String) throws -> PosixStorage {
        let path = FileSystem.absolute(path)
        if FileSystem.exists(path) {
            guard FileSystem.isDirectory(path) else { throw CatalogError.invalid(path, "exists and is not a directory") }
        } else {
            try FileSystem.makeDirectories(path)
        }
        return PosixStorage(root: path)
    }

    /// Writing as root into a repository another user owns would leave root-owned files that
    /// the owner (whom PostgreSQL runs archive_command as) can no longer replace: refuse.
    public var repositoryLockPath: String? { features.contains(.fileLocks) ? path("lock") : nil }

    public func checkWriter() throws {
        guard geteuid() == 0 else { return }
        let owner = try FileSystem.status(root).uid
        guard owner != 0 else { return }
        let name = LocalHost.userName(owner)
        throw CatalogError.invalid(root, "the repository belongs to \(name), but pgbk runs as root; run it as \(name) (for example: runuser -u \(name) -- pgbk ...)")
    }
}
