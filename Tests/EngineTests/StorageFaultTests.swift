import StorageInterface
import Testing
import TestSupport
import PostgresFormat
@testable import Repository
@testable import Engine

/// The commands driven through the in-memory storage driver, with one storage operation
/// failing at a time: each failure ends in a clear error, and the catalog stays consistent
/// (nothing half-published, nothing marked usable that is not, the next run succeeds).
@Suite struct StorageFaultTests {
    let segment = "000000010000000000000003"

    /// A repository in memory, with a system identifier of its own (the host-local lock is
    /// keyed by it, and tests run side by side).
    func repository() throws -> (MemoryStorage, Repository) {
        let storage = MemoryStorage()
        let identity = RepositoryIdentity(systemIdentifier: UInt64.random(in: 1...UInt64(Int64.max)), pgMajorVersion: "15",
                                          controlVersion: 1300, catalogVersion: 202_209_061, blockSize: 8192,
                                          walSegmentSize: 16 << 20, created: .now())
        return (storage, try Repository.create(storage: storage, identity: identity, config: RepositoryConfig()))
    }

    /// A segment file of that cluster on local disk: a long header where its name says.
    func segmentFile(_ dir: TestDirectory, _ repo: Repository, name: String, fill: UInt8 = 7) throws -> String {
        var bytes = [UInt8](repeating: fill, count: 16 << 20)
        func put(_ v: UInt64, _ at: Int, _ n: Int) { for i in 0..<n { bytes[at + i] = UInt8(truncatingIfNeeded: v >> (8 * i)) } }
        let segno = WALSegmentName(name, segmentSize: 16 << 20)!.segmentNumber
        put(0xD110, 0, 2); put(0x0002, 2, 2); put(1, 4, 4); put(segno << 24, 8, 8); put(0, 16, 8)
        put(repo.identity.systemIdentifier, 24, 8); put(16 << 20, 32, 4); put(8192, 36, 4)
        try dir.write(name, bytes)
        return dir.path + "/" + name
    }

    @Test func archivePushPublishesWholeOrNothing() throws {
        let dir = try TestDirectory()
        let (storage, repo) = try repository()
        let archive = WALArchive(repository: repo)
        let source = try segmentFile(dir, repo, name: segment)

        storage.fail(.publish)
        #expect(throws: StorageError.self) { try archive.push(source, compression: .zstd, level: 1) }
        #expect(try repo.wal.find(segment) == nil, "a failed publication leaves no copy")
        // The look for an existing copy, under the publication lock (a store that cannot
        // rename has no temporaries to sweep first), fails: nothing is published.
        storage.fail(.list, matching: "wal/0000000100000000")
        #expect(throws: StorageError.self) { try archive.push(source, compression: .zstd, level: 1) }
        #expect(try repo.wal.find(segment) == nil)
        #expect(try archive.push(source, compression: .zstd, level: 1) != .alreadyArchived)
        #expect(try archive.push(source, compression: .lz4, level: 1) == .alreadyArchived)

        // A read cut short while comparing is an error, never a second copy or a false success.
        storage.cutNextRead(after: 10)
        #expect(throws: (any Error).self) { try archive.push(source, compression: .zstd, level: 1) }
        #expect(try archive.push(source, compression: .zstd, level: 1) == .alreadyArchived)
        #expect(storage.names.filter { $0.contains(segment) }.count == 1)
        #expect(try archive.get(segment, to: dir.path + "/back") == .restored)
        #expect(try FileSystem.readAll(dir.path + "/back") == FileSystem.readAll(source))
    }

    /// One DONE backup whose file and WAL are in the (memory) repository.
    /// A segment cut short (a copy still being written, a full disk) is refused whole, by
    /// both the two-pass (object store) and the one-pass (POSIX) push; nothing is stored.
    @Test func aSegmentCutShortIsRefused() throws {
        let dir = try TestDirectory()
        let (memory, memoryRepo) = try repository()
        let posixDir = try TestDirectory()
        let posixRepo = try Repository.create(storage: PosixStorage(root: posixDir.path), identity: memoryRepo.identity,
                                              config: RepositoryConfig())
        let source = try segmentFile(dir, memoryRepo, name: segment)
        let bytes = try FileSystem.readAll(source)
        try dir.write(segment, Array(bytes[0..<(1 << 20)]))
        for repo in [memoryRepo, posixRepo] {
            #expect {
                try WALArchive(repository: repo).push(source, compression: .zstd, level: 1)
            } throws: { "\($0)".contains("1048576 bytes, but a WAL segment of this cluster is 16777216 bytes") }
            #expect(try repo.wal.find(segment) == nil)
        }
        #expect(!memory.names.contains { $0.contains(segment) })
        #expect(try FileSystem.list(posixDir.path + "/wal/0000000100000000").isEmpty, "no temp file is left")
    }

    /// Object storage's publication lock is this host's only: a pusher on another host can
    /// publish the same name at the same moment. The one that sees the other's copy after
    /// publishing removes its own and fails; it never reports success beside another copy.
    @Test func aCopyPublishedByAnotherHostMeanwhileMakesThePushFailAndRemoveItsOwn() throws {
        let dir = try TestDirectory()
        let (inner, _) = try repository()
        let racing = RacingStorage(inner: inner)
        let repo = try Repository.open(storage: racing)
        let source = try segmentFile(dir, repo, name: segment)
        let theirs = "wal/0000000100000000/\(segment)-0badc0de"
        racing.beforeCommit = { try inner.writeAll(theirs, [1, 2, 3]) }
        #expect(throws: EngineError.self) { try WALArchive(repository: repo).push(source, compression: .none, level: 0) }
        #expect(inner.names.filter { $0.contains(segment) } == [theirs], "only the other host's copy is left")
    }

    func backup(_ dir: TestDirectory, _ repo: Repository, id: String = "20260101-000000F") throws -> BackupInfo {
        _ = try WALArchive(repository: repo).push(try segmentFile(dir, repo, name: segment), compression: .none, level: 0)
        var info = BackupInfo(id: id, mode: .full, status: .done, startTime: .now())
        info.timeline = 1
        info.startLSN = LSN(3 << 24 + 0x28)
        info.stopLSN = LSN(3 << 24 + 0x1000)
        info.startWALFile = segment
        info.stopWALFile = segment
        info.endTime = .now()
        try repo.storage.makeDirectories(repo.dataName(id))
        let content = pseudoRandomBytes(20_000)
        let writer = try StoredFileWriter(storage: repo.storage, name: repo.dataName(id) + "/base/1/1", compression: .none, level: 0)
        try writer.write(content)
        let summary = try writer.commit()
        let entries = [FileEntry(kind: .directory, path: ".", mode: 0o700), FileEntry(kind: .directory, path: "base", mode: 0o700),
                       FileEntry(kind: .directory, path: "base/1", mode: 0o700),
                       FileEntry(kind: .file, path: "base/1/1", mode: 0o600, size: summary.size, checksum: summary.checksum,
                                 storedSize: summary.storedSize)]
        info.fileListChecksum = try repo.saveFileList(id, entries)
        try repo.saveBackup(info)
        return info
    }

    @Test func validateNeverMarksOKWhatItCouldNotReadBack() throws {
        let dir = try TestDirectory()
        let (storage, repo) = try repository()
        let info = try backup(dir, repo)
        let validate = ValidateOperation(repository: repo, jobs: 2)

        // The verdict cannot be recorded: the command fails, the backup stays DONE.
        storage.fail(.publish)
        #expect(throws: StorageError.self) { try validate.run(backupID: info.id) }
        #expect(try repo.loadBackup(info.id).status == .done)

        // A stored file cannot be read (an I/O error, a timeout): that says nothing about it,
        // so validate fails and the backup keeps its status (issue 22, defect 11: it was
        // CORRUPT before); its WAL likewise. Read back later, OK.
        storage.fail(.read, matching: "base/1/1")
        #expect(throws: StorageError.self) { try validate.run(backupID: info.id) }
        #expect(try repo.loadBackup(info.id).status == .done)
        storage.fail(.read, matching: segment)
        #expect(throws: StorageError.self) { try validate.run(backupID: info.id) }
        #expect(try repo.loadBackup(info.id).status == .done)
        #expect(try validate.run(backupID: info.id).outcomes.first?.status == .ok)

        // A stored file that is missing is damage: CORRUPT, naming it.
        let name = repo.dataName(info.id) + "/base/1/1"
        let kept = try storage.readAll(name)
        try storage.remove(name)
        let failed = try validate.run(backupID: nil, scope: .recheck)
        #expect(failed.outcomes.first?.status == .corrupt)
        #expect(failed.outcomes.first?.problems.first.map { $0.contains("base/1/1") && $0.hasSuffix("missing") } == true, "\(failed.outcomes)")
        try storage.writeAll(name, kept)
        #expect(try validate.run(backupID: nil, scope: .recheck).failed == 0)

        // The archive read back in full: an archived segment that cannot be read fails the
        // check; one that is damaged is named.
        storage.fail(.read, matching: segment)
        #expect(throws: StorageError.self) { try validate.checkArchive() }
        #expect(try validate.checkArchive().problems.isEmpty)
    }

    @Test func expireAndPurgeInterruptedByTheStorageFinishOnTheNextRun() throws {
        let dir = try TestDirectory()
        let (storage, repo) = try repository()
        var old = try backup(dir, repo, id: "20260101-000000F")
        var new = try backup(dir, repo, id: "20260102-000000F")
        for var b in [old, new] { b.status = .ok; try repo.saveBackup(b) }
        old = try repo.loadBackup(old.id)
        new = try repo.loadBackup(new.id)
        let expire = ExpireOperation(repository: repo, dryRun: false)

        storage.fail(.remove)
        #expect(throws: StorageError.self) { try expire.run(.policy(.init(generations: 1)), wal: WALRetention()) }
        #expect(try repo.loadBackup(old.id).status == .deleting, "committed as DELETING before anything was removed")
        #expect(try repo.loadBackup(new.id).status == .ok)
        _ = try expire.run(.policy(.init(generations: 1)), wal: WALRetention())
        #expect(try repo.loadBackup(old.id).status == .deleted)

        storage.fail(.remove, after: 2)
        #expect(throws: StorageError.self) { try expire.purge() }
        #expect(try expire.purge().map(\.id) == [old.id])
        #expect(try repo.backupIDs() == [new.id])
        #expect(try repo.loadBackup(new.id).status == .ok)
    }

    /// Issue 22, defect 16: a full backup whose backup.ini is gone, with its file.list and
    /// data intact and an incremental naming it as parent, is never purged (it was, whole);
    /// what a killed purge leaves (no backup.ini, no file.list) is, with the reason said.
    @Test func purgeKeepsADirectoryThatHoldsAFileListOrIsAParent() throws {
        let dir = try TestDirectory()
        let (storage, repo) = try repository()
        let full = try backup(dir, repo, id: "20260101-000000F")
        var child = try backup(dir, repo, id: "20260102-000000I")
        child.mode = .incremental
        child.parentID = full.id
        try repo.saveBackup(child)
        let lonely = try backup(dir, repo, id: "20260103-000000F")
        for id in [full.id, lonely.id] { try storage.remove(repo.backupInfoName(id)) }
        let leftover = "20260104-000000F"
        try storage.writeAll(repo.dataName(leftover) + "/base/1/1", [1, 2, 3])

        let planned = try ExpireOperation(repository: repo, dryRun: true).purge()
        #expect(planned == [ExpireOperation.Purged(id: leftover, reason: "no backup.ini and no file.list (left by an interrupted purge)")],
                "\(planned)")
        #expect(try ExpireOperation(repository: repo, dryRun: false).purge().map(\.id) == [leftover])
        for id in [full.id, lonely.id] {
            #expect(try storage.exists(repo.fileListName(id)) && storage.exists(repo.dataName(id) + "/base/1/1"), "\(id) kept")
        }
        #expect(try !storage.exists(repo.dataName(leftover) + "/base/1/1"))
    }

    /// Issue 22, defect 17: bit rot in an archived segment keeps its stored name; pushing the
    /// intact copy again repairs it (it failed "already exists" before).
    @Test func pushingTheIntactCopyRepairsBitRot() throws {
        let dir = try TestDirectory()
        let (storage, repo) = try repository()
        let source = try segmentFile(dir, repo, name: segment)
        let archive = WALArchive(repository: repo)
        _ = try archive.push(source, compression: .none, level: 0)
        let stored = try #require(try repo.wal.find(segment))
        var bytes = try storage.readAll(stored.name, limit: 64 << 20)
        bytes[5000] ^= 0x40
        try storage.writeAll(stored.name, bytes)
        #expect(try !repo.wal.isIntact(stored))

        let result = try archive.push(source, compression: .none, level: 0)
        #expect(result != .alreadyArchived, "\(result)")
        let repaired = try #require(try repo.wal.find(segment))
        #expect(try repo.wal.isIntact(repaired) && repaired.name == stored.name)
        #expect(try storage.readAll(repaired.name, limit: 64 << 20) == FileSystem.readAll(source, limit: 64 << 20))
    }

    @Test func restorePlanningNamesTheSegmentItCouldNotReadBack() throws {
        let dir = try TestDirectory()
        let (storage, repo) = try repository()
        var info = try backup(dir, repo)
        info.status = .ok
        try repo.saveBackup(info)
        var target = RecoveryTarget()
        target.point = .immediate
        let planner = RecoveryPlanner(repository: repo, target: target, jobs: 2)
        #expect(try planner.plan(backupID: nil).backup.id == info.id)

        for fault in [{ storage.fail(.read, matching: segment) }, { storage.cutNextRead(after: 1 << 20, matching: segment) }] {
            fault()
            do {
                _ = try planner.plan(backupID: nil)
                Issue.record("a plan was made from WAL that could not be read back")
            } catch {
                #expect("\(error)".contains(segment), "\(error)")
            }
        }
        #expect(try planner.plan(backupID: nil).backup.id == info.id)
    }

    @Test func eachCommandReadsEachBackupIniOnce() throws {
        let dir = try TestDirectory()
        let (storage, repo) = try repository()
        let info = try backup(dir, repo)
        func reads(_ body: () throws -> Void) rethrows -> Int {
            let before = storage.reads.count
            try body()
            return storage.reads.dropFirst(before).filter { $0 == repo.backupInfoName(info.id) }.count
        }
        #expect(try reads { _ = try ValidateOperation(repository: repo, jobs: 1).run(backupID: info.id) } == 1)
        #expect(try reads { _ = try ValidateOperation(repository: repo, jobs: 1).run(backupID: nil, scope: .recheck) } == 1)
        #expect(try reads { _ = try ExpireOperation(repository: repo, dryRun: false).run(.policy(.init(generations: 1)), wal: WALRetention()) } == 1)
        #expect(try reads { _ = try ExpireOperation(repository: repo, dryRun: false).purge() } == 1)
    }
}

/// MemoryStorage with a hook that runs just before a write becomes visible: another host's
/// pusher, acting in the window the host-local lock cannot close.
final class RacingStorage: RepositoryStorage, @unchecked Sendable {
    let inner: MemoryStorage
    /// Set once by the test before use, read by the one thread that pushes.
    var beforeCommit: (() throws -> Void)?

    init(inner: MemoryStorage) { self.inner = inner }

    var location: String { inner.location }
    var features: StorageFeatures { inner.features }
    func describe(_ name: String) -> String { inner.describe(name) }
    func openRead(_ name: String, range: Range<UInt64>?) throws -> any StorageReadStream { try inner.openRead(name, range: range) }
    func openWrite(_ name: String, expectedSize: UInt64?, noReplace: Bool) throws -> any StorageWriteStream {
        let stream = try inner.openWrite(name, expectedSize: expectedSize, noReplace: noReplace)
        guard name.hasPrefix("wal/"), let hook = beforeCommit else { return stream }
        beforeCommit = nil
        return HookedWrite(stream, hook)
    }
    func list(_ prefix: String) throws -> [StorageEntry] { try inner.list(prefix) }
    func info(_ name: String) throws -> StorageEntry? { try inner.info(name) }
    func remove(_ name: String) throws { try inner.remove(name) }
    func removeTree(_ prefix: String) throws { try inner.removeTree(prefix) }
    func removeEmptyDirectory(_ name: String) throws { try inner.removeEmptyDirectory(name) }
    func makeDirectories(_ name: String) throws { try inner.makeDirectories(name) }
    func syncDirectory(_ name: String) throws { try inner.syncDirectory(name) }
    func deferringDurability() -> any RepositoryStorage { self }
    func syncAll(_ name: String) throws { try inner.syncAll(name) }
    func discardAbandonedWrites() throws -> Int { try inner.discardAbandonedWrites() }
    var repositoryLockPath: String? { inner.repositoryLockPath }
    func checkWriter() throws { try inner.checkWriter() }
    func lock(_ name: String) throws -> any StorageLock { try inner.lock(name) }

    final class HookedWrite: StorageWriteStream {
        let stream: any StorageWriteStream
        let hook: () throws -> Void
        init(_ stream: any StorageWriteStream, _ hook: @escaping () throws -> Void) { self.stream = stream; self.hook = hook }
        func write(_ bytes: UnsafeRawBufferPointer) throws { try stream.write(bytes) }
        func commit() throws { try hook(); try stream.commit() }
        func commit(as name: String) throws { try hook(); try stream.commit(as: name) }
        func abandon() { stream.abandon() }
    }
}
