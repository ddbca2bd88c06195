import Repository

/// `pgbk upgrade-repository` (pgBackRest's stanza-upgrade): after pg_upgrade, the repository
/// accepts the new cluster as its next generation. repository.ini is rewritten in one atomic
/// step under the exclusive lock, keeping the generations before it: their backups stay
/// restorable with their major version's binaries, from their own archived WAL (`wal`, then
/// `wal-<n>`); the new cluster's WAL and backups go into the new generation.
public struct UpgradeOperation {
    let repository: Repository
    let lockTimeoutSeconds: Int

    public init(repository: Repository, lockTimeoutSeconds: Int = 0) {
        self.repository = repository
        self.lockTimeoutSeconds = lockTimeoutSeconds
    }

    /// `pgdata`: the upgraded cluster's data directory (its pg_control says what it is).
    public func run(pgdata: String) throws -> RepositoryIdentity {
        let cluster = RepositoryIdentity(cluster: try DataDirectory(pgdata))
        let lock = try RepositoryLock(repository: repository, command: "upgrade-repository", timeoutSeconds: lockTimeoutSeconds)
        defer { lock.release() }
        // Read again under the lock: another upgrade may have run meanwhile.
        let current = try Repository.open(storage: repository.storage).identity
        let next = try Self.next(after: current, cluster: cluster, pgdata: pgdata, repository: repository.path)
        try repository.storage.makeDirectories(Repository.walRootName(generation: next.generation))
        try FaultInjection.point("upgrade-before-identity")
        try repository.storage.writeAll(Repository.identityName, Array(next.text().utf8))
        try repository.storage.syncDirectory("")
        Console.info("\(repository.path) now serves generation \(next.generation): PostgreSQL \(next.pgMajorVersion), system identifier \(next.systemIdentifier); the backups of generation \(current.generation) (PostgreSQL \(current.pgMajorVersion)) stay restorable with its binaries; take a full backup of the new cluster")
        return next
    }

    /// The identity after the upgrade; refuses (nothing written) a cluster that already is the
    /// current generation, or an older major version than it.
    static func next(after current: RepositoryIdentity, cluster: RepositoryIdentity, pgdata: String, repository: String) throws -> RepositoryIdentity {
        if cluster.systemIdentifier == current.systemIdentifier {
            throw EngineError.invalidArgument("the cluster in \(pgdata) (system identifier \(cluster.systemIdentifier)) already is \(repository)'s current generation \(current.generation): nothing to upgrade")
        }
        if current.generation(ofSystem: cluster.systemIdentifier) != nil {
            throw EngineError.invalidArgument("the cluster in \(pgdata) is an earlier generation of \(repository) than the current one: it cannot become current again")
        }
        guard let old = Int(current.pgMajorVersion), let new = Int(cluster.pgMajorVersion), new >= old else {
            throw EngineError.invalidArgument("the cluster in \(pgdata) is PostgreSQL \(cluster.pgMajorVersion), \(repository) serves \(current.pgMajorVersion): pg_upgrade only goes to a newer major version")
        }
        return current.upgraded(to: cluster, at: .now())
    }
}
