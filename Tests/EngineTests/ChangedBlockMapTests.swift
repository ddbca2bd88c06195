import Testing
import PostgresFormat
@testable import Engine

/// The changed-block map on synthetic records (unit): compact sets, the records that force a
/// whole-file read, and the memory budget.
@Suite struct ChangedBlockMapTests {
    let rel = RelFileLocator(tablespace: 1663, database: 5, relation: 16384)

    func record(_ rmid: UInt8 = 10, info: UInt8 = 0, blocks: [BlockReference] = [], main: [UInt8]? = nil) -> WALRecordScanner.RecordSummary {
        .init(lsn: LSN(0x1000), resourceManager: rmid, info: info, blocks: blocks, mainData: main)
    }

    func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(v >> (8 * $0) & 0xff) } }

    @Test func aBlockSetIsAListUntilItIsDenseAndStaysExact() {
        var set = BlockSet()
        var reference = Set<UInt32>()
        var state: UInt64 = 42
        for _ in 0..<20_000 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let block = UInt32(truncatingIfNeeded: state >> 33) % 200_000
            set.insert(block)
            reference.insert(block)
        }
        #expect(set.count == reference.count && set.sorted == reference.sorted())
        #expect(reference.allSatisfy(set.contains) && !set.contains(200_001))
        #expect(set.memoryBytes < 40 << 10, "four chunks, dense ones as 8 kB bitmaps: \(set.memoryBytes)")
        var sparse = BlockSet()
        for b in stride(from: UInt32(0), to: 1 << 30, by: 1 << 20) { sparse.insert(b) }
        #expect(sparse.count == 1024 && sparse.memoryBytes < 64 << 10)
    }

    @Test func blockReferencesAndTheRecordsThatChangeFilesWithoutThem() {
        var map = ChangedBlockMap()
        map.add(record(blocks: [BlockReference(locator: rel, fork: 0, block: 7), BlockReference(locator: rel, fork: 2, block: 0),
                                BlockReference(locator: rel, fork: 0, block: 3)]))
        #expect(map.changedBlocks(rel, fork: 0) == [3, 7] && map.changedBlocks(rel, fork: 2) == [0] && map.changedBlocks(rel, fork: 1) == [])
        // XLOG_SMGR_TRUNCATE of another relation: block, locator, flags.
        let other = RelFileLocator(tablespace: 1663, database: 5, relation: 16390)
        map.add(record(2, info: 0x20, main: le32(10) + le32(1663) + le32(5) + le32(16390) + le32(7)))
        #expect(map.changedBlocks(other, fork: 0) == nil)
        // XLOG_SMGR_CREATE: locator, fork.
        let created = RelFileLocator(tablespace: 1663, database: 5, relation: 16400)
        map.add(record(2, info: 0x10, main: le32(1663) + le32(5) + le32(16400) + le32(0)))
        #expect(map.changedBlocks(created, fork: 0) == nil)
        // CREATE DATABASE (file copy): database 16500 in tablespace 1663 is read whole.
        map.add(record(4, info: 0x00, main: le32(16500) + le32(1663) + le32(1) + le32(1663)))
        #expect(map.changedBlocks(RelFileLocator(tablespace: 1663, database: 16500, relation: 1259), fork: 0) == nil)
        #expect(map.changedBlocks(rel, fork: 0) == [3, 7], "other relations keep their blocks")
    }

    @Test func pastItsMemoryBudgetTheLargestRelationIsReadWhole() {
        var map = ChangedBlockMap(memoryBudget: 64 << 10)
        let small = RelFileLocator(tablespace: 1663, database: 5, relation: 1)
        map.add(record(blocks: [BlockReference(locator: small, fork: 0, block: 1)]))
        for b in stride(from: UInt32(0), to: 60_000_000, by: 997) {
            map.add(record(blocks: [BlockReference(locator: rel, fork: 0, block: b)]))
        }
        #expect(map.changedBlocks(rel, fork: 0) == nil && map.changedBlocks(small, fork: 0) == [1])
        #expect(map.memoryBytes <= 64 << 10 && map.memoryBytes > 0)
        var emptied = ChangedBlockMap()
        emptied.add(record(blocks: [BlockReference(locator: rel, fork: 0, block: 1)]))
        emptied.readWhole(rel)
        #expect(emptied.memoryBytes == 0, "what is given up is no longer counted")
    }
}

@Suite struct WALSummaryCoverageTests {
    @Test func summariesWithoutAGapCoverTheRange() {
        let ranges = [(LSN(10), LSN(20)), (LSN(20), LSN(35)), (LSN(35), LSN(50)), (LSN(50), LSN(60))]
        let chosen = WALSummaryReader.covering(ranges, from: LSN(15), to: LSN(40))
        #expect(chosen?.map(\.0.value) == [10, 20, 35])
        // Overlapping summaries (a summary rewritten after a restart) are fine too.
        #expect(WALSummaryReader.covering([(LSN(0), LSN(30)), (LSN(20), LSN(45))], from: LSN(5), to: LSN(45))?.count == 2)
    }

    @Test func aGapOrAShortEndIsNoCover() {
        #expect(WALSummaryReader.covering([(LSN(10), LSN(20)), (LSN(21), LSN(40))], from: LSN(15), to: LSN(30)) == nil)
        #expect(WALSummaryReader.covering([(LSN(16), LSN(40))], from: LSN(15), to: LSN(30)) == nil, "begins after the parent's start")
        #expect(WALSummaryReader.covering([(LSN(10), LSN(29))], from: LSN(15), to: LSN(30)) == nil, "ends before this backup's start")
        #expect(WALSummaryReader.covering([], from: LSN(15), to: LSN(30)) == nil)
    }
}

@Suite struct WALSummaryRowTests {
    @Test func rowsBecomeBlocksOrWholeFiles() throws {
        var map = ChangedBlockMap()
        try WALSummaryReader.apply(["16384", "1663", "5", "0", "7", "f"], to: &map)
        try WALSummaryReader.apply(["16384", "1663", "5", "2", "1", "f"], to: &map)
        try WALSummaryReader.apply(["16390", "1663", "5", "0", "3", "t"], to: &map)
        try WALSummaryReader.apply(["0", "1700", "9", "0", "0", "t"], to: &map)
        let rel = RelFileLocator(tablespace: 1663, database: 5, relation: 16384)
        #expect(map.changedBlocks(rel, fork: 0) == [7] && map.changedBlocks(rel, fork: 2) == [1])
        #expect(map.changedBlocks(RelFileLocator(tablespace: 1663, database: 5, relation: 16390), fork: 0) == nil, "truncated: read whole")
        #expect(map.changedBlocks(RelFileLocator(tablespace: 1700, database: 9, relation: 4242), fork: 0) == nil, "a created database: every file whole")
        #expect(map.changedBlocks(RelFileLocator(tablespace: 1663, database: 9, relation: 4242), fork: 0) == [], "other tablespaces of it are not")
    }

    @Test func anUnreadableRowIsAnErrorNotASkippedBlock() {
        var map = ChangedBlockMap()
        for row: [String?] in [["x", "1663", "5", "0", "7", "f"], ["1", "1663", "5", "0", nil, "f"], ["1", "1663", "5", "0", "7"], ["1", "1663", "5", "0", "7", "maybe"]] {
            #expect(throws: EngineError.self) { try WALSummaryReader.apply(row, to: &map) }
        }
    }
}

/// A read that comes short inside a page before the end is refused, never scanned misaligned
/// (issue 22, defect 1: with reads that did not fill, pages were silently misread).
@Suite struct WALSegmentPagesTests {
    @Test func aShortReadMidSegmentIsRefused() throws {
        var reads = [8192 + 100, 8192]
        var buffer = [UInt8](repeating: 0, count: 16384)
        var pages = 0
        #expect(throws: FormatError.self) {
            try WALSegmentPages.forEach(segment: 1, segmentSize: 16 << 20, pageSize: 8192, from: LSN(16 << 20), buffer: &buffer,
                                        read: { _ in reads.isEmpty ? 0 : reads.removeFirst() }) { _, _ in pages += 1; return true }
        }
        #expect(pages == 1)
        reads = [8192 * 2, 100]
        pages = 0
        try WALSegmentPages.forEach(segment: 1, segmentSize: 16 << 20, pageSize: 8192, from: LSN(16 << 20), buffer: &buffer,
                                    read: { _ in reads.isEmpty ? 0 : reads.removeFirst() }) { _, _ in pages += 1; return true }
        #expect(pages == 2, "a partial page at the very end is where the file stops")
    }
}
