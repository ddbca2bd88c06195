import Testing
import TestSupport
import PostgresFormat
@testable import Repository

/// Issue 10: nothing from the repository is trusted before it is checked.
@Suite struct CatalogPathTests {
    func entry(_ kind: FileEntry.Kind, _ path: String, target: String? = nil) -> FileEntry {
        FileEntry(kind: kind, path: path, mode: 0o600, size: 0, checksum: kind == .file ? 0 : nil, linkTarget: target)
    }

    var cluster: [FileEntry] {
        [entry(.directory, "."), entry(.directory, "base"), entry(.directory, "base/1"), entry(.file, "base/1/1259"),
         entry(.directory, "pg_tblspc"), entry(.symlink, "pg_tblspc/16384", target: "/srv/ts"),
         entry(.directory, "pg_tblspc/16384/PG_15_202209061"), entry(.file, "pg_tblspc/16384/PG_15_202209061/x")]
    }

    @Test func acceptsWhatPostgreSQLLaysOut() {
        #expect(CatalogPath.problem(in: cluster) == nil)
    }

    @Test(arguments: ["../x", "/etc/passwd", "base/../../x", "base//1", "base/./1", "..", "", "base/1/\u{0}x", "base/"])
    func rejectsPathsThatLeaveOrBlurTheDataDirectory(_ path: String) {
        #expect(CatalogPath.problem(with: path) != nil, "\(path)")
        #expect(CatalogPath.problem(in: cluster + [entry(.file, path)]) != nil, "\(path)")
    }

    @Test func linksOnlyWherePostgreSQLHasThemAndOnlyToAbsolutePaths() {
        #expect(CatalogPath.problem(in: cluster + [entry(.symlink, "base/evil", target: "/tmp")])?.contains("outside pg_tblspc") == true)
        #expect(CatalogPath.problem(in: cluster + [entry(.symlink, "pg_tblspc/abc", target: "/tmp")]) != nil)
        #expect(CatalogPath.problem(in: cluster + [entry(.symlink, "pg_tblspc/1", target: "relative/dir")]) != nil)
        #expect(CatalogPath.problem(in: cluster + [entry(.symlink, "pg_tblspc/1", target: "/srv/../etc")]) != nil)
    }

    @Test func nothingTwice() {
        #expect(CatalogPath.problem(in: cluster + [entry(.file, "base/1/1259")])?.contains("twice") == true)
        #expect(CatalogPath.problem(in: cluster + [entry(.directory, "pg_tblspc/16384")])?.contains("twice") == true)
    }

    /// The checks an entry at a time (validate reads a list as a stream): a list in the
    /// walk's order needs nothing more; a path twice in it shows as two in a row; one in
    /// another order says so; below a link, only its version directory, link first or last.
    @Test func theStreamedChecksAreTheWholeOnes() {
        func streamed(_ entries: [FileEntry]) -> (problem: String?, needsWholeCheck: Bool) {
            var checker = CatalogPath.ListChecker()
            for entry in entries { if let why = checker.take(entry) { return (why, checker.needsWholeCheck) } }
            return (nil, checker.needsWholeCheck)
        }
        let label = [entry(.file, "backup_label"), entry(.file, "tablespace_map")]
        #expect(cluster == cluster.sorted { FileList.walkPrecedes($0.path, $1.path) })
        #expect(streamed(cluster + label) == (nil, false))
        #expect(streamed(cluster + label + [entry(.file, "backup_label")]).problem?.contains("twice") == true)
        var twice = cluster
        twice.insert(entry(.file, "base/1/1259"), at: 4)
        #expect(streamed(twice).problem?.contains("listed twice: base/1/1259") == true)
        #expect(streamed(cluster.reversed()) == (nil, true))
        #expect(CatalogPath.problem(in: cluster.reversed()) == nil)
        #expect(CatalogPath.problem(in: twice.reversed())?.contains("twice") == true)
        let below = entry(.file, "pg_tblspc/16384/evil")
        #expect(streamed(cluster + [below]).problem?.contains("below a tablespace link") == true)
        #expect(streamed([below] + cluster).problem?.contains("below a tablespace link") == true)
        #expect(CatalogPath.problem(in: [below] + cluster)?.contains("below a tablespace link") == true)
        #expect(streamed([entry(.directory, "pg_tblspc/16385/other")]) == (nil, false), "not a link: an in-place tablespace's directory")
    }

    @Test func aResealedListWithAnEscapingPathIsCorruptWhenRead() throws {
        let text = FileList.encode(cluster + [entry(.file, "../x")])  // sealed: its own checksum is valid
        #expect(throws: CatalogError.self) { try FileList.decode(text, path: "file.list") }
        #expect(try FileList.decode(FileList.encode(cluster), path: "file.list").count == cluster.count)
    }

    @Test func backupIDsNeverNamePaths() throws {
        let dir = try TestDirectory()
        let repo = try Repository.create(dir.path + "/repo", identity: RepositoryCatalogTests().identity, config: RepositoryConfig())
        for id in ["../../other-repo/backup/20260101-000000F", "20260101-000000F/..", "２0260101-000000F", "20260101-00000０F"] {
            #expect(!Repository.isBackupID(id))
            #expect(throws: CatalogError.self) { try repo.loadBackup(id) }
        }
    }
}

@Suite struct FaultInjectionTests {
    @Test func parsesNameCountAndAction() {
        #expect(FaultInjection.parse("backup-file-copied") == .init(name: "backup-file-copied", count: 1, action: .kill))
        #expect(FaultInjection.parse("x@3:error") == .init(name: "x", count: 3, action: .error))
        #expect(FaultInjection.parse("x@2:stop") == .init(name: "x", count: 2, action: .stop))
        #expect(FaultInjection.parse("x@0") == nil)
        #expect(FaultInjection.parse("x:explode") == nil)
        #expect(FaultInjection.parse("") == nil)
    }
}

@Suite struct WALArchiveHousekeepingTests {
    @Test func removesOnlyStaleTemporaries() throws {
        let dir = try TestDirectory()
        let store = WALArchiveStore(storage: PosixStorage(root: dir.path), segmentSize: 16 << 20)
        let now = Timestamp.now().seconds
        try FileSystem.makeDirectory(dir.path + "/wal")
        for name in [".000000010000000000000001.tmp.123.abc", "000000010000000000000001.incoming",
                     ".000000010000000000000002.tmp.456.def", "000000010000000000000003-0a0b0c0d"] {
            try dir.write("wal/" + name, [1])
        }
        for name in [".000000010000000000000001.tmp.123.abc", "000000010000000000000001.incoming", "000000010000000000000003-0a0b0c0d"] {
            try FileSystem.setModificationTime(dir.path + "/wal/" + name, now - 7200)
        }
        let removed = store.removeStaleTemporaries(in: "wal", now: now)
        #expect(removed.sorted() == [".000000010000000000000001.tmp.123.abc", "000000010000000000000001.incoming"])
        // A fresh temp (a push under way) and archived files stay, however old.
        #expect(try FileSystem.list(dir.path + "/wal") == [".000000010000000000000002.tmp.456.def", "000000010000000000000003-0a0b0c0d"])
    }

    @Test func temporaryNamesDifferBetweenWritersOfOneName() {
        let a = PosixStorage.temporaryPath(for: "/r/wal/000000010000000000000001.zst")
        let b = PosixStorage.temporaryPath(for: "/r/wal/000000010000000000000001.zst")
        #expect(a != b && AtomicFile.isTemporaryName(FileSystem.baseName(of: a)))
    }
}
