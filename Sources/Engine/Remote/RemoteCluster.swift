import PostgresClient
import PostgresFormat
import Repository

/// The cluster behind a connection, as its pg_control describes it: what a backup over the
/// protocol must know before the first page arrives (block size, checksums, segment sizes),
/// since pg_control itself comes last in BASE_BACKUP's archive.
public struct RemoteCluster: Sendable {
    public let systemIdentifier: UInt64
    public let major: PostgresMajor
    public let versionNumber: Int
    public let controlVersion: UInt32
    public let catalogVersion: UInt32
    public let blockSize: UInt32
    public let segmentBlocks: UInt32
    public let walBlockSize: UInt32
    public let walSegmentSize: UInt32
    public let dataChecksums: Bool
    /// Where the connection went, for messages.
    public let name: String

    public init(connection: Connection, name: String) throws {
        let r = try connection.query("""
            SELECT s.system_identifier::text AS sysid, s.pg_control_version::text AS control, s.catalog_version_no::text AS catalog,
                   i.database_block_size::text AS blcksz, i.blocks_per_segment::text AS segblocks,
                   i.wal_block_size::text AS walblcksz, i.bytes_per_wal_segment::text AS walseg,
                   i.data_page_checksum_version::text AS checksums, current_setting('server_version_num') AS version
            FROM pg_control_system() s, pg_control_init() i
            """)
        func number<T: FixedWidthInteger>(_ column: String) throws -> T {
            guard let value = r.value(0, column).flatMap({ T($0) }) else {
                throw EngineError.serverNotReady("\(name): pg_control_system()/pg_control_init() returned no \(column)")
            }
            return value
        }
        versionNumber = try number("version")
        guard let major = PostgresMajor(text: String(versionNumber / 10000)) else {
            throw EngineError.serverNotReady("\(name) is PostgreSQL \(versionNumber / 10000) (server_version_num \(versionNumber)); pgbk supports \(PostgresMajor.supportedText)")
        }
        self.major = major
        systemIdentifier = try number("sysid")
        controlVersion = try number("control")
        catalogVersion = try number("catalog")
        blockSize = try number("blcksz")
        segmentBlocks = try number("segblocks")
        walBlockSize = try number("walblcksz")
        walSegmentSize = try number("walseg")
        dataChecksums = try number("checksums") as UInt32 != 0
        self.name = name
    }

    public var identity: RepositoryIdentity {
        RepositoryIdentity(systemIdentifier: systemIdentifier, pgMajorVersion: String(major.number), controlVersion: controlVersion,
                           catalogVersion: catalogVersion, blockSize: blockSize, walSegmentSize: walSegmentSize, created: .now())
    }

    /// The pg_control that came in the archive is this cluster's.
    func check(control: ControlFile) throws {
        guard control.systemIdentifier == systemIdentifier, control.blockSize == blockSize,
              control.catalogVersion == catalogVersion, control.dataChecksumsEnabled == dataChecksums else {
            throw EngineError.serverNotReady("\(name): the pg_control BASE_BACKUP sent (system identifier \(control.systemIdentifier), catalog \(control.catalogVersion)) is not the cluster's the connection reported (\(systemIdentifier), \(catalogVersion))")
        }
    }
}
