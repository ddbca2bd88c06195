import Testing
import StorageInterface
import TestSupport
@testable import Repository

/// rekey (issue 27): the data keys rewrapped, no data file touched; afterwards only the new
/// passphrase opens the repository; a writer that began before goes on; a key first used
/// during a rekey is refused.
@Suite struct KeyRotationTests {
    let cheap = (n: UInt64(1024), r: UInt64(8), p: UInt64(1))
    let old = Array("old passphrase".utf8)
    let new = Array("new passphrase".utf8)

    func opens(_ storage: any RepositoryStorage, _ passphrase: [UInt8]) -> Bool {
        (try? Keyring.open(storage) { passphrase }) != nil
    }

    @Test func onlyTheNewPassphraseOpensAndNoDataFileIsTouched() throws {
        let dir = try TestDirectory()
        let storage = PosixStorage(root: dir.path)
        let writer = EncryptedStorage(storage, keyring: try Keyring.create(in: storage, passphrase: old, cost: cheap))
        let names = (0..<30).map { "backup/2026120\($0 % 3)-010000F/data/f\($0)" } + ["wal/0000000100000000/seg", "repository.ini"]
        for name in names {
            try writer.makeDirectories(PosixStorage.parent(of: name))
            try writer.writeAll(name, Array(name.utf8))
        }
        let stored = try names.map { try storage.readAll($0) }

        let report = try KeyRotation.run(storage, old: { old }, new: new, cost: cheap)
        #expect(report.generation == 2 && report.keys == 5 && !report.finishedEarlierRun, "\(report)")
        #expect(try names.map { try storage.readAll($0) } == stored, "no data file was rewritten")
        #expect(opens(storage, new) && !opens(storage, old))
        let reader = EncryptedStorage(storage, keyring: try #require(try Keyring.open(storage) { new }))
        for name in names { #expect(try reader.readAll(name) == Array(name.utf8)) }
        #expect(try storage.list(DataKeyFile.directory).map(\.name) == ["2"], "generation 1's key files are gone")
        #expect(try !storage.exists(KeyRotation.nextName))

        // The writer opened before goes on with its keys (the same data keys, rewrapped);
        // a key it has not used yet belongs to the new generation, which it cannot wrap.
        try writer.writeAll("backup/20261200-010000F/data/late", [1, 2, 3])
        #expect(try reader.readAll("backup/20261200-010000F/data/late") == [1, 2, 3])
        #expect(throws: DataKeys.Failure.self) { try writer.writeAll("backup/20261209-010000F/x", [1]) }

        // Run again with the same new passphrase: already done. With the old one as new: refused.
        #expect(try KeyRotation.run(storage, old: { nil }, new: new, cost: cheap).finishedEarlierRun)
        #expect(throws: DataKeys.Failure.self) { _ = try KeyRotation.run(storage, old: { old }, new: Array("third".utf8), cost: cheap) }
    }

    @Test func aKeyFirstUsedDuringARekeyEncryptsNothing() throws {
        let storage = MemoryStorage()
        let writer = EncryptedStorage(storage, keyring: try Keyring.create(in: storage, passphrase: old, cost: cheap))
        try writer.makeDirectories("backup/a")
        try writer.writeAll("backup/a/f", [1])
        // A rekey between writing encryption.next.ini and its commit.
        try storage.writeAll(KeyRotation.nextName, try storage.readAll(EncryptionSettings.fileName))
        #expect(throws: DataKeys.Failure.self) { try writer.writeAll("wal/0000000100000000/seg", [2]) }
        try writer.writeAll("backup/a/g", [3])  // a key in use before: fine
        try storage.remove(KeyRotation.nextName)
        try writer.writeAll("wal/0000000100000000/seg", [2])
    }

    /// An earlier run killed before its commit, for another new passphrase: started again.
    @Test func anUnfinishedRekeyForAnotherPassphraseStartsAgain() throws {
        let storage = MemoryStorage()
        let writer = EncryptedStorage(storage, keyring: try Keyring.create(in: storage, passphrase: old, cost: cheap))
        try writer.makeDirectories("backup/a")
        try writer.writeAll("backup/a/f", [1])
        let (abandoned, _) = try EncryptionSettings.make(passphrase: Array("abandoned".utf8), cost: cheap, generation: 2)
        try storage.writeAll(KeyRotation.nextName, Array(abandoned.text().utf8))
        try storage.makeDirectories("keys/2")
        try storage.writeAll("keys/2/stray.key", [0])
        #expect(opens(storage, old), "an unfinished rekey leaves the old passphrase the one")
        let report = try KeyRotation.run(storage, old: { old }, new: new, cost: cheap)
        #expect(report.generation == 2 && !report.finishedEarlierRun)
        #expect(try EncryptedStorage(storage, keyring: try #require(try Keyring.open(storage) { new })).readAll("backup/a/f") == [1])
        #expect(try storage.list("keys/2").map(\.name).allSatisfy { $0 != "stray.key" })
    }
}
