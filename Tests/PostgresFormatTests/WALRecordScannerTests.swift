import Testing
@testable import PostgresFormat

/// The scanner reports a commit only when its record is whole and its CRC holds: a partial
/// segment cut inside the record, or a damaged one, ends the WAL there, as it ends recovery.
@Suite struct WALRecordScannerTests {
    /// One page at `pageLSN` (long header) holding a COMMIT record of xid 1234 at `time`.
    func pageWithCommit(pageLSN: UInt64, time: Int64) -> (page: [UInt8], recordEnd: UInt64) {
        var page = [UInt8](repeating: 0, count: 8192)
        func put(_ v: UInt64, _ at: Int, _ n: Int) { for i in 0..<n { page[at + i] = UInt8(truncatingIfNeeded: v >> (8 * i)) } }
        put(0xD110, 0, 2); put(0x0002, 2, 2); put(1, 4, 4); put(pageLSN, 8, 8)
        // XLogRecord: total length, xid, prev, info (XLOG_XACT_COMMIT), rmid (xact), crc;
        // then the short main-data block (id 255, length 8) with the commit time.
        let at = 40, total = 24 + 2 + 8
        put(UInt64(total), at, 4); put(1234, at + 4, 4); put(0, at + 8, 8); page[at + 16] = 0x00; page[at + 17] = 1
        page[at + 24] = 255; page[at + 25] = 8
        put(UInt64(bitPattern: time - 946_684_800 * 1_000_000), at + 26, 8)
        var crc = CRC32C()
        crc.update(Array(page[(at + 24)..<(at + total)]))
        crc.update(Array(page[at..<(at + 20)]))
        put(UInt64(crc.value), at + 20, 4)
        return (page, pageLSN + UInt64((at + total + 7) & ~7))
    }

    func scan(_ page: [UInt8], at lsn: UInt64) -> (events: [WALEvent], end: LSN) {
        var scanner = WALRecordScanner(pageSize: 8192, startLSN: LSN(lsn))
        var events: [WALEvent] = []
        _ = page.withUnsafeBytes { scanner.feed($0, at: LSN(lsn), emit: { events.append($0) }) }
        return (events, scanner.endOfLastRecord)
    }

    @Test func aWholeCommitIsReportedWithWhereItEnds() {
        let time: Int64 = 1_780_000_000_000_000
        let (page, end) = pageWithCommit(pageLSN: 3 << 24, time: time)
        let found = scan(page, at: 3 << 24)
        #expect(found.events == [.transactionEnd(lsn: LSN((3 << 24) + 40), xid: 1234, commit: true, time: time)])
        #expect(found.end == LSN(end))
    }

    @Test func aCommitCutShortOrDamagedEndsTheWAL() {
        let (page, _) = pageWithCommit(pageLSN: 3 << 24, time: 1_780_000_000_000_000)
        var cut = page
        for i in (40 + 30)..<(40 + 34) { cut[i] = 0 }  // the end of the commit time never arrived
        #expect(scan(cut, at: 3 << 24).events.isEmpty)
        var damaged = page
        damaged[40 + 4] ^= 1  // the xid
        #expect(scan(damaged, at: 3 << 24).events.isEmpty)
        #expect(scan(damaged, at: 3 << 24).end == .invalid)
    }
}
