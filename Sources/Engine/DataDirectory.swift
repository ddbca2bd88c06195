import PostgresFormat
import Repository

/// A PostgreSQL data directory as found on disk (no server needed).
public struct DataDirectory: Sendable {
    public let path: String
    public let control: ControlFile
    public let majorVersion: String

    public init(_ path: String) throws {
        let path = FileSystem.absolute(path)
        guard FileSystem.isDirectory(path) else {
            throw EngineError.notADataDirectory(path: path, reason: "no such directory")
        }
        let controlPath = path + "/global/pg_control"
        guard FileSystem.exists(controlPath), FileSystem.exists(path + "/PG_VERSION") else {
            throw EngineError.notADataDirectory(path: path, reason: "global/pg_control or PG_VERSION is missing")
        }
        let bytes = try FileSystem.readAll(controlPath, limit: 64 << 10)
        control = try ControlFile(bytes: bytes, path: controlPath)
        majorVersion = String(try FileSystem.readText(path + "/PG_VERSION").split(separator: "\n").first ?? "")
        self.path = path
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
