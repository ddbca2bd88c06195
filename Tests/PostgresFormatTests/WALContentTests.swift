import Testing
@testable import PostgresFormat

/// archive-push accepts a file only when its content is what its name says (issue 10, item 5).
@Suite struct WALFileContentTests {
    let cluster = WALFileContent.Cluster(systemIdentifier: 7_000_000_000_000_000_001, segmentSize: 16 << 20)

    func longHeader(pageAddress: UInt64, timeline: UInt32, sysid: UInt64 = 7_000_000_000_000_000_001) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 8192)
        func put(_ v: UInt64, _ at: Int, _ n: Int) { for i in 0..<n { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * i)) } }
        put(0xD110, 0, 2); put(0x0002, 2, 2); put(UInt64(timeline), 4, 4); put(pageAddress, 8, 8)
        put(sysid, 24, 8); put(16 << 20, 32, 4); put(8192, 36, 4)
        return b
    }

    @Test func acceptsASegmentWhoseFirstPageIsWhereItsNameSays() throws {
        try WALFileContent.checkSegmentStart(longHeader(pageAddress: 3 << 24, timeline: 1), name: "000000010000000000000003", cluster: cluster, path: "p")
        // The first segment of timeline 2 starts with pages copied from timeline 1.
        try WALFileContent.checkSegmentStart(longHeader(pageAddress: 3 << 24, timeline: 1), name: "000000020000000000000003", cluster: cluster, path: "p")
        try WALFileContent.checkSegmentStart(longHeader(pageAddress: 3 << 24, timeline: 2), name: "000000020000000000000003.partial", cluster: cluster, path: "p")
    }

    @Test func refusesAnotherSegmentsContentAnotherClusterAndALaterTimeline() {
        #expect(throws: WALFileContent.Problem.self) {
            try WALFileContent.checkSegmentStart(longHeader(pageAddress: 3 << 24, timeline: 1), name: "000000010000000000000004", cluster: cluster, path: "p")
        }
        #expect(throws: WALFileContent.Problem.otherCluster(found: 5)) {
            try WALFileContent.checkSegmentStart(longHeader(pageAddress: 3 << 24, timeline: 1, sysid: 5), name: "000000010000000000000003", cluster: cluster, path: "p")
        }
        #expect(throws: WALFileContent.Problem.self) {
            try WALFileContent.checkSegmentStart(longHeader(pageAddress: 3 << 24, timeline: 3), name: "000000020000000000000003", cluster: cluster, path: "p")
        }
        #expect(throws: WALFileContent.Problem.self) {
            try WALFileContent.checkSegmentStart([UInt8](repeating: 0, count: 8192), name: "000000010000000000000003", cluster: cluster, path: "p")
        }
    }

    @Test func historyFilesMustParseAndNameOlderAncestors() throws {
        try WALFileContent.checkTimelineHistory(Array("1\t0/3000000\tno recovery target specified\n".utf8), name: "00000002.history")
        for bad in ["garbage\n", "", "2\t0/3000000\tself\n", "1\tnot-an-lsn\n", "3\t0/1\tx\n1\t0/2\tx\n"] {
            #expect(throws: WALFileContent.Problem.self, "\(bad)") { try WALFileContent.checkTimelineHistory(Array(bad.utf8), name: "00000002.history") }
        }
        #expect(throws: WALFileContent.Problem.self) { try WALFileContent.checkTimelineHistory([0xff, 0xfe], name: "00000002.history") }
        #expect(throws: WALFileContent.Problem.self) {
            try WALFileContent.checkTimelineHistory(Array("1\t0/3000000\tx\n".utf8), name: "00000001.history")
        }
    }

    @Test func backupHistoryFilesMustRecordTheStartTheirNameSays() throws {
        let text = """
        START WAL LOCATION: 0/2000028 (file 000000010000000000000002)
        STOP WAL LOCATION: 0/2000100 (file 000000010000000000000002)
        CHECKPOINT LOCATION: 0/2000060
        START TIMELINE: 1

        """
        try WALFileContent.checkBackupHistory(Array(text.utf8), name: "000000010000000000000002.00000028.backup", segmentSize: 16 << 20)
        #expect(throws: WALFileContent.Problem.self) {
            try WALFileContent.checkBackupHistory(Array(text.utf8), name: "000000010000000000000002.00000030.backup", segmentSize: 16 << 20)
        }
        #expect(throws: WALFileContent.Problem.self) {
            try WALFileContent.checkBackupHistory(Array("junk".utf8), name: "000000010000000000000002.00000028.backup", segmentSize: 16 << 20)
        }
    }
}

/// COMMIT PREPARED / ROLLBACK PREPARED carry the prepared xid in their main data (item 6).
@Suite struct XactRecordTests {
    func le(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }

    @Test func findsThePreparedXidBehindEveryOptionalPart() {
        let time = [UInt8](repeating: 1, count: 8)
        // xinfo: dbinfo, subxacts (2), relfilelocators (1), dropped stats (1), invals (1), twophase.
        let xinfo: UInt32 = 1 | 2 | 4 | 256 | 8 | 16
        func record(statsItem: Int) -> [UInt8] {
            time + le(xinfo) + [UInt8](repeating: 9, count: 8) + le(2) + le(11) + le(12) + le(1) + [UInt8](repeating: 7, count: 12)
                + le(1) + [UInt8](repeating: 6, count: statsItem) + le(1) + [UInt8](repeating: 5, count: 16) + le(4242)
        }
        #expect(XactRecord.preparedXID(main: record(statsItem: 12), info: 0x80 | 0x30, isCommit: true, statsItemSize: 12) == 4242)
        #expect(XactRecord.preparedXID(main: record(statsItem: 16), info: 0x80 | 0x30, isCommit: true,
                                       statsItemSize: XactRecord.statsItemSize(pageMagic: 0xD118)) == 4242)
        #expect(XactRecord.statsItemSize(pageMagic: 0xD110) == 12 && XactRecord.statsItemSize(pageMagic: 0xD116) == 12)
        // An abort has no invalidations part.
        let abort = time + le(16 | 2) + le(1) + le(77) + le(999)
        #expect(XactRecord.preparedXID(main: abort, info: 0x80 | 0x40, isCommit: false, statsItemSize: 12) == 999)
    }

    @Test func aRecordWithoutTwoPhaseOrCutShortHasNone() {
        let time = [UInt8](repeating: 1, count: 8)
        #expect(XactRecord.preparedXID(main: time, info: 0x30, isCommit: true, statsItemSize: 12) == nil)
        #expect(XactRecord.preparedXID(main: time + le(16), info: 0x80 | 0x30, isCommit: true, statsItemSize: 12) == nil)
        #expect(XactRecord.preparedXID(main: time + le(2 | 16) + le(0x7fff_ffff), info: 0x80 | 0x30, isCommit: true, statsItemSize: 12) == nil)
    }
}
