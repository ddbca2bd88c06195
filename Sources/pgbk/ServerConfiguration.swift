import Engine
import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The servers a backup host backs up (Barman's /etc/barman.d): one file per server,
/// NAME.conf in $PGBK_SERVERS_DIR, else /etc/pgbk/servers.d, of KEY=VALUE lines: its
/// repositories (BACKUP_PATH, BACKUP_PATH_2, ...), its connection (PGHOST, PGPORT, PGUSER,
/// PGDATABASE), whether `pgbk cron` keeps receive-wal running for it (RECEIVE_WAL=on, with
/// SLOT), and any setting the configuration file takes (the AWS_* and S3_* ones).
/// Retention is the repository's own (pgbk.ini), as for any repository.
enum ServerConfiguration {
    static let connectionKeys = ["PGHOST", "PGPORT", "PGUSER", "PGDATABASE"]
    static let serverKeys = connectionKeys + ["RECEIVE_WAL", "SLOT"]

    static var directory: String { environment("PGBK_SERVERS_DIR") ?? "/etc/pgbk/servers.d" }

    /// A server's name is a file name of letters, digits, '-' and '_' (never a path).
    static func path(of name: String) throws -> String {
        guard !name.isEmpty, name.count <= 64, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
            throw EngineError.invalidArgument("--server \(name.prefix(80)): a server name is letters, digits, '-' and '_'")
        }
        let path = directory + "/" + name + ".conf"
        guard FileSystem.exists(path) else {
            throw EngineError.invalidArgument("server \(name) is not configured: there is no \(path)")
        }
        return path
    }

    /// Runs `body` for one server, then puts libpq's environment back as it was: a server's
    /// file stands in for it (RepositoryOptions), and the next server must not inherit it.
    static func withEnvironmentRestored<T>(_ body: () -> T) -> T {
        let restore = environmentRestorer()
        defer { restore() }
        return body()
    }

    /// What puts libpq's environment back as it is now.
    static func environmentRestorer() -> () -> Void {
        let given = connectionKeys.map { ($0, environment($0)) }
        return { for (key, value) in given { if let value { setenv(key, value, 1) } else { unsetenv(key) } } }
    }

    /// What a restore_command naming `server` needs from this environment: the directory of
    /// the server files when it is not the default (PostgreSQL's environment lacks it).
    static func restoreCommandEnvironment(_ server: String?) -> [String: String] {
        guard server != nil, let directory = environment("PGBK_SERVERS_DIR") else { return [:] }
        return ["PGBK_SERVERS_DIR": FileSystem.absolute(directory)]
    }

    /// Every configured server, by name.
    static func names() throws -> [String] {
        guard FileSystem.isDirectory(directory) else {
            throw EngineError.invalidArgument("no servers are configured: \(directory) does not exist (set PGBK_SERVERS_DIR, or make it with a NAME.conf per server)")
        }
        return try FileSystem.list(directory).filter { $0.hasSuffix(".conf") }.map { String($0.dropLast(5)) }.sorted()
    }
}
