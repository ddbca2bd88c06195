import Testing
import TestSupport
import Repository
@testable import Engine

/// The pure parts of `restore --delta` on synthetic files: which blocks ComparingSink writes,
/// and what DeltaTarget removes (and, above all, what it never touches).
@Suite struct DeltaRestoreUnitTests {
    static let block = 8192

    private func contents(_ path: String) throws -> [UInt8] { try FileSystem.readAll(path, limit: 1 << 24) }

    @Test func onlyTheBlocksThatDifferAreWritten() throws {
        let dir = try TestDirectory()
        let path = dir.path + "/rel"
        let old = pseudoRandomBytes(40 * Self.block, seed: 7)
        try AtomicFile.write(path, old)
        var new = old
        for b in [0, 1, 2, 17, 39] { new[b * Self.block + 100] ^= 0xff }  // a run of three and two single blocks
        let sink = ComparingSink(try OpenFile(updating: path), blockSize: Self.block)
        // Unaligned chunks, as a stored file's reader hands them over.
        var at = 0
        for size in [3 * Self.block + 5, 30_001, new.count] {
            let end = min(new.count, at + size)
            guard at < end else { break }
            try new[at..<end].withUnsafeBytes { try sink.write($0, at: UInt64(at)) }
            at = end
        }
        try sink.finish(sync: false)
        #expect(try contents(path) == new)
        // The first chunk ends 5 bytes into block 3: that fragment is compared on its own.
        #expect(sink.bytesWritten == UInt64(5 * Self.block), "\(sink.bytesWritten)")
    }

    @Test func aShorterOrLongerFileEndsAsTheBackupHasIt() throws {
        let dir = try TestDirectory()
        let short = dir.path + "/short", long = dir.path + "/long"
        let content = pseudoRandomBytes(10 * Self.block + 123, seed: 9)
        try AtomicFile.write(short, Array(content[0..<(4 * Self.block)]))
        try AtomicFile.write(long, content + pseudoRandomBytes(5 * Self.block, seed: 3))
        for path in [short, long] {
            let file = try OpenFile(updating: path)
            try file.truncate(to: UInt64(content.count))
            let sink = ComparingSink(file, blockSize: Self.block)
            try content.withUnsafeBytes { try sink.write($0, at: 0) }
            try sink.finish(sync: false)
            #expect(try contents(path) == content, "\(path)")
            #expect(sink.bytesWritten == UInt64(content.count - (path == short ? 4 * Self.block : content.count)))
        }
    }

    @Test func removesWhatTheBackupDoesNotHaveAndNeverFollowsALinkOut() throws {
        let dir = try TestDirectory()
        let target = dir.path + "/data", outside = dir.path + "/outside", tablespace = dir.path + "/ts"
        let foreign = dir.path + "/foreign-ts"
        for d in [target, target + "/base", target + "/base/1", target + "/global", target + "/pg_tblspc", target + "/junk",
                  outside, tablespace, tablespace + "/PG_15_X", tablespace + "/PG_15_X/5", tablespace + "/PG_99_other",
                  foreign, foreign + "/PG_15_X", dir.path + "/wal"] {
            try FileSystem.makeDirectory(d)
        }
        for f in [target + "/PG_VERSION", target + "/base/1/100", target + "/base/1/999", target + "/global/pg_control",
                  target + "/junk/file", outside + "/keep", tablespace + "/PG_15_X/5/200", tablespace + "/PG_15_X/5/201",
                  tablespace + "/PG_99_other/keep", foreign + "/PG_15_X/keep", target + "/base/1/200",
                  dir.path + "/wal/000000010000000000000001"] {
            try AtomicFile.write(f, text: "x")
        }
        try FileSystem.makeSymlink(target + "/escape", target: outside)           // not in the backup
        try FileSystem.makeSymlink(target + "/base/1/100_link", target: outside + "/keep")
        try FileSystem.makeSymlink(target + "/pg_tblspc/16384", target: tablespace)  // the backup's location
        try FileSystem.makeSymlink(target + "/pg_tblspc/16385", target: foreign)     // mapped elsewhere now
        try FileSystem.makeSymlink(target + "/pg_wal", target: dir.path + "/wal")
        func entry(_ kind: FileEntry.Kind, _ path: String) -> FileEntry { FileEntry(kind: kind, path: path, mode: 0o700, checksum: 0) }
        let entries = [
            entry(.directory, "."), entry(.file, "PG_VERSION"), entry(.directory, "base"), entry(.directory, "base/1"),
            entry(.file, "base/1/100"), entry(.directory, "base/1/200"),  // a file in the target, a directory in the backup
            entry(.directory, "global"), entry(.file, "global/pg_control"), entry(.directory, "pg_tblspc"),
            entry(.symlink, "pg_tblspc/16384"), entry(.directory, "pg_tblspc/16384/PG_15_X"),
            entry(.directory, "pg_tblspc/16384/PG_15_X/5"), entry(.pageDelta, "pg_tblspc/16384/PG_15_X/5/200"),
            entry(.symlink, "pg_tblspc/16385"), entry(.directory, "pg_wal"), entry(.directory, "pg_wal/archive_status"),
        ]
        // The cluster's pg_control says whose directory it is (a marker alone would not, issue 22).
        try AtomicFile.write(target + "/global/pg_control", syntheticControlFile(systemIdentifier: 7))
        try RestoreMarker.write(in: target, systemIdentifier: 7, backupID: "20260101-000000F")
        let delta = try #require(try DeltaTarget.check(target, systemIdentifier: 7, repository: "r"))
        // Asked in the walk's order, each path once: a list in that order is merged, not held.
        let kinds = Dictionary(uniqueKeysWithValues: entries.map { ($0.path, $0.kind) })
        var asked: [String] = []
        let (removed, kept) = try delta.removeExtraneous(kindOf: { asked.append($0); return kinds[$0] },
                                                         tablespaces: ["pg_tblspc/16384": tablespace, "pg_tblspc/16385": dir.path + "/new-ts"])
        #expect(zip(asked, asked.dropFirst()).allSatisfy { FileList.walkPrecedes($0, $1) }, "\(asked)")
        #expect(removed == 8 && kept.isEmpty, "\(removed) \(kept)")
        for gone in ["/base/1/999", "/junk", "/escape", "/base/1/100_link", "/global/pg_control", "/base/1/200", "/pg_tblspc/16385"] {
            #expect(!FileSystem.exists(target + gone), "\(gone)")
        }
        #expect(!FileSystem.exists(tablespace + "/PG_15_X/5/201") && !FileSystem.exists(dir.path + "/wal/000000010000000000000001"))
        for kept in [target + "/PG_VERSION", target + "/base/1/100", outside + "/keep", tablespace + "/PG_15_X/5/200",
                     tablespace + "/PG_99_other/keep", foreign + "/PG_15_X/keep"] {
            #expect(FileSystem.exists(kept), "\(kept)")
        }
        #expect(try FileSystem.status(target + "/pg_wal").kind == .symlink, "pg_wal elsewhere stays elsewhere")
        #expect(FileSystem.exists(target + "/" + RestoreMarker.name))
    }

    @Test func refusesAnotherClusterAndWhatIsNoDataDirectory() throws {
        let dir = try TestDirectory()
        #expect(try DeltaTarget.check(dir.path + "/missing", systemIdentifier: 1, repository: "r") == nil)
        #expect(try DeltaTarget.check(dir.path, systemIdentifier: 1, repository: "r") == nil, "empty: a plain restore")
        try AtomicFile.write(dir.path + "/notes.txt", text: "mine")
        #expect(throws: EngineError.self) { try DeltaTarget.check(dir.path, systemIdentifier: 1, repository: "r") }
        try RestoreMarker.write(in: dir.path, systemIdentifier: 42, backupID: "20260101-000000F")
        #expect(try DeltaTarget.check(dir.path, systemIdentifier: 42, repository: "r") != nil, "an unfinished restore of this cluster")
        do {
            _ = try DeltaTarget.check(dir.path, systemIdentifier: 43, repository: "r")
            Issue.record("another cluster's unfinished restore was accepted")
        } catch let error as EngineError {
            #expect("\(error)".contains("42") && "\(error)".contains("43"), "\(error)")
        }
        #expect(try FileSystem.readText(dir.path + "/notes.txt") == "mine")
    }

    /// Issue 22, defect 19: a planted marker naming the repository's cluster does not make
    /// another cluster's data directory (its pg_control valid) a target for --delta.
    @Test func pgControlWinsOverAPlantedMarker() throws {
        let dir = try TestDirectory()
        try FileSystem.makeDirectory(dir.path + "/global", mode: 0o700)
        try AtomicFile.write(dir.path + "/PG_VERSION", text: "15\n")
        try AtomicFile.write(dir.path + "/global/pg_control", syntheticControlFile(systemIdentifier: 1001))
        try RestoreMarker.write(in: dir.path, systemIdentifier: 2002, backupID: "20260101-000000F")
        do {
            _ = try DeltaTarget.check(dir.path, systemIdentifier: 2002, repository: "r")
            Issue.record("another cluster's data directory was accepted on the word of a planted marker")
        } catch let error as EngineError {
            #expect("\(error)".contains("1001") && "\(error)".contains("2002"), "\(error)")
        }
        #expect(try DeltaTarget.check(dir.path, systemIdentifier: 1001, repository: "r") != nil, "its own cluster's restore goes on")
    }
}
