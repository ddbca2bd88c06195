import Testing
import CShims
@testable import PostgresFormat

@Suite struct LSNTests {
    @Test func parsesAndPrintsPostgresForm() throws {
        let lsn = try #require(LSN("16/B374D848"))
        #expect(lsn.value == 0x16_B374_D848)
        #expect(lsn.description == "16/B374D848")
        #expect(LSN("0/0") == LSN.invalid)
        #expect(LSN(high: 1, low: 2).description == "1/2")
    }

    @Test(arguments: ["", "/", "1/", "/1", "G/1", "1/2/3", "123456789/0", "1 /2"])
    func rejectsMalformed(_ text: String) {
        #expect(LSN(text) == nil)
    }

    @Test func ordersByValue() {
        #expect(LSN("0/FFFFFFFF")! < LSN("1/0")!)
        #expect(LSN("1/10")! > LSN("1/F")!)
    }
}

@Suite struct WALSegmentNameTests {
    let size: UInt64 = 16 << 20

    @Test func namesTheSegmentHoldingAnLSN() {
        let name = WALSegmentName(timeline: 1, containing: LSN("0/2000028")!, segmentSize: size)
        #expect(name.name == "000000010000000000000002")
        let high = WALSegmentName(timeline: 3, containing: LSN("1A/FF000000")!, segmentSize: size)
        #expect(high.name == "000000030000001A000000FF")
    }

    @Test func stopLSNOnASegmentBoundaryBelongsToThePreviousSegment() {
        // A backup that stopped exactly at 0/3000000 needs segment 2, not 3 (XLByteToPrevSeg).
        let name = WALSegmentName(timeline: 1, endingAt: LSN("0/3000000")!, segmentSize: size)
        #expect(name.name == "000000010000000000000002")
        let inside = WALSegmentName(timeline: 1, endingAt: LSN("0/3000100")!, segmentSize: size)
        #expect(inside.name == "000000010000000000000003")
    }

    @Test func roundTripsAndAdvancesAcrossALogID() throws {
        let name = try #require(WALSegmentName("0000000200000004000000FF", segmentSize: size))
        #expect(name.timeline == 2)
        #expect(name.segmentNumber == 4 * 256 + 255)
        #expect(name.next.name == "000000020000000500000000")
        #expect(name.startLSN == LSN("4/FF000000")!)
    }

    @Test func honoursOtherSegmentSizes() throws {
        let gig: UInt64 = 1 << 30
        let name = WALSegmentName(timeline: 1, containing: LSN("5/C0000000")!, segmentSize: gig)
        #expect(name.name == "000000010000000500000003")
        #expect(WALSegmentName("000000010000000500000004", segmentSize: gig) == nil)  // only 4 per log id
    }

    @Test(arguments: ["00000001000000000000000", "0000000100000000000000GG", "000000010000000000000001.partial"])
    func rejectsNonSegmentNames(_ text: String) {
        #expect(WALSegmentName(text, segmentSize: size) == nil)
    }

    @Test func classifiesArchivedFileNames() {
        #expect(WALFileKind(fileName: "000000010000000000000001") == .segment)
        #expect(WALFileKind(fileName: "000000010000000000000001.partial") == .partial)
        #expect(WALFileKind(fileName: "000000010000000000000002.00000028.backup") == .backupHistory)
        #expect(WALFileKind(fileName: "00000002.history") == .timelineHistory)
        #expect(WALFileKind(fileName: "RECOVERYXLOG") == nil)
        #expect(WALFileKind(fileName: "00000002.history.gz") == nil)
        #expect(WALFileKind(fileName: "../00000002.history") == nil)
    }
}

@Suite struct CRC32CTests {
    @Test func matchesTheStandardCheckValue() {
        // The published CRC-32C check value for "123456789".
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([]) == 0)
    }

    @Test func chunkedEqualsWhole() {
        var bytes = [UInt8](repeating: 0, count: 100_003)
        for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: i &* 2_654_435_761 >> 13) }
        var crc = CRC32C()
        crc.update(Array(bytes[0..<7]))
        crc.update(Array(bytes[7..<65_536]))
        crc.update(Array(bytes[65_536...]))
        #expect(crc.value == CRC32C.checksum(bytes))
        #expect(CRC32C.parseHex(Substring(crc.hex)) == crc.value)
    }

    /// The CPU's instruction runs buffers of three 4 KiB blocks or more as three chains joined
    /// by shifts: every length around those boundaries, and every start, equals the portable
    /// slicing-by-8 CRC of the same bytes.
    @Test func theThreeChainHardwareCRCEqualsThePortableOne() {
        var bytes = [UInt8](repeating: 0, count: 40_000)
        for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: (i &* 2_654_435_761) >> 9) }
        for length in [0, 1, 7, 8, 4095, 12_287, 12_288, 12_289, 12_295, 24_576, 24_583, 36_871, 39_990] {
            for start in [0, 1, 3, 8] where start + length <= bytes.count {
                bytes.withUnsafeBytes { raw in
                    let piece = UnsafeRawBufferPointer(rebasing: raw[start..<start + length])
                    for seed: UInt32 in [0, 0xDEAD_BEEF] {
                        #expect(pgbk_crc32c_update(seed, piece.baseAddress, length) == pgbk_crc32c_update_portable(seed, piece.baseAddress, length),
                                "length \(length) from \(start)")
                    }
                }
            }
        }
    }

    @Test func theChecksumOfZerosIsComputedWithoutThem() {
        for count in [0, 1, 2, 3, 8191, 8192, 100_003] {
            #expect(CRC32C.zeros(count: UInt64(count)) == CRC32C.checksum([UInt8](repeating: 0, count: count)), "\(count)")
        }
    }

    @Test func combiningTheChecksumsOfPartsGivesTheChecksumOfTheWhole() {
        var bytes = [UInt8](repeating: 0, count: 200_000)
        for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: i &* 2_654_435_761 >> 11) }
        // Empty parts, one byte, odd lengths, and a long one.
        let cuts = [0, 0, 1, 9, 8192, 8195, 131_072, 200_000]
        var combined = CRC32C.checksum([])
        for (from, to) in zip(cuts, cuts.dropFirst()) {
            let part = Array(bytes[from..<to])
            combined = CRC32C.combine(combined, CRC32C.checksum(part), lengthOfB: UInt64(part.count))
            #expect(combined == CRC32C.checksum(Array(bytes[0..<to])))
        }
        #expect(CRC32C.combine(CRC32C.checksum(Array("12345".utf8)), CRC32C.checksum(Array("6789".utf8)), lengthOfB: 4) == 0xE306_9283)
    }
}
