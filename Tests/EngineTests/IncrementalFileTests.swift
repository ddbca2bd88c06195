import Testing
@testable import Engine

/// The INCREMENTAL.<name> files of BASE_BACKUP ( INCREMENTAL ), on synthetic bytes: the
/// header read as pg_combinebackup reads it, and every malformed one refused.
@Suite struct IncrementalFileTests {
    static func words(_ values: [UInt32]) -> [UInt8] { values.flatMap { v in (0..<4).map { UInt8(v >> (8 * $0) & 0xff) } } }

    /// A reader over `bytes` that fills each buffer as TarReader does.
    static func reader(_ bytes: [UInt8]) -> (UnsafeMutableRawBufferPointer) throws -> Int {
        var offset = 0
        return { buffer in
            let n = min(buffer.count, bytes.count - offset)
            bytes[offset..<offset + n].withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: n) }
            offset += n
            return n
        }
    }

    static func parse(_ bytes: [UInt8]) throws -> IncrementalFileHeader {
        try IncrementalFileHeader.read(path: "base/5/16384", blockSize: 8192, segmentBlocks: 131072, reader(bytes))
    }

    @Test func aHeaderWithBlocksIsPaddedToAPage() throws {
        let bytes = Self.words([0xd3ae_1f0d, 3, 10, 1, 4, 12]) + [UInt8](repeating: 0, count: 8192 - 24)
        let header = try Self.parse(bytes)
        #expect(header.blocks == [1, 4, 12] && header.truncationBlocks == 10 && header.length == 8192)
        #expect(header.reconstructedBlocks == 13, "a block beyond the truncation length lengthens the file")
    }

    @Test func aHeaderWithoutBlocksIsTwelveBytes() throws {
        let header = try Self.parse(Self.words([0xd3ae_1f0d, 0, 7]))
        #expect(header.blocks.isEmpty && header.length == 12 && header.reconstructedBlocks == 7)
    }

    @Test(arguments: [
        (words: [0xdead_beef, 0, 1], why: "magic"),
        (words: [0xd3ae_1f0d, 131073, 1], why: "beyond a segment"),
        (words: [0xd3ae_1f0d, 1, 131073], why: "beyond a segment"),
        (words: [0xd3ae_1f0d, 2, 5, 4, 3], why: "out of order"),
        (words: [0xd3ae_1f0d, 2, 5, 4, 4], why: "out of order"),
        (words: [0xd3ae_1f0d, 3, 5, 1], why: "ends inside its header"),
        (words: [0xd3ae_1f0d, 1, 5, 1], why: "ends inside its header"),
    ] as [(words: [UInt32], why: String)])
    func aMalformedHeaderIsRefusedNamingTheFile(_ bad: (words: [UInt32], why: String)) {
        #expect {
            _ = try Self.parse(Self.words(bad.words))
        } throws: { error in
            "\(error)".contains("base/5/16384") && "\(error)".contains(bad.why)
        }
    }

    @Test func incrementalNamesMapToTheirRelationFiles() {
        #expect(IncrementalFileHeader.relationPath(of: "base/5/INCREMENTAL.16384") == "base/5/16384")
        #expect(IncrementalFileHeader.relationPath(of: "pg_tblspc/16390/PG_18_1/5/INCREMENTAL.16391.2") == "pg_tblspc/16390/PG_18_1/5/16391.2")
        #expect(IncrementalFileHeader.relationPath(of: "base/5/16384") == nil)
        #expect(IncrementalFileHeader.relationPath(of: "base/5/INCREMENTAL.") == nil)
    }
}
