import StorageInterface
import Testing
import TestSupport
@testable import Repository

/// What every storage driver promises, run against both real ones.
@Suite struct StorageContractTests {
    /// `shortReading` is the memory driver returning 1..7 bytes per driver read; the
    /// `encrypted` ones are an encrypted repository over the driver named.
    enum Driver: String, CaseIterable, Sendable { case posix, memory, shortReading, encryptedPosix, encryptedShortReading }

    func make(_ driver: Driver, _ dir: TestDirectory) throws -> any RepositoryStorage {
        switch driver {
        case .posix: return PosixStorage(root: dir.path)
        case .memory: return MemoryStorage()
        case .shortReading: return MemoryStorage(readsReturnAtMost: 7)
        case .encryptedPosix, .encryptedShortReading:
            let inner: any RepositoryStorage = driver == .encryptedPosix ? PosixStorage(root: dir.path) : MemoryStorage(readsReturnAtMost: 7)
            return try Self.encrypted(inner)
        }
    }

    /// The same storage as an encrypted repository (opened, or created with a cheap KDF cost).
    static func encrypted(_ inner: any RepositoryStorage) throws -> EncryptedStorage {
        let passphrase = Array("contract".utf8)
        let keyring = try Keyring.open(inner) { passphrase }
            ?? Keyring.create(in: inner, passphrase: passphrase, cost: (n: 1024, r: 8, p: 1))
        return EncryptedStorage(inner, keyring: keyring)
    }

    func write(_ storage: any RepositoryStorage, _ name: String, _ text: String, noReplace: Bool = false) throws {
        try storage.makeDirectories(PosixStorage.parent(of: name))
        try storage.writeAll(name, Array(text.utf8), noReplace: noReplace)
    }

    @Test(arguments: Driver.allCases)
    func contentAppearsWholeOnlyOnCommit(_ driver: Driver) throws {
        let dir = try TestDirectory()
        try StorageContract.contentAppearsWholeOnlyOnCommit(try make(driver, dir))
    }

    /// A backup's data files go through the storage with durability deferred to one syncAll:
    /// the same contract holds for what is written that way.
    @Test(arguments: Driver.allCases)
    func writesWithDeferredDurabilityKeepTheContract(_ driver: Driver) throws {
        let dir = try TestDirectory()
        let storage = try make(driver, dir).deferringDurability()
        try StorageContract.contentAppearsWholeOnlyOnCommit(storage)
        try StorageContract.noReplaceNeverOverwrites(storage)
        try storage.syncAll("")
        let onDisk = driver == .posix || driver == .encryptedPosix
        #expect(try make(driver, dir).list("backup").isEmpty != onDisk, "the files are there for another handle of the same directory")
    }

    @Test(arguments: Driver.allCases)
    func aMissingNameIsNotFound(_ driver: Driver) throws {
        let dir = try TestDirectory()
        try StorageContract.aMissingNameIsNotFound(try make(driver, dir))
    }

    @Test(arguments: Driver.allCases)
    func readsFillTheBuffer(_ driver: Driver) throws {
        let dir = try TestDirectory()
        try StorageContract.readsFillTheBuffer(try make(driver, dir))
    }

    @Test(arguments: Driver.allCases)
    func storedFilesPassThroughTheirFilters(_ driver: Driver) throws {
        let dir = try TestDirectory()
        try StorageContract.storedFilesPassThroughTheirFilters(try make(driver, dir))
    }

    @Test(arguments: Driver.allCases)
    func noReplaceNeverOverwrites(_ driver: Driver) throws {
        let dir = try TestDirectory()
        try StorageContract.noReplaceNeverOverwrites(try make(driver, dir))
    }

    @Test(arguments: Driver.allCases)
    func listsDirectChildrenAndRemovesTrees(_ driver: Driver) throws {
        let dir = try TestDirectory()
        try StorageContract.listsDirectChildrenAndRemovesTrees(try make(driver, dir))
    }

    @Test func theMemoryDriverFailsTheOperationItIsToldTo() throws {
        let storage = MemoryStorage()
        try storage.writeAll("a", [1, 2, 3])
        storage.fail(.publish)
        #expect(throws: StorageError.self) { try storage.writeAll("b", [4]) }
        #expect(try storage.info("b") == nil, "a failed publication publishes nothing")
        try storage.writeAll("b", [4])
        storage.fail(.list, after: 2)
        _ = try storage.list("")
        #expect(throws: StorageError.self) { try storage.list("") }
        storage.fail(.remove)
        #expect(throws: StorageError.self) { try storage.remove("a") }
        #expect(try storage.info("a") != nil)
        storage.cutNextRead(after: 2)
        #expect(try storage.readAll("a") == [1, 2], "a cut read ends early, as a dropped connection does")
        #expect(try storage.readAll("a") == [1, 2, 3])
    }
}
