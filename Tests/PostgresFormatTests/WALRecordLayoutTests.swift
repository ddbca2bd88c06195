import Testing
@testable import PostgresFormat

/// The block headers of WAL records (access/xlogrecord.h) on synthetic bodies (unit);
/// WALBlockReferenceTests checks real WAL against pg_waldump.
@Suite struct WALRecordLayoutTests {
    static let pg15: UInt16 = 0xD110, pg14: UInt16 = 0xD10D
    func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8 & 0xff)] }
    func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(v >> (8 * $0) & 0xff) } }
    func rel(_ spc: UInt32, _ db: UInt32, _ r: UInt32) -> [UInt8] { le32(spc) + le32(db) + le32(r) }
    func parse(_ body: [UInt8], magic: UInt16 = pg15) -> WALRecordLayout? {
        body.withUnsafeBytes { WALRecordLayout.parse($0, length: body.count, pageMagic: magic) }
    }

    @Test func blocksWithImagesSameRelationAndMainData() throws {
        var body: [UInt8] = []
        // Block 0: main fork, an image (length 100) with a hole, compressed (lz4: 0x08) -> hole length follows; data 10.
        body += [0, 0x10 | 0x20 | 0] + le16(10) + le16(100) + le16(40) + [0x01 | 0x08] + le16(4000) + rel(1663, 5, 16384) + le32(7)
        // Block 1: vm fork (2), same relation, no image; data 0.
        body += [1, 0x80 | 2] + le16(0) + le32(9)
        body += [252] + le32(77)   // top-level xid
        body += [255, 3]           // main data, 3 bytes
        body += [UInt8](repeating: 0xAB, count: 10 + 100) + [1, 2, 3]
        let layout = try #require(parse(body))
        let r = RelFileLocator(tablespace: 1663, database: 5, relation: 16384)
        #expect(layout.blocks == [BlockReference(locator: r, fork: 0, block: 7), BlockReference(locator: r, fork: 2, block: 9)])
        #expect(layout.blockDataLength == 110 && layout.mainDataLength == 3)
        // Before 15, 0x08 was BKPIMAGE_APPLY and compression was 0x02: no hole length follows.
        #expect(parse(body, magic: Self.pg14) == nil)
    }

    @Test func aRecordWithoutMainDataEndsWithItsLastBlockHeader() throws {
        // An FPI-like record: one block with an 8 kB image and no main data; the image's first
        // byte (0xFF) would read as a main-data header if parsing went on.
        var body: [UInt8] = [0, 0x10] + le16(0) + le16(8192) + le16(0) + [0] + rel(1663, 1, 1259) + le32(3)
        body += [0xFF] + [UInt8](repeating: 0, count: 8191)
        let layout = try #require(parse(body))
        #expect(layout.blocks.count == 1 && layout.mainDataLength == 0 && layout.blockDataLength == 8192)
        #expect(try #require(parse([])).blocks.isEmpty, "an empty body (XLOG_SWITCH) is valid")
    }

    @Test(arguments: [
        [UInt8]([1, 0x80, 0, 0, 1, 0, 0, 0]),          // SAME_REL with no relation before it
        [0, 0, 0, 0] + [UInt8](repeating: 0, count: 14) + [0, 0, 0, 0, 0],  // block ids out of order (0 then 0)
        [0, 0, 5, 0, 1, 2, 3],                           // cut short
        [99, 0],                                         // an unknown block id
        [255, 10, 1, 2],                                 // main data longer than the body
    ])
    func malformedBodiesAreRefused(_ body: [UInt8]) {
        #expect(parse(body) == nil)
    }
}
