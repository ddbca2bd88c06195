import Testing
import StorageInterface
@testable import Repository

/// The repository's keys (issue 27): the passphrase checked at once, data keys in key files
/// that a later process reads back, and each missing or foreign piece named.
@Suite struct KeyringTests {
    let cheap = (n: UInt64(1024), r: UInt64(8), p: UInt64(1))
    let passphrase = Array("correct horse".utf8)

    @Test func aFileReadsBackThroughAnotherOpeningOfTheKeys() throws {
        let storage = MemoryStorage()
        #expect(try Keyring.open(storage) { passphrase } == nil, "a repository without encryption.ini is not encrypted")
        let made = try Keyring.create(in: storage, passphrase: passphrase, cost: cheap)
        #expect(throws: StorageError.self) { try Keyring.create(in: storage, passphrase: passphrase, cost: cheap) }
        let encrypted = EncryptedStorage(storage, keyring: made)
        try encrypted.makeDirectories("backup/b")
        try encrypted.writeAll("backup/b/f", Array(repeating: 42, count: 100_000))
        let id = try DataKeys.id(for: "backup/b")

        let opened = try #require(try Keyring.open(storage) { passphrase })
        #expect(try EncryptedStorage(storage, keyring: opened).readAll("backup/b/f") == Array(repeating: 42, count: 100_000))

        #expect(message { _ = try Keyring.open(storage) { Array("wrong".utf8) } }?.contains("the passphrase does not open it") == true)
        #expect(message { _ = try Keyring.open(storage) { nil } }?.contains("is encrypted: set CIPHER_PASS_FILE or CIPHER_PASS_COMMAND") == true)
        // Its key file gone, or wrapped by another generation: named, nothing decrypted.
        let name = DataKeyFile.name(id, generation: 1)
        let keyFile = try storage.readAll(name)
        try storage.remove(name)
        let again = try #require(try Keyring.open(storage) { passphrase })
        #expect(message { _ = try EncryptedStorage(storage, keyring: again).readAll("backup/b/f") }?.contains("missing") == true)
        let other = try DataKeyFile(text: String(decoding: keyFile, as: UTF8.self), path: "k", expected: id)
        try storage.writeAll(name, Array(DataKeyFile(id: id, generation: 2, wrapped: other.wrapped).text().utf8))
        #expect(message { _ = try again.readKey(id) }?.contains("generation 2") == true)
    }

    func message(_ body: () throws -> Void) -> String? {
        do { try body() } catch { return "\(error)" }
        return nil
    }
}
