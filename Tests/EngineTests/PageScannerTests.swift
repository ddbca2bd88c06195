import Testing
import TestSupport
import PostgresFormat
import Repository
@testable import Engine

func page(lsn: UInt64, block: UInt32, checksum: Bool = true) -> [UInt8] {
    var p = [UInt8](repeating: 0, count: 8192)
    func put16(_ v: UInt16, _ at: Int) { p[at] = UInt8(v & 0xff); p[at + 1] = UInt8(v >> 8) }
    let l = LSN(lsn)
    for i in 0..<4 { p[i] = UInt8(l.high >> (8 * i) & 0xff); p[4 + i] = UInt8(l.low >> (8 * i) & 0xff) }
    put16(28, 12); put16(7000, 14); put16(8192, 16); put16(8192 | 4, 18)
    for i in 7000..<8192 { p[i] = UInt8(truncatingIfNeeded: Int(block) &* 7 &+ i) }
    if checksum { put16(p.withUnsafeBytes { PageVerifier.checksum($0, blockNumber: block) }, 8) }
    return p
}

let zeroPage = [UInt8](repeating: 0, count: 8192)

@Suite struct PageScannerTests {
    func scanner(parent: (LSN, UInt32)?, backupStart: UInt64 = 0x9000_0000) -> PageScanner {
        PageScanner(path: "base/1/16384", blockSize: 8192, firstBlock: 0, checksums: true,
                    backupStartLSN: LSN(backupStart), parent: parent.map { (startLSN: $0.0, blockCount: $0.1) })
    }

    func scan(_ s: inout PageScanner, _ pages: [[UInt8]], reread: (UInt32) -> [UInt8]? = { _ in nil }) -> ([Int], [UInt8]) {
        var chunk = pages.flatMap { $0 }
        let kept = chunk.withUnsafeMutableBytes { s.scan($0, chunkFirstBlock: 0, reread: reread) }
        return (kept, chunk)
    }

    @Test func aFullCopyKeepsEveryPageIncludingNewZeroPages() {
        var s = scanner(parent: nil)
        let (kept, _) = scan(&s, [page(lsn: 0x100, block: 0), zeroPage, page(lsn: 0x200, block: 2)])
        #expect(kept == [0, 1, 2])
        #expect(s.errors.isEmpty)
    }

    @Test func anIncrementalKeepsChangedZeroedAndNewBlocksOnly() {
        // Parent started at 0/5000000 and had 4 blocks; the file now has 6 (extended).
        var s = scanner(parent: (LSN(0x500_0000), 4))
        let pages = [
            page(lsn: 0x100_0000, block: 0),   // before the parent: in the parent already
            page(lsn: 0x500_0000, block: 1),   // exactly at the parent's start: keep
            zeroPage,                          // LSN 0: keep
            page(lsn: 0x4FF_FFFF, block: 3),   // just before: skip
            page(lsn: 0x100, block: 4),        // old LSN but a block the parent did not have
            page(lsn: 0x700_0000, block: 5),
        ]
        let (kept, _) = scan(&s, pages)
        #expect(kept == [1, 2, 4, 5])
        #expect(s.keptPages == 4)
        #expect(s.errors.isEmpty)
    }

    @Test func aTornPageThatHealsOnRereadIsStoredAsReread() {
        var s = scanner(parent: nil)
        var torn = page(lsn: 0x100, block: 1)
        torn[7800] ^= 0xFF
        var attempts = 0
        let (_, chunk) = scan(&s, [page(lsn: 0x100, block: 0), torn]) { block in
            attempts += 1
            return attempts < 2 ? torn : page(lsn: 0x100, block: block)
        }
        #expect(attempts == 2)
        #expect(s.errors.isEmpty)
        #expect(Array(chunk[8192...]) == page(lsn: 0x100, block: 1), "the good re-read is what gets stored")
    }

    @Test func aChecksumFailureThatPersistsIsReportedWithItsBlock() {
        var s = scanner(parent: nil)
        var bad = page(lsn: 0x100, block: 2)
        bad[7800] ^= 0xFF
        var attempts = 0
        let (kept, _) = scan(&s, [page(lsn: 0x100, block: 0), page(lsn: 0x100, block: 1), bad]) { _ in
            attempts += 1
            return bad
        }
        #expect(attempts == s.rereadAttempts)
        #expect(kept == [0, 1, 2], "a bad page is still stored as read")
        #expect(s.errors.count == 1)
        #expect(s.errors.first?.block == 2)
        #expect(s.errors.first?.path == "base/1/16384")
        if case .checksumMismatch = s.errors.first?.problem {} else { Issue.record("wrong problem \(String(describing: s.errors.first))") }
    }

    @Test func aFailingPageNewerThanTheBackupStartIsLeftToWALReplay() {
        var s = scanner(parent: nil, backupStart: 0x500_0000)
        var torn = page(lsn: 0x600_0000, block: 0)
        torn[7800] ^= 0xFF
        _ = scan(&s, [torn]) { _ in torn }
        #expect(s.errors.isEmpty)
    }

    @Test func blockNumbersOfLaterSegmentsCountFromTheSegmentStart() {
        // Segment 1 of a fork: its first page is block 131072 for the checksum.
        var s = PageScanner(path: "base/1/16384.1", blockSize: 8192, firstBlock: 131_072, checksums: true,
                            backupStartLSN: LSN(0x9000_0000), parent: nil)
        _ = scan(&s, [page(lsn: 0x100, block: 131_072), page(lsn: 0x100, block: 131_073)])
        #expect(s.errors.isEmpty)
        var wrong = scanner(parent: nil)
        _ = scan(&wrong, [page(lsn: 0x100, block: 131_072)])
        #expect(wrong.errors.count == 1)
    }
}

@Suite struct RelationCopyTests {
    func writeFile(_ dir: TestDirectory, _ name: String, _ pages: [[UInt8]]) throws -> String {
        try dir.write(name, pages.flatMap { $0 })
        return dir.path + "/" + name
    }

    @Test(arguments: Compression.allCases)
    func aDeltaHoldsTheKeptPagesWithTheirBlockNumbers(_ compression: Compression) throws {
        let dir = try TestDirectory()
        let pages = (0..<300).map { page(lsn: $0 % 50 == 0 ? 0x800_0000 : 0x100, block: UInt32($0)) }
        let source = try writeFile(dir, "16384", pages)
        var copier = FileCopier(storage: PosixStorage(root: "/"), compression: compression, level: 1)
        var scanner = PageScanner(path: "base/1/16384", blockSize: 8192, firstBlock: 0, checksums: true,
                                  backupStartLSN: LSN(0x9000_0000), parent: (startLSN: LSN(0x500_0000), blockCount: 290))
        let stored = dir.path + "/stored" + PageDelta.fileSuffix + compression.fileSuffix
        let summary = try #require(try copier.copyRelation(from: source, to: String(stored.dropFirst()), limit: UInt64(300 * 8192),
                                                           delta: true, scanner: &scanner))
        #expect(copier.lastFileBytesRead == UInt64(300 * 8192))
        let reader = try StoredFileReader(path: stored, compression: compression)
        var blocks: [UInt32] = []
        try PageDelta.readPages(reader, blockSize: 8192) { block, bytes in
            blocks.append(block)
            #expect(Array(bytes) == pages[Int(block)])
        }
        // Changed blocks 0, 50, ... 250, plus 290-299 that the parent did not have.
        #expect(blocks == [0, 50, 100, 150, 200, 250] + Array(290..<300))
        #expect(reader.checksum == summary.checksum)

        // A part (blocks 100-279) holds the same records for its range, numbered in the file.
        let part = dir.path + "/part" + compression.fileSuffix
        _ = try #require(try copier.copyRelation(from: source, to: String(part.dropFirst()), offset: UInt64(100 * 8192), limit: UInt64(180 * 8192),
                                                 delta: true, scanner: &scanner))
        #expect(copier.lastFileBytesRead == UInt64(180 * 8192))
        var partBlocks: [UInt32] = []
        try PageDelta.readPages(try StoredFileReader(path: part, compression: compression), blockSize: 8192) { block, bytes in
            partBlocks.append(block)
            #expect(Array(bytes) == pages[Int(block)])
        }
        #expect(partBlocks == [100, 150, 200, 250])
    }

    @Test func aDeltaWithNoChangedPageOfTheParentsSizeIsNotWritten() throws {
        let dir = try TestDirectory()
        let source = try writeFile(dir, "16384", (0..<10).map { page(lsn: 0x100, block: UInt32($0)) })
        var copier = FileCopier(storage: PosixStorage(root: "/"), compression: .zstd, level: 1)
        func scanner(parentBlocks: UInt32) -> PageScanner {
            PageScanner(path: "base/1/16384", blockSize: 8192, firstBlock: 0, checksums: true,
                        backupStartLSN: LSN(0x9000_0000), parent: (startLSN: LSN(0x500_0000), blockCount: parentBlocks))
        }
        var same = scanner(parentBlocks: 10)
        let quiet = try #require(try copier.copyRelation(from: source, to: String(dir.path.dropFirst()) + "/quiet", limit: UInt64(10 * 8192), delta: true,
                                                         parentSize: UInt64(10 * 8192), scanner: &same))
        #expect(quiet.storedSize == 0 && !FileSystem.exists(dir.path + "/quiet"))
        // Truncated since the parent (12 blocks then): the empty delta is stored, its size matters.
        var shrunk = scanner(parentBlocks: 12)
        let cut = try #require(try copier.copyRelation(from: source, to: String(dir.path.dropFirst()) + "/cut", limit: UInt64(10 * 8192), delta: true,
                                                       parentSize: UInt64(12 * 8192), scanner: &shrunk))
        #expect(cut.storedSize > 0 && FileSystem.exists(dir.path + "/cut"))
        #expect(try PageDelta.readPages(try StoredFileReader(path: dir.path + "/cut", compression: .zstd), blockSize: 8192) { _, _ in } == 0)
    }

    @Test func aFileThatShrankWhileReadRecordsWhatWasRead() throws {
        let dir = try TestDirectory()
        let source = try writeFile(dir, "16384", (0..<10).map { page(lsn: 0x100, block: UInt32($0)) })
        var copier = FileCopier(storage: PosixStorage(root: "/"), compression: .none, level: 1)
        var scanner = PageScanner(path: "base/1/16384", blockSize: 8192, firstBlock: 0, checksums: true,
                                  backupStartLSN: LSN(0x9000_0000), parent: (startLSN: LSN(0x500_0000), blockCount: 10))
        // Listed at 16 blocks, 10 left when read (VACUUM truncated it meanwhile).
        _ = try copier.copyRelation(from: source, to: String(dir.path.dropFirst()) + "/stored", limit: UInt64(16 * 8192), delta: true, scanner: &scanner)
        #expect(copier.lastFileBytesRead == UInt64(10 * 8192))
        #expect(try copier.copyRelation(from: dir.path + "/gone", to: dir.path + "/x", limit: 8192, delta: true, scanner: &scanner) == nil)
    }
}
