import Testing
@testable import PostgresFormat

/// A plausible heap page: header fields set, some tuple bytes, checksum filled in.
func syntheticPage(lsn: LSN, block: UInt32, checksum: Bool = true, fill: UInt8 = 0x5A) -> [UInt8] {
    var page = [UInt8](repeating: 0, count: 8192)
    func put16(_ v: UInt16, _ at: Int) { page[at] = UInt8(v & 0xff); page[at + 1] = UInt8(v >> 8) }
    func put32(_ v: UInt32, _ at: Int) { for i in 0..<4 { page[at + i] = UInt8(v >> (8 * i) & 0xff) } }
    put32(lsn.high, 0); put32(lsn.low, 4)
    put16(28, 12); put16(7000, 14); put16(8192, 16); put16(8192 | 4, 18)
    for i in 7000..<8192 { page[i] = fill &+ UInt8(i & 0x3f) }
    if checksum {
        let sum = page.withUnsafeBytes { PageVerifier.checksum($0, blockNumber: block) }
        put16(sum, 8)
    }
    return page
}

@Suite struct PageVerifierTests {
    /// Values computed with PostgreSQL 15's own storage/checksum_impl.h on the same page.
    @Test func checksumMatchesPostgreSQLsReferenceImplementation() {
        var page = [UInt8](repeating: 0, count: 8192)
        for i in page.indices { page[i] = UInt8((i * 31 + 7) & 0xff) }
        func put(_ bytes: [UInt8], _ at: Int) { for (i, b) in bytes.enumerated() { page[at + i] = b } }
        put([1, 0, 0, 0], 0); put([0x78, 0x56, 0x34, 0x02], 4)
        put([0, 0], 10); put([100, 0], 12); put([200, 0], 14); put([0, 0x20], 16)
        page.withUnsafeBytes { raw in
            #expect(PageVerifier.checksum(raw, blockNumber: 0) == 33744)
            #expect(PageVerifier.checksum(raw, blockNumber: 7) == 33741)
            #expect(PageVerifier.checksum(raw, blockNumber: 131_079) == 33739)
        }
    }

    @Test func acceptsGoodPagesAndZeroPages() {
        let good = syntheticPage(lsn: LSN("1/2345678")!, block: 3)
        good.withUnsafeBytes { #expect(PageVerifier.problem($0, blockNumber: 3, checksums: true) == nil) }
        let zero = [UInt8](repeating: 0, count: 8192)
        zero.withUnsafeBytes { #expect(PageVerifier.problem($0, blockNumber: 9, checksums: true) == nil) }
    }

    @Test func catchesWrongBlockFlippedBitsBadHeadersAndDirtyNewPages() {
        let good = syntheticPage(lsn: LSN("1/2345678")!, block: 3)
        good.withUnsafeBytes {
            // The block number is part of the checksum: a page in the wrong place fails.
            guard case .checksumMismatch = PageVerifier.problem($0, blockNumber: 4, checksums: true) else {
                Issue.record("misplaced page accepted"); return
            }
            #expect(PageVerifier.problem($0, blockNumber: 4, checksums: false) == nil)
        }
        var flipped = good
        flipped[7500] ^= 0x01
        flipped.withUnsafeBytes {
            if case .checksumMismatch = PageVerifier.problem($0, blockNumber: 3, checksums: true) {} else { Issue.record("bit flip accepted") }
        }
        var badHeader = syntheticPage(lsn: LSN("1/0")!, block: 0, checksum: false)
        badHeader[12] = 0xFF; badHeader[13] = 0x7F   // pd_lower beyond pd_upper
        badHeader.withUnsafeBytes { #expect(PageVerifier.problem($0, blockNumber: 0, checksums: false) == .invalidHeader) }
        var dirtyNew = [UInt8](repeating: 0, count: 8192)
        dirtyNew[5000] = 1
        dirtyNew.withUnsafeBytes { #expect(PageVerifier.problem($0, blockNumber: 0, checksums: true) == .nonZeroNewPage) }
    }
}

@Suite struct TimelineHistoryTests {
    let text = "1\t0/3000000\tno recovery target specified\n\n2\t0/5000100\tbefore 2026-11-22 10:00:00+00\n"

    @Test func parsesAncestorsAndAnswersWhatIsInThePast() throws {
        let history = try TimelineHistory(timeline: 3, text: text)
        #expect(history.ancestors == [.init(timeline: 1, switchLSN: LSN("0/3000000")!), .init(timeline: 2, switchLSN: LSN("0/5000100")!)])
        #expect(history.contains(LSN("0/2FFFFFF")!, on: 1))
        #expect(history.contains(LSN("0/3000000")!, on: 1))
        #expect(!history.contains(LSN("0/3000001")!, on: 1))   // timeline 1 went on without us
        #expect(history.contains(LSN("0/5000000")!, on: 2))
        #expect(history.contains(LSN("9/0")!, on: 3))
        #expect(!history.contains(LSN("0/1")!, on: 4))
        #expect(TimelineHistory.fileName(3) == "00000003.history")
    }

    @Test func refusesGarbage() {
        #expect(throws: FormatError.self) { try TimelineHistory(timeline: 2, text: "one\t0/3000000\n") }
        #expect(throws: FormatError.self) { try TimelineHistory(timeline: 3, text: "2\t0/5000000\n1\t0/3000000\n") }
    }

    /// Recovery that followed timeline 2 but stopped before 2 branched from 1 writes this
    /// (seen from PostgreSQL 15): timeline 2 is then no part of timeline 3's past.
    @Test func aLaterLowerSwitchPointCutsTheEarlierTimelinesShort() throws {
        let h = try TimelineHistory(timeline: 3, text: "1\t0/5000100\tbefore x\n2\t0/3004408\tbefore y\n")
        #expect(h.effectiveAncestors == [.init(timeline: 1, switchLSN: LSN("0/3004408")!), .init(timeline: 2, switchLSN: LSN("0/3004408")!)])
        #expect(h.contains(LSN("0/3000000")!, on: 1))
        #expect(!h.contains(LSN("0/4000000")!, on: 1))
        #expect(!h.contains(LSN("0/5000000")!, on: 2))
    }
}
