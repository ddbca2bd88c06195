import StorageInterface
import Repository

/// `pgbk init`: a repository for the cluster in PGDATA.
public enum InitOperation {
    public static func run(backupPath: String, pgdata: String, compression: Compression?) throws -> Repository {
        try run(storage: { try PosixStorage.creating(backupPath) }, pgdata: pgdata, compression: compression)
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
