import PostgresClient
import PostgresFormat
import Repository

/// What must hold before a backup starts: the right cluster, a server that can be backed up
/// online, and WAL that reaches the archive.
enum BackupChecks {
    static func cluster(_ cluster: DataDirectory, repository: Repository) throws {
        try sameMajor(cluster.major, as: repository, what: "the data directory \(cluster.path)")
        let found = cluster.control.systemIdentifier
        let expected = repository.identity.systemIdentifier
        guard found == expected else {
            throw EngineError.clusterMismatch(what: "data directory \(cluster.path)", found: found, expected: expected,
                                              repository: repository.path)
        }
    }

    static func server(_ s: ServerSettings, cluster: DataDirectory, repository: Repository) throws {
        guard let major = PostgresMajor(text: String(s.versionNumber)) else {
            throw EngineError.serverNotReady("the server is PostgreSQL \(s.versionNumber / 10000) (server_version_num \(s.versionNumber)); pgbk supports \(PostgresMajor.supportedText)")
        }
        try sameMajor(major, as: repository, what: "the server pgbk connected to")
        if s.systemIdentifier != String(repository.identity.systemIdentifier) {
            throw EngineError.clusterMismatch(what: "the server pgbk connected to", found: UInt64(s.systemIdentifier) ?? 0,
                                              expected: repository.identity.systemIdentifier, repository: repository.path)
        }
        if FileSystem.realPath(s.dataDirectory) != FileSystem.realPath(cluster.path) {
            throw EngineError.invalidArgument("the server's data_directory is \(s.dataDirectory), not \(cluster.path) (-D/--pgdata)")
        }
        if s.inRecovery {
            throw EngineError.serverNotReady("the server is a standby (in recovery); pgbk backs up primaries only")
        }
        if s.walLevel == "minimal" {
            throw EngineError.serverNotReady("wal_level is minimal; set wal_level = replica (and restart) to take online backups")
        }
        if s.archiveMode == "off" {
            throw EngineError.serverNotReady("archive_mode is off; set archive_mode = on and archive_command = 'pgbk archive-push -B \(repository.path) %p' (and restart): a backup is only consistent with its WAL")
        }
    }

    /// A repository belongs to one major version: after pg_upgrade nothing else is the same
    /// either (system identifier, catalog, WAL format), so its backups and WAL cannot mix.
    static func sameMajor(_ major: PostgresMajor, as repository: Repository, what: String) throws {
        let expected = repository.identity.pgMajorVersion
        guard String(major.number) == expected else {
            throw EngineError.invalidArgument("\(what) is \(major), but the repository \(repository.path) holds PostgreSQL \(expected) backups; a repository serves one major version: create a new one for \(major) (pgbk init -B NEW_PATH -D PGDATA) and keep this one for restores of the old cluster")
        }
    }
}
