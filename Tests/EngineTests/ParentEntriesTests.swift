import Testing
import TestSupport
import PostgresFormat
import Repository
@testable import Engine

/// An incremental finds its parent's entries by merging the parent's list with its walk
/// (issue 28, item 4); a list in another order (a backup over the replication protocol
/// lists in the server's order) is looked up whole instead; a damaged one fails by the end.
@Suite struct ParentEntriesTests {
    let identity = RepositoryIdentity(systemIdentifier: 42, pgMajorVersion: "15", controlVersion: 1300,
                                      catalogVersion: 202_209_061, blockSize: 8192, walSegmentSize: 16 << 20,
                                      created: Timestamp(seconds: 1_700_000_000))

    /// The walk's order, and the two entries the server gives at the end.
    static let paths = [".", "PG_VERSION", "base", "base/1", "base/1/112", "base/1/1247", "base/1/1247_fsm", "base/1/2",
                        "global", "global/pg_control", "pg_tblspc", "pg_wal", "pg_wal/archive_status"]

    func parent(_ dir: TestDirectory, paths: [String]) throws -> (Repository, BackupInfo) {
        let repo = try Repository.create(dir.path + "/r", identity: identity, config: RepositoryConfig())
        let (id, _) = try repo.createBackupDirectory(mode: .full)
        var info = BackupInfo(id: id, mode: .full, status: .done, startTime: .now())
        let entries = paths.enumerated().map { n, path in
            FileEntry(kind: path == "." ? .directory : .file, path: path, mode: 0o600, size: UInt64(n), checksum: UInt32(n), storedSize: UInt64(n))
        }
        info.fileListChecksum = try repo.saveFileList(info.id, entries)
        return (repo, info)
    }

    /// What the walk asks for: the parent's paths and others it lacks, in the walk's order.
    static let asked = (paths + ["base/1/113", "base/1/1247_vm", "global/1260", "a", "pg_tblspc/1"]).sorted(by: FileList.walkPrecedes)

    func lookUpEverything(_ parent: ParentEntries) throws -> [String: UInt32] {
        var found: [String: UInt32] = [:]
        for path in Self.asked { if let entry = try parent.entry(for: path) { found[path] = entry.checksum } }
        try parent.finish()
        return found
    }

    var expected: [String: UInt32] {
        Dictionary(uniqueKeysWithValues: Self.paths.enumerated().map { ($1, UInt32($0)) })
    }

    @Test func aListInWalkOrderIsMergedWithTheWalk() throws {
        let dir = try TestDirectory()
        let (repo, info) = try parent(dir, paths: Self.paths + ["backup_label", "tablespace_map"])
        var withLabel = expected
        withLabel["backup_label"] = nil
        #expect(try lookUpEverything(ParentEntries(repository: repo, info: info)) == withLabel)
    }

    @Test func aListInAnotherOrderIsLookedUpWhole() throws {
        let dir = try TestDirectory()
        let serverOrder = Self.paths.reversed().map { $0 }
        let (repo, info) = try parent(dir, paths: serverOrder)
        let found = try lookUpEverything(ParentEntries(repository: repo, info: info))
        #expect(found == Dictionary(uniqueKeysWithValues: serverOrder.enumerated().map { ($1, UInt32($0)) }))
    }

    @Test func aDamagedListFailsByTheEnd() throws {
        let dir = try TestDirectory()
        let (repo, info) = try parent(dir, paths: Self.paths)
        let path = repo.fileListPath(info.id)
        try AtomicFile.write(path, text: try FileSystem.readText(path).replacing("base/1/1247_fsm", with: "base/1/1247_vm", maxReplacements: 1))
        #expect(throws: CatalogError.self) { try lookUpEverything(ParentEntries(repository: repo, info: info)) }
    }
}
