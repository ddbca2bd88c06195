/// A relation file's identity in WAL (RelFileLocator, storage/relfilelocator.h): tablespace,
/// database and relation file number.
public struct RelFileLocator: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let tablespace: UInt32
    public let database: UInt32
    public let relation: UInt32

    public init(tablespace: UInt32, database: UInt32, relation: UInt32) {
        self.tablespace = tablespace
        self.database = database
        self.relation = relation
    }

    public var description: String { "\(tablespace)/\(database)/\(relation)" }

    public static func < (a: Self, b: Self) -> Bool {
        (a.tablespace, a.database, a.relation) < (b.tablespace, b.database, b.relation)
    }
}

/// One block a WAL record changes: the changed-block map of an incremental is built from these.
public struct BlockReference: Hashable, Sendable, Comparable {
    public let locator: RelFileLocator
    /// 0 main, 1 fsm, 2 vm, 3 init (common/relpath.h).
    public let fork: UInt8
    public let block: UInt32

    public init(locator: RelFileLocator, fork: UInt8, block: UInt32) {
        self.locator = locator
        self.fork = fork
        self.block = block
    }

    public static func < (a: Self, b: Self) -> Bool { (a.locator, a.fork, a.block) < (b.locator, b.fork, b.block) }
}

/// The layout of a WAL record's body, after its 24-byte header (access/xlogrecord.h,
/// DecodeXLogRecord): block headers (with their image headers and relation), then the
/// blocks' data, then the main data. Parsed from the front, so that the block references
/// come from the first bytes of a record whatever its length.
public struct WALRecordLayout: Sendable, Equatable {
    public var blocks: [BlockReference] = []
    /// Bytes of block data and images that follow the headers.
    public var blockDataLength = 0
    /// Length of the main data at the end of the body.
    public var mainDataLength = 0
    /// Where the block headers end.
    public var headerLength = 0

    static let maxBlockID = 32
    static let hasImage: UInt8 = 0x10, sameRelation: UInt8 = 0x80

    /// nil when `body` (the record's body, or at least the front holding its headers) is not
    /// a valid layout. `length` is the whole body's (xl_tot_len less the header): as in
    /// DecodeXLogRecord, headers go on only while more bytes remain than the block data they
    /// announce, so a record without main data ends with its last block header. `pageMagic`
    /// tells the major version (image compression flags changed in 15).
    public static func parse(_ body: UnsafeRawBufferPointer, length: Int, pageMagic: UInt16) -> WALRecordLayout? {
        var layout = WALRecordLayout()
        var p = 0
        var last: RelFileLocator?
        func u8() -> UInt8? { guard p < body.count else { return nil }; defer { p += 1 }; return body[p] }
        func u16() -> Int? { guard p + 2 <= body.count else { return nil }; defer { p += 2 }; return Int(body.loadUnaligned(fromByteOffset: p, as: UInt16.self)) }
        func u32() -> UInt32? { guard p + 4 <= body.count else { return nil }; defer { p += 4 }; return body.loadUnaligned(fromByteOffset: p, as: UInt32.self) }
        var previousID = -1
        while length - p > layout.blockDataLength {
            guard let id = u8() else { return nil }
            switch Int(id) {
            case 255:  // XLR_BLOCK_ID_DATA_SHORT: the last header
                guard let n = u8() else { return nil }
                layout.mainDataLength = Int(n)
            case 254:  // XLR_BLOCK_ID_DATA_LONG
                guard let n = u32() else { return nil }
                layout.mainDataLength = Int(n)
            case 253:  // XLR_BLOCK_ID_ORIGIN
                guard u16() != nil else { return nil }
                continue
            case 252:  // XLR_BLOCK_ID_TOPLEVEL_XID
                guard u32() != nil else { return nil }
                continue
            case 0...maxBlockID:
                guard Int(id) > previousID, let flags = u8(), let dataLength = u16() else { return nil }
                previousID = Int(id)
                layout.blockDataLength += dataLength
                if flags & hasImage != 0 {
                    guard let imageLength = u16(), u16() != nil, let imageInfo = u8() else { return nil }
                    layout.blockDataLength += imageLength
                    if imageInfo & 0x01 != 0 && PostgresMajor.imageIsCompressed(imageInfo, pageMagic: pageMagic) {
                        guard u16() != nil else { return nil }
                    }
                }
                let locator: RelFileLocator
                if flags & sameRelation != 0 {
                    guard let previous = last else { return nil }  // SAME_REL without a previous block
                    locator = previous
                } else {
                    guard let spc = u32(), let db = u32(), let rel = u32() else { return nil }
                    locator = RelFileLocator(tablespace: spc, database: db, relation: rel)
                }
                guard let block = u32() else { return nil }
                last = locator
                layout.blocks.append(BlockReference(locator: locator, fork: flags & 0x0F, block: block))
                continue
            default:
                return nil
            }
            break
        }
        guard layout.blockDataLength + layout.mainDataLength == length - p else { return nil }
        layout.headerLength = p
        return layout
    }
}
