import StorageInterface
import Testing
import TestSupport
@testable import Repository

/// What every storage driver promises, run against both real ones.
@Suite struct StorageContractTests {
    /// `shortReading` is the memory driver returning 1..7 bytes per driver read.
    enum Driver: String, CaseIterable, Sendable { case posix, memory, shortReading }

    func make(_ driver: Driver, _ dir: TestDirectory) -> any RepositoryStorage {
        switch driver {
        case .posix: PosixStorage(root: dir.path)
        case .memory: MemoryStorage()
        case .shortReading: MemoryStorage(readsReturnAtMost: 7)
        }
    }

    func write(_ storage: any RepositoryStorage, _ name: String, _ text: String, noReplace: Bool = false) throws {
        try storage.makeDirectories(PosixStorage.parent(of: name))
        try storage.writeAll(name, Array(text.utf8), noReplace: noReplace)
    }

    @Test(arguments: Driver.allCases)
    func contentAppearsWholeOnlyOnCommit(_ driver: Driver) throws {
        let dir = try TestDirectory()
        try StorageContract.contentAppearsWholeOnlyOnCommit(make(driver, dir))
    }

    /// A backup's data files go through the storage with durability deferred to one syncAll:
    /// the same contract holds for what is written that way.
    @Test(arguments: Driver.allCases)
    func writesWithDeferredDurabilityKeepTheContract(_ driver: Driver) throws {
        let dir = try TestDirectory()
        let storage = make(driver, dir).deferringDurability()
        try StorageContract.contentAppearsWholeOnlyOnCommit(storage)
        try StorageContract.noReplaceNeverOverwrites(storage)
        try storage.syncAll("")
        #expect(try make(driver, dir).list("").isEmpty == (driver != .posix), "the files are there for another handle of the same directory")
    }

    @Test(arguments: Driver.allCases)
    func aMissingNameIsNotFound(_ driver: Driver) throws {
        let dir = try TestDirectory()
        try StorageContract.aMissingNameIsNotFound(make(driver, dir))
    }

    @Test(arguments: Driver.allCases)
    func readsFillTheBuffer(_ driver: Driver) throws {
        let dir = try TestDirectory()
        try StorageContract.readsFillTheBuffer(make(driver, dir))
    }

    @Test(arguments: Driver.allCases)
    func storedFilesPassThroughTheirFilters(_ driver: Driver) throws {
        let dir = try TestDirectory()
        try StorageContract.storedFilesPassThroughTheirFilters(make(driver, dir))
    }

    @Test(arguments: Driver.allCases)
    func noReplaceNeverOverwrites(_ driver: Driver) throws {
        let dir = try TestDirectory()
        try StorageContract.noReplaceNeverOverwrites(make(driver, dir))
    }

    @Test(arguments: Driver.allCases)
    func listsDirectChildrenAndRemovesTrees(_ driver: Driver) throws {
        let dir = try TestDirectory()
        try StorageContract.listsDirectChildrenAndRemovesTrees(make(driver, dir))
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
