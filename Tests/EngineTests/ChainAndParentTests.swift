import Testing
import TestSupport
import PostgresFormat
import Repository
@testable import Engine

func makeRepository(_ dir: TestDirectory) throws -> Repository {
    try Repository.create(dir.path + "/repo", identity: RepositoryIdentity(
        systemIdentifier: 1, pgMajorVersion: "15", controlVersion: 1300, catalogVersion: 202_209_061,
        blockSize: 8192, walSegmentSize: 16 << 20, created: .now()), config: RepositoryConfig())
}

func backupInfo(_ id: String, _ mode: BackupMode, parent: String? = nil, status: BackupStatus = .ok, timeline: TimelineID = 1,
                start: UInt64 = 0, stop: UInt64 = 0, version: Int = 150_018) -> BackupInfo {
    var b = BackupInfo(id: id, mode: mode, status: status, startTime: .now())
    b.parentID = parent
    b.timeline = timeline
    b.startLSN = LSN(start)
    b.stopLSN = LSN(stop)
    b.pgVersionNum = version
    return b
}

/// A page whose content names the backup it came from, so the result shows who supplied it.
func marked(_ tag: UInt8, _ block: Int) -> [UInt8] {
    var p = [UInt8](repeating: tag, count: 8192)
    p[0] = UInt8(block)
    return p
}

@Suite struct ChainAssemblerTests {
    struct Fixture {
        let dir: TestDirectory
        let repo: Repository
        var chain: [ChainMember] = []
    }

    /// Stores `entry` for backup `info`: whole pages, or a delta of (block, page) pairs.
    func store(_ repo: Repository, _ info: BackupInfo, path: String, whole: [[UInt8]]? = nil,
               delta: [(Int, [UInt8])]? = nil, blocks: Int) throws -> FileEntry {
        var entry = FileEntry(kind: whole != nil ? .file : .pageDelta, path: path, mode: 0o600, size: UInt64(blocks * 8192))
        let stored = repo.storedPath(info.id, entry, compression: info.compression)
        try FileSystem.makeDirectories(FileSystem.parentDirectory(of: stored))
        let writer = try StoredFileWriter(path: stored, compression: info.compression, level: 1)
        if let whole { for p in whole { try writer.write(p) } }
        if let delta {
            try writer.write(PageDelta.header(blockSize: 8192))
            for (block, p) in delta { try writer.write(PageDelta.littleEndian(UInt32(block))); try writer.write(p) }
        }
        let summary = try writer.commit()
        entry.checksum = summary.checksum
        entry.storedSize = summary.storedSize
        return entry
    }

    /// A file's stored versions down a small chain, found as RestorePlan finds them.
    func versions(_ entry: FileEntry, _ chain: [ChainMember]) throws -> [(info: BackupInfo, entry: FileEntry)] {
        var resolver = StoredVersions()
        for (n, member) in chain.enumerated() {
            try resolver.add(member.files[entry.path], member: n, newest: entry, fileList: "file.list of \(member.info.id)")
        }
        try resolver.finish(newest: entry, fileList: "file.list")
        return resolver.versions.map { (info: chain[$0.member].info, entry: $0.entry) }
    }

    func assemble(_ repo: Repository, _ entry: FileEntry, _ chain: [ChainMember], in dir: TestDirectory) throws -> ([UInt8], UInt64) {
        let output = try DirectFile(creating: dir.path + "/out-\(chain.count)-\(entry.size)")
        let sink = DirectSink(output, writeBehind: WriteBehind())
        try sink.truncate(to: entry.size)  // as RestoreWriter sizes it
        var assembler = ChainAssembler(repository: repo)
        let crc = try assembler.assemble(entry, into: sink, versions: try versions(entry, chain))
        try sink.finish(sync: true)
        let content = try FileSystem.readAll(output.path, limit: 1 << 26)
        #expect(crc == CRC32C.checksum(content), "the CRC it reports is that of what it wrote (backup_manifest relies on it)")
        return (content, sink.bytesWritten)
    }
    /// A full backup and two incrementals on top of it, all with `compression`.
    func chainOfThree(_ compression: Compression) -> (BackupInfo, BackupInfo, BackupInfo) {
        var full = backupInfo("20261122-100000F", .full); full.compression = compression
        var inc1 = backupInfo("20261122-110000I", .incremental, parent: full.id); inc1.compression = compression
        var inc2 = backupInfo("20261122-120000I", .incremental, parent: inc1.id); inc2.compression = compression
        return (full, inc1, inc2)
    }

    /// Stores `entry` split into parts of `partBlocks` blocks, as a backup of a large file does.
    func storeSplit(_ repo: Repository, _ info: BackupInfo, path: String, whole: [[UInt8]]? = nil,
                    delta: [(Int, [UInt8])]? = nil, blocks: Int, partBlocks: Int) throws -> FileEntry {
        var entry = FileEntry(kind: whole != nil ? .file : .pageDelta, path: path, mode: 0o600, size: UInt64(blocks * 8192))
        entry.partSize = UInt64(partBlocks * 8192)
        var crc = CRC32C().value
        for part in 0..<(blocks + partBlocks - 1) / partBlocks {
            let range = part * partBlocks..<min(blocks, (part + 1) * partBlocks)
            let stored = repo.storedPath(info.id, entry, compression: info.compression, part: part)
            try FileSystem.makeDirectories(FileSystem.parentDirectory(of: stored))
            let writer = try StoredFileWriter(path: stored, compression: info.compression, level: 1)
            if let whole { for p in whole[range] { try writer.write(p) } }
            if let delta {
                try writer.write(PageDelta.header(blockSize: 8192))
                for (block, p) in delta where range.contains(block) { try writer.write(PageDelta.littleEndian(UInt32(block))); try writer.write(p) }
            }
            let summary = try writer.commit()
            entry.partChecksums.append(summary.checksum)
            crc = CRC32C.combine(crc, summary.checksum, lengthOfB: summary.size)
            entry.storedSize += summary.storedSize
        }
        entry.checksum = crc
        return entry
    }

    @Test(arguments: [Compression.none, .zstd])
    func splitFilesAssembleRangeByRangeEvenWhenPartSizesDiffer(_ compression: Compression) throws {
        let dir = try TestDirectory()
        let repo = try makeRepository(dir)
        let (full, inc1, inc2) = chainOfThree(compression)
        let path = "base/5/16384"
        // Full: 10 blocks in parts of 4; inc1: parts of 4, file extended to 11; inc2: parts of
        // 3 (another pgbk's part size), file truncated to 10.
        let f = try storeSplit(repo, full, path: path, whole: (0..<10).map { marked(0xF0, $0) }, blocks: 10, partBlocks: 4)
        let i1 = try storeSplit(repo, inc1, path: path, delta: [(1, marked(0xA1, 1)), (6, marked(0xA1, 6)), (9, marked(0xA1, 9)),
                                                                  (10, marked(0xA1, 10))], blocks: 11, partBlocks: 4)
        let i2 = try storeSplit(repo, inc2, path: path, delta: [(2, marked(0xA2, 2)), (6, marked(0xA2, 6))], blocks: 10, partBlocks: 3)
        #expect(f.partCount == 3 && i1.partCount == 3 && i2.partCount == 4)
        let chain = [ChainMember(info: inc2, files: [path: i2]), ChainMember(info: inc1, files: [path: i1]),
                     ChainMember(info: full, files: [path: f])]
        var expected = (0..<10).map { marked(0xF0, $0) }
        expected[1] = marked(0xA1, 1); expected[9] = marked(0xA1, 9)
        expected[2] = marked(0xA2, 2); expected[6] = marked(0xA2, 6)

        let whole = try assemble(repo, i2, chain, in: dir)
        #expect(whole.0 == expected.flatMap { $0 })

        // A delta restore over the full backup's version of the file (one block longer than
        // now) writes only the four blocks the incrementals changed.
        let old = dir.path + "/old"
        try AtomicFile.write(old, (0..<11).map { marked(0xF0, $0) }.flatMap { $0 })
        let file = try OpenFile(updating: old)
        try file.truncate(to: i2.size)
        let comparing = ComparingSink(file, blockSize: 8192)
        var deltaAssembler = ChainAssembler(repository: repo)
        let deltaCRC = try deltaAssembler.assemble(i2, into: comparing, versions: try versions(i2, chain))
        try comparing.finish(sync: false)
        #expect(deltaCRC == CRC32C.checksum(expected.flatMap { $0 }))
        #expect(try FileSystem.readAll(old, limit: 1 << 20) == expected.flatMap { $0 })
        #expect(comparing.bytesWritten == 4 * 8192)
        // The ranges a restore hands to its workers, each written into the same sized file.
        let out = dir.path + "/ranges"
        let sized = try DirectFile(creating: out)
        try sized.truncate(to: i2.size)
        try sized.finish()
        var written: UInt64 = 0
        var pieces: [ContentPiece] = []
        for range in [6..<9, 0..<3, 9..<10, 3..<6] {
            let sink = DirectSink(try DirectFile(existing: out), writeBehind: WriteBehind())
            var assembler = ChainAssembler(repository: repo)
            let crc = try assembler.assemble(i2, blocks: range, into: sink, versions: try versions(i2, chain))
            try sink.finish(sync: true)
            written += sink.bytesWritten
            pieces.append(ContentPiece(offset: UInt64(range.lowerBound) * 8192, length: UInt64(range.count) * 8192, crc: crc))
        }
        #expect(written == 10 * 8192)
        // The ranges' CRCs, in any order of completion, combine into the whole file's.
        #expect(ContentPiece.wholeFileCRC(pieces) == CRC32C.checksum(expected.flatMap { $0 }))
        #expect(try FileSystem.readAll(out, limit: 1 << 20) == expected.flatMap { $0 })

        // A damaged part is named.
        try FileSystem.remove(dir.path + "/out-3-\(i2.size)")
        var damaged = f
        damaged.partChecksums[1] ^= 1
        let bad = [chain[0], chain[1], ChainMember(info: full, files: [path: damaged])]
        #expect { _ = try assemble(repo, i2, bad, in: dir) } throws: {
            "\($0)".contains(repo.storedPath(full.id, f, compression: compression, part: 1)) && "\($0)".contains("checksum")
        }
    }

    @Test(arguments: Compression.allCases)
    func eachBlockComesFromTheNewestBackupThatHasItAndTheFileIsCutToItsLastCount(_ compression: Compression) throws {
        let dir = try TestDirectory()
        let repo = try makeRepository(dir)
        let (full, inc1, inc2) = chainOfThree(compression)
        let path = "base/5/16384"
        // Full: 6 blocks. inc1: blocks 1 and 6, 7 (extended to 8). inc2: block 1 again, and
        // the file truncated to 5 blocks (VACUUM): blocks 5-7 must not come back.
        let f = try store(repo, full, path: path, whole: (0..<6).map { marked(0xF0, $0) }, blocks: 6)
        let i1 = try store(repo, inc1, path: path, delta: [(1, marked(0xA1, 1)), (6, marked(0xA1, 6)), (7, marked(0xA1, 7))], blocks: 8)
        let i2 = try store(repo, inc2, path: path, delta: [(1, marked(0xA2, 1))], blocks: 5)
        let chain = [ChainMember(info: inc2, files: [path: i2]), ChainMember(info: inc1, files: [path: i1]),
                     ChainMember(info: full, files: [path: f])]
        let (bytes, written) = try assemble(repo, i2, chain, in: dir)
        #expect(bytes.count == 5 * 8192)
        let expected = [marked(0xF0, 0), marked(0xA2, 1), marked(0xF0, 2), marked(0xF0, 3), marked(0xF0, 4)].flatMap { $0 }
        #expect(bytes == expected)
        #expect(written == 5 * 8192, "every block written exactly once")
    }

    @Test func aFileCreatedInTheMiddleOfTheChainStartsFromThatBackup() throws {
        let dir = try TestDirectory()
        let repo = try makeRepository(dir)
        let full = backupInfo("20261122-100000F", .full)
        let inc1 = backupInfo("20261122-110000I", .incremental, parent: full.id)
        let inc2 = backupInfo("20261122-120000I", .incremental, parent: inc1.id)
        let path = "base/5/20000"
        let w = try store(repo, inc1, path: path, whole: (0..<3).map { marked(0xB1, $0) }, blocks: 3)
        let d = try store(repo, inc2, path: path, delta: [(2, marked(0xB2, 2))], blocks: 3)
        let chain = [ChainMember(info: inc2, files: [path: d]), ChainMember(info: inc1, files: [path: w]),
                     ChainMember(info: full, files: [:])]
        let (bytes, _) = try assemble(repo, d, chain, in: dir)
        #expect(bytes == [marked(0xB1, 0), marked(0xB1, 1), marked(0xB2, 2)].flatMap { $0 })
    }

    @Test func blocksThatNoBackupHasAndDamagedDeltasAreErrors() throws {
        let dir = try TestDirectory()
        let repo = try makeRepository(dir)
        let full = backupInfo("20261122-100000F", .full)
        let inc = backupInfo("20261122-110000I", .incremental, parent: full.id)
        let path = "base/5/16384"
        let f = try store(repo, full, path: path, whole: (0..<2).map { marked(0xF0, $0) }, blocks: 2)
        // Claims 4 blocks but only supplies block 2: block 3 is nowhere.
        let d = try store(repo, inc, path: path, delta: [(2, marked(0xA1, 2))], blocks: 4)
        let chain = [ChainMember(info: inc, files: [path: d]), ChainMember(info: full, files: [path: f])]
        do {
            _ = try assemble(repo, d, chain, in: dir)
            Issue.record("incomplete chain accepted")
        } catch {
            #expect("\(error)".contains("in no backup of the chain"))
        }
        var damaged = d
        damaged.size = 3 * 8192
        damaged.checksum = (d.checksum ?? 0) ^ 1
        #expect(throws: EngineError.self) { _ = try assemble(repo, damaged, [ChainMember(info: inc, files: [path: damaged]), chain[1]], in: dir) }
    }
}

@Suite struct ParentSelectorTests {
    func select(_ backups: [BackupInfo], timeline: TimelineID = 1, history: TimelineHistory? = nil,
                start: UInt64 = 0x9000_0000, major: Int = 15, rule: ParentSelector.Rule = .newest) throws -> Result<BackupInfo, EngineError> {
        let dir = try TestDirectory()
        let repo = try makeRepository(dir)
        return ParentSelector.select(from: backups, repository: repo, situation: .init(
            timeline: timeline, history: history, startLSN: LSN(start), pgMajor: major), rule: rule)
    }

    func chosen(_ r: Result<BackupInfo, EngineError>) -> String? { try? r.get().id }
    func reason(_ r: Result<BackupInfo, EngineError>) -> String {
        if case .failure(let e) = r { return e.description }
        return ""
    }

    let full = backupInfo("20261122-100000F", .full, start: 0x100_0000, stop: 0x200_0000)

    @Test func theNewestOKBackupWithAnIntactChainIsChosen() throws {
        let inc = backupInfo("20261122-110000I", .incremental, parent: full.id, start: 0x300_0000, stop: 0x400_0000)
        let corrupt = backupInfo("20261122-120000I", .incremental, parent: inc.id, status: .corrupt, start: 0x500_0000, stop: 0x600_0000)
        #expect(chosen(try select([full, inc, corrupt])) == inc.id)
        // An OK incremental whose parent went bad cannot be built on.
        let badParent = backupInfo("20261122-110000I", .incremental, parent: full.id, status: .error)
        let orphan = backupInfo("20261122-120000I", .incremental, parent: badParent.id, start: 0x500_0000, stop: 0x600_0000)
        #expect(chosen(try select([full, badParent, orphan])) == full.id)
        let done = backupInfo("20261122-130000F", .full, status: .done, start: 0x700_0000, stop: 0x800_0000)
        #expect(chosen(try select([full, done])) == full.id, "DONE is not validated yet")
        #expect(reason(try select([done])).contains("no OK"))
    }

    @Test func ancestorTimelinesCountOnlyBeforeTheSwitchPoint() throws {
        let history = TimelineHistory(timeline: 2, ancestors: [.init(timeline: 1, switchLSN: LSN(0x250_0000))])
        #expect(chosen(try select([full], timeline: 2, history: history)) == full.id)
        let late = backupInfo("20261122-110000F", .full, start: 0x260_0000, stop: 0x270_0000)
        let r = try select([late], timeline: 2, history: history)
        #expect(chosen(r) == nil && reason(r).contains("not an ancestor"))
        let noHistory = try select([full], timeline: 2)
        #expect(chosen(noHistory) == nil && reason(noHistory).contains("history of timeline 2"))
        let sibling = backupInfo("20261122-110000F", .full, timeline: 3, start: 0x100_0000, stop: 0x200_0000)
        #expect(chosen(try select([sibling], timeline: 2, history: history)) == nil)
    }

    /// Issue 29, item 1: a diff builds on the newest OK full; --parent on the backup it names,
    /// held to the same rules as any parent.
    @Test func aDiffTakesTheNewestFullAndANamedParentIsThatOne() throws {
        let inc = backupInfo("20261122-110000I", .incremental, parent: full.id, start: 0x300_0000, stop: 0x400_0000)
        let newFull = backupInfo("20261122-120000F", .full, status: .done, start: 0x500_0000, stop: 0x600_0000)
        #expect(chosen(try select([full, inc, newFull], rule: .newestFull)) == full.id, "not the incremental, nor the DONE full")
        #expect(chosen(try select([full, inc], rule: .named(full.id))) == full.id)
        let onlyIncrementalOK = backupInfo("20261122-100000F", .full, status: .corrupt, start: 0x100_0000, stop: 0x200_0000)
        let r = try select([onlyIncrementalOK, inc], rule: .newestFull)
        #expect(chosen(r) == nil && reason(r).contains("differential"), "\(reason(r))")
        #expect(reason(try select([full, inc, newFull], rule: .named(newFull.id))).contains("only an OK"))
        #expect(reason(try select([full], rule: .named("20200101-000000F"))).contains("no such backup"))
        #expect(reason(try select([full], major: 16, rule: .named(full.id))).contains("PostgreSQL 15"))
    }

    @Test func anotherMajorVersionOrAStartBeforeTheParentsStopForcesAFull() throws {
        let r = try select([full], major: 16)
        #expect(chosen(r) == nil && reason(r).contains("PostgreSQL 15"))
        let reset = try select([full], start: 0x100_0000)
        #expect(chosen(reset) == nil && reason(reset).contains("reset or restored"))
    }
}

/// The one chain walk everything uses (restore, parent choice, validate, retention).
@Suite struct BackupChainTests {
    @Test func walksToTheFullStopsAtAGapAndReportsALoop() {
        let f = backupInfo("20260101-000000F", .full)
        let i1 = backupInfo("20260102-000000I", .incremental, parent: f.id)
        let i2 = backupInfo("20260103-000000I", .incremental, parent: i1.id)
        #expect(BackupChain.ancestry(of: i2, in: [f, i1, i2]).members.map(\.id) == [i2.id, i1.id, f.id])
        let gap = BackupChain.ancestry(of: i2, in: [f, i2])
        #expect(gap.members.map(\.id) == [i2.id] && gap.loopsAt == nil)
        #expect(RetentionPlanner.chainRoot(i2, [f, i2]) == nil, "a broken chain has no root")
        #expect(RetentionPlanner.chainRoot(i2, [f, i1, i2]) == f.id)
        // Two incrementals that name each other as parents.
        let a = backupInfo("20260104-000000I", .incremental, parent: "20260105-000000I")
        let b = backupInfo("20260105-000000I", .incremental, parent: a.id)
        #expect(BackupChain.ancestry(of: a, in: [a, b]).loopsAt == a.id)
        #expect(RetentionPlanner.chainRoot(a, [a, b]) == nil)
    }
}

/// One backup of a test chain and its files by path.
struct ChainMember {
    let info: BackupInfo
    let files: [String: FileEntry]
}
