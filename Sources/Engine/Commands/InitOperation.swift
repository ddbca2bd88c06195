import StorageInterface
import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `pgbk init`: a repository for the cluster in PGDATA.
public enum InitOperation {
    public static func run(backupPath: String, pgdata: String, compression: Compression?) throws -> Repository {
        try checkOwner(pgdata: pgdata, backupPath: backupPath)
        return try run(storage: { try PosixStorage.creating(backupPath) }, source: .dataDirectory(pgdata), compression: compression, passphrase: nil)
    }

    /// As root, a directory repository would belong to root, and archive_command, which runs
    /// as the cluster's owner, could not write into it: refused, naming the fix, before
    /// anything is made.
    public static func checkOwner(pgdata: String, backupPath: String) throws {
        guard geteuid() == 0, let owner = try? FileSystem.status(pgdata, followLinks: true).uid, owner != 0 else { return }
        let name = LocalHost.userName(owner)
        throw EngineError.invalidArgument("pgbk init runs as root, but the cluster belongs to \(name), whose archive_command could not write into a repository root makes: run it as \(name) (runuser -u \(name) -- pgbk init -B \(backupPath) -D \(pgdata))")
    }

    /// Where the repository's cluster is read from: a data directory on this host, or the
    /// server a connection reached (a backup host).
    public enum Source {
        case dataDirectory(String)
        case server(RemoteCluster)
    }

    /// `storage` is made only once the source proved to be a cluster: a mistaken -D creates nothing.
    public static func run(storage makeStorage: () throws -> any RepositoryStorage, source: Source,
                           compression: Compression?, passphrase: [UInt8]?,
                           kdfCost: (n: UInt64, r: UInt64, p: UInt64) = KeyEncryptionKey.defaultCost) throws -> Repository {
        var values: [String: String] = [:]
        let identity: RepositoryIdentity
        switch source {
        case .dataDirectory(let pgdata):
            let cluster = try DataDirectory(pgdata)
            values["PGDATA"] = cluster.path
            identity = RepositoryIdentity(cluster: cluster)
        case .server(let cluster):
            identity = cluster.identity
        }
        if let compression { values["COMPRESS"] = compression.rawValue }
        return try Repository.create(storage: try makeStorage(), identity: identity, config: RepositoryConfig(values: values), passphrase: passphrase,
                                     kdfCost: kdfCost)
    }
}
