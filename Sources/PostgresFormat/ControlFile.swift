/// The fields of `global/pg_control` that a backup tool needs (catalog/pg_control.h).
/// Versions 1300 (PostgreSQL 13 to 16) and 1700 (17) share one layout: 17's CheckPoint gained
/// `wal_level` inside what was padding. 1800 (18) adds `default_char_signedness` after
/// `data_checksum_version`, which moves the CRC from offset 288 to 292. The fields read here
/// sit at the same offsets in all three.
public struct ControlFile: Sendable, Equatable {
    public enum State: UInt32, Sendable {
        case startingUp = 0, shutDown, shutDownInRecovery, shuttingDown, inCrashRecovery
        case inArchiveRecovery, inProduction
    }

    public let systemIdentifier: UInt64
    public let controlVersion: UInt32
    public let catalogVersion: UInt32
    public let state: State?
    public let checkpointLSN: LSN
    public let redoLSN: LSN
    public let timeline: TimelineID
    public let blockSize: UInt32
    public let segmentBlocks: UInt32
    public let walBlockSize: UInt32
    public let walSegmentSize: UInt32
    public let dataChecksumVersion: UInt32

    /// PG_CONTROL_VERSION to the offset of the CRC that covers everything before it.
    static let crcOffsets: [UInt32: Int] = [1300: 288, 1700: 288, 1800: 292]
    public static let supportedVersions = crcOffsets.keys.sorted()

    public var dataChecksumsEnabled: Bool { dataChecksumVersion != 0 }

    /// Parses the file's bytes; fails unless the version is supported and the CRC matches.
    public init(bytes: [UInt8], path: String = "pg_control") throws {
        guard bytes.count >= 16 else { throw FormatError(path, "too short to be pg_control (\(bytes.count) bytes)") }
        controlVersion = bytes.uint32(at: 8)
        guard let crcOffset = Self.crcOffsets[controlVersion] else {
            throw FormatError(path, "pg_control version \(controlVersion) is not supported: pgbk reads versions 1300 (PostgreSQL 13 to 16), 1700 (17) and 1800 (18), that is \(PostgresMajor.supportedText)")
        }
        guard bytes.count >= crcOffset + 4 else { throw FormatError(path, "truncated (\(bytes.count) bytes)") }
        let stored = bytes.uint32(at: crcOffset)
        let computed = CRC32C.checksum(Array(bytes[0..<crcOffset]))
        guard stored == computed else {
            throw FormatError(path, "CRC mismatch (stored \(CRC32C.hex(stored)), computed \(CRC32C.hex(computed))): the file is damaged")
        }
        systemIdentifier = bytes.uint64(at: 0)
        catalogVersion = bytes.uint32(at: 12)
        state = State(rawValue: bytes.uint32(at: 16))
        checkpointLSN = LSN(bytes.uint64(at: 32))
        redoLSN = LSN(bytes.uint64(at: 40))
        timeline = bytes.uint32(at: 48)
        blockSize = bytes.uint32(at: 216)
        segmentBlocks = bytes.uint32(at: 220)
        walBlockSize = bytes.uint32(at: 224)
        walSegmentSize = bytes.uint32(at: 228)
        dataChecksumVersion = bytes.uint32(at: 252)
    }
}
