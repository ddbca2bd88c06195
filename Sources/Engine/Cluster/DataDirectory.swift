import PostgresFormat
import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// A PostgreSQL data directory as found on disk (no server needed).
public struct DataDirectory: Sendable {
    public let path: String
    public let control: ControlFile
    public let majorVersion: String
    public let major: PostgresMajor

    public init(_ path: String) throws {
        let path = FileSystem.absolute(path)
        guard FileSystem.isDirectory(path) else {
            throw EngineError.notADataDirectory(path: path, reason: "no such directory")
        }
        let controlPath = path + "/global/pg_control"
        guard FileSystem.exists(controlPath), FileSystem.exists(path + "/PG_VERSION") else {
            throw EngineError.notADataDirectory(path: path, reason: "global/pg_control or PG_VERSION is missing")
        }
        control = try Self.readControlFile(controlPath).control
        majorVersion = String(try FileSystem.readText(path + "/PG_VERSION").split(separator: "\n").first ?? "")
        guard let major = PostgresMajor(text: majorVersion) else {
            throw EngineError.notADataDirectory(path: path, reason: "PG_VERSION says \(majorVersion.prefix(20)); pgbk supports \(PostgresMajor.supportedText)")
        }
        guard major.controlVersion == control.controlVersion else {
            throw EngineError.notADataDirectory(path: path, reason: "PG_VERSION says \(major), but pg_control has version \(control.controlVersion), which is not \(major)'s \(major.controlVersion)")
        }
        self.major = major
        self.path = path
    }

    /// A running server rewrites pg_control in place, so a read can catch it half written:
    /// one that fails its CRC is retried. Returns the bytes read and what they say.
    static func readControlFile(_ path: String) throws -> (bytes: [UInt8], control: ControlFile) {
        var attempt = 0
        while true {
            do {
                let bytes = try FileSystem.readAll(path, limit: 64 << 10)
                return (bytes, try ControlFile(bytes: bytes, path: path))
            } catch let error as FormatError where attempt < 10 && error.reason.contains("CRC") {
                attempt += 1
                usleep(100_000)
            }
        }
    }

    /// `PG_<major>_<catalog version>`: this cluster's directory inside each tablespace.
    public var tablespaceVersionDirectory: String {
        "PG_\(majorVersion)_\(control.catalogVersion)"
    }
}

extension RepositoryIdentity {
    public init(cluster: DataDirectory) {
        self.init(systemIdentifier: cluster.control.systemIdentifier, pgMajorVersion: cluster.majorVersion,
                  controlVersion: cluster.control.controlVersion, catalogVersion: cluster.control.catalogVersion,
                  blockSize: cluster.control.blockSize, walSegmentSize: cluster.control.walSegmentSize,
                  created: .now())
    }
}
