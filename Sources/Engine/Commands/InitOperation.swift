import StorageInterface
import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `pgbk init`: a repository for the cluster in PGDATA.
public enum InitOperation {
    public static func run(backupPath: String, pgdata: String, compression: Compression?) throws -> Repository {
        try checkOwner(pgdata: pgdata, backupPath: backupPath)
        return try run(storage: { try PosixStorage.creating(backupPath) }, pgdata: pgdata, compression: compression)
    }

    /// As root, a directory repository would belong to root, and archive_command, which runs
    /// as the cluster's owner, could not write into it: refused, naming the fix, before
    /// anything is made.
    public static func checkOwner(pgdata: String, backupPath: String) throws {
        guard geteuid() == 0, let owner = try? FileSystem.status(pgdata, followLinks: true).uid, owner != 0 else { return }
        let name = LocalHost.userName(owner)
        throw EngineError.invalidArgument("pgbk init runs as root, but the cluster belongs to \(name), whose archive_command could not write into a repository root makes: run it as \(name) (runuser -u \(name) -- pgbk init -B \(backupPath) -D \(pgdata))")
    }

    /// `storage` is made only once PGDATA proved to be a cluster: a mistaken -D creates nothing.
    public static func run(storage makeStorage: () throws -> any RepositoryStorage, pgdata: String,
                           compression: Compression?) throws -> Repository {
        let cluster = try DataDirectory(pgdata)
        let storage = try makeStorage()
        var values = ["PGDATA": cluster.path]
        if let compression { values["COMPRESS"] = compression.rawValue }
        return try Repository.create(storage: storage, identity: RepositoryIdentity(cluster: cluster),
                                     config: RepositoryConfig(values: values))
    }
}
