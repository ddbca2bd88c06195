import Repository

/// `pgbk init`: a repository for the cluster in PGDATA.
public enum InitOperation {
    public static func run(backupPath: String, pgdata: String, compression: Compression?) throws -> Repository {
        try run(storage: try PosixStorage.creating(backupPath), pgdata: pgdata, compression: compression)
    }

    public static func run(storage: any RepositoryStorage, pgdata: String, compression: Compression?) throws -> Repository {
        let cluster = try DataDirectory(pgdata)
        var values = ["PGDATA": cluster.path]
        if let compression { values["COMPRESS"] = compression.rawValue }
        return try Repository.create(storage: storage, identity: RepositoryIdentity(cluster: cluster),
                                     config: RepositoryConfig(values: values))
    }
}
