import Testing
import TestSupport
import PostgresFormat
@testable import Repository

/// A file list written and read an entry at a time (issue 28, item 4): the bytes FileList
/// encodes whole, nothing stored when abandoned, damage found by the end of a read; and the
/// order backups walk in, the order a merge of two lists relies on.
@Suite struct FileListStreamingTests {
    let identity = RepositoryIdentity(systemIdentifier: 42, pgMajorVersion: "15", controlVersion: 1300,
                                      catalogVersion: 202_209_061, blockSize: 8192, walSegmentSize: 16 << 20,
                                      created: Timestamp(seconds: 1_700_000_000))

    /// Enough entries to fill the writer's buffer several times, a split file and a link.
    static let entries: [FileEntry] = {
        var list = [FileEntry(kind: .directory, path: ".", mode: 0o700), FileEntry(kind: .directory, path: "base", mode: 0o700),
                    FileEntry(kind: .directory, path: "base/1", mode: 0o700)]
        for n in 0..<20_000 {
            list.append(FileEntry(kind: n % 3 == 0 ? .unchanged : .file, path: "base/1/\(10_000 + n)", mode: 0o600,
                                  size: UInt64(n) * 8192, mtime: 1_700_000_000 + Int64(n), checksum: UInt32(n), storedSize: UInt64(n)))
        }
        var split = FileEntry(kind: .file, path: "base/1/99999", mode: 0o600, size: 3 << 20, checksum: 7, storedSize: 3 << 20)
        split.partSize = 1 << 20
        split.partChecksums = [1, 2, 3]
        list.append(split)
        list.append(FileEntry(kind: .symlink, path: "pg_tblspc/16400", mode: 0o777, linkTarget: "/srv/ts\tone"))
        return list
    }()

    func repository(_ dir: TestDirectory) throws -> (Repository, BackupInfo) {
        let repo = try Repository.create(dir.path + "/r", identity: identity, config: RepositoryConfig())
        let (id, _) = try repo.createBackupDirectory(mode: .full)
        return (repo, BackupInfo(id: id, mode: .full, status: .done, startTime: .now()))
    }

    func readAll(_ repo: Repository, _ info: BackupInfo) throws -> [FileEntry] {
        let reader = try FileListReader(repository: repo, info: info)
        var read: [FileEntry] = []
        while let entry = try reader.next() { read.append(entry) }
        #expect(try reader.next() == nil)
        return read
    }

    @Test func theWriterWritesWhatEncodeWritesAndTheReaderGivesItBack() throws {
        let dir = try TestDirectory()
        var (repo, info) = try repository(dir)
        let writer = try repo.fileListWriter(info.id)
        for entry in Self.entries { try writer.append(entry) }
        info.fileListChecksum = try writer.commit()
        let text = try FileSystem.readText(repo.fileListPath(info.id), limit: 16 << 20)
        #expect(text == FileList.encode(Self.entries))
        #expect(info.fileListChecksum == CRC32C.checksum(text))
        #expect(writer.count == Self.entries.count)
        #expect(try readAll(repo, info) == Self.entries)
        #expect(try repo.loadFileList(info) == Self.entries)
    }

    @Test func anAbandonedListIsNotStored() throws {
        let dir = try TestDirectory()
        let (repo, info) = try repository(dir)
        let writer = try repo.fileListWriter(info.id)
        for entry in Self.entries.prefix(100) { try writer.append(entry) }
        writer.abandon()
        #expect(!FileSystem.exists(repo.fileListPath(info.id)))
        #expect(try FileSystem.list(repo.backupDirectory(info.id)).filter { $0.hasPrefix("file.list") }.isEmpty)
    }

    /// Every entry before the damage is handed out (nothing acts on them before the end);
    /// the end is an error naming the list, whatever the damage.
    @Test func damageIsAnErrorByTheEndOfTheRead() throws {
        let dir = try TestDirectory()
        var (repo, info) = try repository(dir)
        info.fileListChecksum = try repo.saveFileList(info.id, Self.entries)
        let path = repo.fileListPath(info.id)
        let good = try FileSystem.readText(path, limit: 16 << 20)
        let damaged = [good.replacingFirst("base/1/10500", with: "base/1/10600"),  // the seal no longer matches
                       String(good.dropLast(30)),  // truncated
                       good.replacingFirst("\tbase/1/10500", with: "\t../10500")]  // a path out of the backup
        for text in damaged {
            try AtomicFile.write(path, text: text)
            var unrecorded = info
            unrecorded.fileListChecksum = nil  // the seal and the lines alone
            #expect(throws: CatalogError.self) { try readAll(repo, unrecorded) }
        }
        try AtomicFile.write(path, text: good)
        var wrong = info
        wrong.fileListChecksum = info.fileListChecksum! ^ 1
        #expect { try readAll(repo, wrong) } throws: { "\($0)".contains("backup.ini") }
        #expect(try readAll(repo, info).count == Self.entries.count)
    }

    @Test func walkOrderIsComponentByComponentInBytes() {
        let ordered = [".", "+x", "PG_VERSION", "a", "a/b", "a/b/c", "a-b", "a.txt", "base", "base/1", "base/1/10", "base/1/2",
                       "base/1/2/x", "base/1/2_fsm", "base/10", "e", "pg_wal", "pg_wal/archive_status", "pg_wal/summaries", "é"]
        for (i, a) in ordered.enumerated() {
            for (j, b) in ordered.enumerated() {
                #expect(FileList.walkPrecedes(a, b) == (i < j), "\(a) against \(b)")
            }
        }
    }

    /// A walk of a tree in FileSystem.list's order is in walk order.
    @Test func directoryListingsSortInWalkOrder() throws {
        let dir = try TestDirectory()
        for name in ["a", "a/b", "a-b", "a.d", "é", "e", "Z", "a/b/c.d"] { try FileSystem.makeDirectory(dir.path + "/" + name) }
        for name in ["a.txt", "a/b.x", "a/b/c", "a-b/1", "e~"] { try AtomicFile.write(dir.path + "/" + name, text: "") }
        var walked: [String] = []
        func walk(_ relative: String) throws {
            for name in try FileSystem.list(relative.isEmpty ? dir.path : dir.path + "/" + relative) {
                let path = relative.isEmpty ? name : relative + "/" + name
                walked.append(path)
                if FileSystem.isDirectory(dir.path + "/" + path) { try walk(path) }
            }
        }
        try walk("")
        #expect(walked.count == 13)
        #expect(walked == walked.sorted(by: FileList.walkPrecedes))
        #expect(walked.firstIndex(of: "a/b/c.d")! < walked.firstIndex(of: "a-b")!)
    }
}
