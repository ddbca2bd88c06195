import Testing
import TestSupport
import PostgresFormat
@testable import Repository

@Suite struct RepositoryCatalogTests {
    let identity = RepositoryIdentity(systemIdentifier: 42, pgMajorVersion: "15", controlVersion: 1300,
                                      catalogVersion: 202_209_061, blockSize: 8192, walSegmentSize: 16 << 20,
                                      created: Timestamp(seconds: 1_700_000_000))

    @Test func createsOpensAndRefusesToCreateTwice() throws {
        let dir = try TestDirectory()
        let path = dir.path + "/repo"
        _ = try Repository.create(path, identity: identity, config: RepositoryConfig(values: ["COMPRESS": "zlib"]))
        let repo = try Repository.open(path)
        #expect(repo.identity == identity)
        #expect(repo.config["COMPRESS"] == "zlib")
        #expect(FileSystem.isDirectory(repo.backupRoot) && FileSystem.isDirectory(repo.walRoot))
        #expect(throws: CatalogError.invalid(path, "a pgbk repository already exists here")) {
            try Repository.create(path, identity: identity, config: RepositoryConfig())
        }
    }

    @Test func refusesANonEmptyDirectoryAndOpensOnlyRepositories() throws {
        let dir = try TestDirectory()
        try dir.write("stray", [1])
        #expect(throws: CatalogError.self) { try Repository.create(dir.path, identity: identity, config: RepositoryConfig()) }
        #expect(try FileSystem.list(dir.path) == ["stray"])  // nothing was written
        #expect(throws: CatalogError.self) { try Repository.open(dir.path) }
        #expect(throws: CatalogError.self) { try Repository.open(dir.path + "/missing") }
    }

    @Test func detectsADamagedIdentityAndATypoInPgbkIni() throws {
        let dir = try TestDirectory()
        let repo = try Repository.create(dir.path + "/r", identity: identity, config: RepositoryConfig())
        try AtomicFile.write(repo.configPath, text: "COMPRES=zlib\n")
        do { _ = try Repository.open(repo.path); Issue.record("typo accepted") } catch {
            #expect("\(error)".contains("unknown setting COMPRES"))
        }
        try AtomicFile.write(repo.configPath, text: "")
        var text = try FileSystem.readText(repo.identityPath)
        text = text.replacingFirst("SYSTEM_IDENTIFIER=42", with: "SYSTEM_IDENTIFIER=43")
        try AtomicFile.write(repo.identityPath, text: text)
        #expect(throws: CatalogError.self) { try Repository.open(repo.path) }
    }

    /// A full backup in the same second as an incremental must still sort after it.
    @Test func backupIDsFollowTimeWhateverTheirMode() throws {
        let dir = try TestDirectory()
        let repo = try Repository.create(dir.path + "/r", identity: identity, config: RepositoryConfig())
        let first = try repo.createBackupDirectory(mode: .incremental)
        let second = try repo.createBackupDirectory(mode: .full)
        let third = try repo.createBackupDirectory(mode: .incremental)
        #expect(first.id < second.id && second.id < third.id)
        #expect(try repo.backupIDs() == [first.id, second.id, third.id])
    }

    @Test func backupIDsAreRecognised() {
        #expect(Repository.isBackupID("20261122-163700F"))
        #expect(Repository.isBackupID("20261122-163700I"))
        #expect(!Repository.isBackupID("20261122-163700X"))
        #expect(!Repository.isBackupID(".20261122-163700F.tmp"))
        #expect(!Repository.isBackupID("2026112-163700F"))
    }

    @Test func aSecondLockFailsNamingTheHolderUntilReleased() throws {
        let dir = try TestDirectory()
        let repo = try Repository.create(dir.path + "/r", identity: identity, config: RepositoryConfig())
        let first = try RepositoryLock(repository: repo, command: "backup")
        do {
            _ = try RepositoryLock(repository: repo, command: "validate")
            Issue.record("second lock acquired")
        } catch let busy as RepositoryLock.Busy {
            #expect(busy.holder.contains("pgbk backup"))
        }
        first.release()
        let again = try RepositoryLock(repository: repo, command: "validate")
        again.release()
    }
}

@Suite struct WALArchiveStoreTests {
    @Test func storedNamesCarryTheChecksum() throws {
        let store = WALArchiveStore(storage: PosixStorage(root: "/r"), segmentSize: 16 << 20)
        let name = store.storedName(walName: "000000010000000000000002", checksum: 0xABCD_0123, compression: .zlib)
        #expect(name == "000000010000000000000002-abcd0123.gz")
        let parsed = try #require(WALArchiveStore.parseStoredName(name))
        #expect(parsed.walName == "000000010000000000000002" && parsed.checksum == 0xABCD_0123 && parsed.compression == .zlib)
        #expect(WALArchiveStore.parseStoredName("00000002.history-0000ffff")?.walName == "00000002.history")
        #expect(WALArchiveStore.parseStoredName("000000010000000000000002.incoming") == nil)
        func path(_ walName: String) -> String { store.storage.describe(store.directory(for: walName)) }
        #expect(path("000000010000000000000002") == "/r/wal/0000000100000000")
        #expect(path("000000010000000000000002.00000028.backup") == "/r/wal/0000000100000000")
        #expect(path("00000002.history") == "/r/wal")
    }
}
