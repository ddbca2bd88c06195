/// The long page header at the start of every WAL segment (access/xlog_internal.h). Its system
/// identifier ties the segment to one cluster.
public struct WALLongPageHeader: Sendable, Equatable {
    public let magic: UInt16
    public let info: UInt16
    public let timeline: TimelineID
    public let pageAddress: LSN
    public let systemIdentifier: UInt64
    public let segmentSize: UInt32
    public let blockSize: UInt32

    public static let size = 40
    static let longHeaderFlag: UInt16 = 0x0002

    public init(bytes: [UInt8], path: String) throws {
        guard bytes.count >= Self.size else {
            throw FormatError(path, "too short for a WAL segment header (\(bytes.count) bytes)")
        }
        magic = bytes.uint16(at: 0)
        info = bytes.uint16(at: 2)
        timeline = bytes.uint32(at: 4)
        pageAddress = LSN(bytes.uint64(at: 8))
        guard info & Self.longHeaderFlag != 0 else {
            throw FormatError(path, "first page has no long header: not the start of a WAL segment")
        }
        systemIdentifier = bytes.uint64(at: 24)
        segmentSize = bytes.uint32(at: 32)
        blockSize = bytes.uint32(at: 36)
    }
}
