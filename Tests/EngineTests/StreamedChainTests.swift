import Testing
import PostgresFormat
import Repository
import TestSupport
@testable import Engine

/// A restore merges the chain's file lists as streams when all are in the walk's order
/// (issue 28, item 4: a million files in bounded memory), and holds them whole otherwise:
/// both give every entry the same stored versions, and the survey refuses a damaged list
/// before anything is written.
@Suite struct StreamedChainTests {
    let full = backupInfo("20261122-100000F", .full)
    let inc1 = backupInfo("20261122-110000I", .incremental, parent: "20261122-100000F")
    let inc2 = backupInfo("20261122-120000I", .incremental, parent: "20261122-110000I")

    func entry(_ path: String, _ kind: FileEntry.Kind, crc: UInt32 = 7) -> FileEntry {
        FileEntry(kind: kind, path: path, mode: 0o600, size: kind == .directory ? 0 : 8192, checksum: kind == .directory ? nil : crc)
    }

    /// The chain written to a repository (newest first), each list in the order given.
    func chain(_ dir: TestDirectory, _ lists: [[FileEntry]]) throws -> (Repository, [BackupInfo]) {
        let repo = try makeRepository(dir)
        var members: [BackupInfo] = []
        for (info, list) in zip([inc2, inc1, full], lists) {
            try repo.storage.makeDirectories(repo.dataName(info.id))
            var member = info
            member.fileListChecksum = try repo.saveFileList(info.id, list)
            members.append(member)
        }
        return (repo, members)
    }

    /// Every entry's path and the chain members its content comes from.
    func restored(_ repo: Repository, _ members: [BackupInfo]) throws -> (held: Bool, entries: [String]) {
        let survey = try ChainSurvey(members: members, repository: repo)
        var entries = try survey.entries(repository: repo)
        var out: [String] = []
        while let planned = try entries.next() {
            out.append(planned.entry.path + ":" + planned.versions.map { "\($0.member)\($0.entry.kind.rawValue)" }.joined())
        }
        try entries.finish()
        return (survey.held != nil, out)
    }

    func walkOrdered(_ entries: [FileEntry]) -> [FileEntry] {
        let server = entries.filter { FileListCursor.serverFiles.contains($0.path) }
        return entries.filter { !FileListCursor.serverFiles.contains($0.path) }.sorted { FileList.walkPrecedes($0.path, $1.path) } + server
    }

    var lists: [[FileEntry]] {
        [[entry(".", .directory), entry("base", .directory), entry("base/1", .directory), entry("base/1/a", .file),
          entry("base/1/b", .unchanged), entry("base/1/c", .pageDelta), entry("base/1/d", .unchanged), entry("base/1/e", .pageDelta),
          entry("base/10", .directory), entry("base/10/x", .unchanged), entry("global", .directory), entry("global/pg_control", .file),
          entry("backup_label", .file), entry("tablespace_map", .unchanged)],
         [entry(".", .directory), entry("base", .directory), entry("base/1", .directory), entry("base/1/b", .unchanged),
          entry("base/1/c", .unchanged), entry("base/1/d", .pageDelta), entry("base/1/e", .file), entry("base/10", .directory),
          entry("base/10/x", .file), entry("backup_label", .file), entry("tablespace_map", .unchanged)],
         [entry(".", .directory), entry("base", .directory), entry("base/1", .directory), entry("base/1/a", .file, crc: 1),
          entry("base/1/b", .file), entry("base/1/c", .file), entry("base/1/d", .file), entry("base/1/zz", .file),
          entry("backup_label", .file), entry("tablespace_map", .file)]]
    }

    static let expected = [".:", "base:", "base/1:", "base/1/a:0f", "base/1/b:2f", "base/1/c:0p2f", "base/1/d:1p2f", "base/1/e:0p1f",
                           "base/10:", "base/10/x:1f", "global:", "global/pg_control:0f", "backup_label:0f", "tablespace_map:2f"]

    @Test func listsInWalkOrderAreMergedAsStreams() throws {
        let dir = try TestDirectory()
        let (repo, members) = try chain(dir, lists.map(walkOrdered))
        let result = try restored(repo, members)
        #expect(!result.held)
        #expect(result.entries == Self.expected)
    }

    @Test func aListInAnotherOrderIsHeldWholeWithTheSameResult() throws {
        let dir = try TestDirectory()
        var lists = lists.map(walkOrdered)
        lists[2].reverse()  // the server's order (a backup over the replication protocol)
        let (repo, members) = try chain(dir, lists)
        let result = try restored(repo, members)
        #expect(result.held)
        #expect(result.entries == Self.expected)
    }

    @Test func damageInAnOlderListIsFoundBeforeAnythingIsRestored() throws {
        let dir = try TestDirectory()
        var lists = lists.map(walkOrdered)
        lists[1].insert(entry("base/1/e", .file), at: 7)  // listed twice, in a row
        let (repo, members) = try chain(dir, lists)
        #expect(throws: CatalogError.self) { try ChainSurvey(members: members, repository: repo) }
        // A list whose content changed after the survey fails by the end of the merge.
        let dir2 = try TestDirectory()
        let (repo2, members2) = try chain(dir2, self.lists.map(walkOrdered))
        let survey = try ChainSurvey(members: members2, repository: repo2)
        let path = repo2.fileListPath(full.id)
        try AtomicFile.write(path, text: try FileSystem.readText(path).replacing("zz", with: "zy", maxReplacements: 1))
        var entries = try survey.entries(repository: repo2)
        #expect(throws: CatalogError.self) {
            while try entries.next() != nil {}
            try entries.finish()
        }
    }

    @Test func aCursorRefusesPathsOutOfItsOrder() throws {
        let dir = try TestDirectory()
        let (repo, members) = try chain(dir, lists.map(walkOrdered))
        let cursor = FileListCursor(try FileListReader(repository: repo, info: members[2]))
        #expect(try cursor.entry(for: "base/1/b")?.kind == .file)
        #expect(throws: CatalogError.self) { try cursor.entry(for: "base/1/a") }
        #expect(try cursor.serverFile("tablespace_map")?.kind == .file)
        #expect(throws: CatalogError.self) { try cursor.entry(for: "global") }
    }
}
