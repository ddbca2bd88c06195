import Repository

/// `pgbk init`: a repository for the cluster in PGDATA.
public enum InitOperation {
    public static func run(backupPath: String, pgdata: String, compression: Compression?) throws -> Repository {
        let cluster = try DataDirectory(pgdata)
        var values = ["PGDATA": cluster.path]
        if let compression { values["COMPRESS"] = compression.rawValue }
        return try Repository.create(backupPath, identity: RepositoryIdentity(cluster: cluster),
                                     config: RepositoryConfig(values: values))
    }
}
