import Testing
import StorageInterface
@testable import Repository

/// The repository's keys (issue 27): the passphrase checked at once, data keys in key files
/// that a later process reads back, and each missing or foreign piece named.
@Suite struct KeyringTests {
    let cheap = (n: UInt64(1024), r: UInt64(8), p: UInt64(1))
    let passphrase = Array("correct horse".utf8)

    @Test func aStoredFileReadsBackThroughAnotherOpeningOfTheKeys() throws {
        let storage = MemoryStorage()
        #expect(try Keyring.open(storage) { passphrase } == nil, "a repository without encryption.ini is not encrypted")
        let made = try Keyring.create(in: storage, passphrase: passphrase, cost: cheap)
        #expect(throws: StorageError.self) { try Keyring.create(in: storage, passphrase: passphrase, cost: cheap) }
        let id = try made.newKey()
        try storage.makeDirectories("backup/b")
        let writer = try StoredFileWriter(storage: storage, name: "backup/b/f", compression: .zstd, level: 1,
                                          encryption: try made.encryption(for: "backup/b/f", key: id))
        try writer.write(Array(repeating: 42, count: 100_000))
        _ = try writer.commit()

        let opened = try #require(try Keyring.open(storage) { passphrase })
        let reader = try StoredFileReader(storage: storage, name: "backup/b/f", compression: .zstd, decryption: opened.decryption(for: "backup/b/f"))
        var buffer = [UInt8](repeating: 0, count: 200_000)
        #expect(try reader.read(into: &buffer) == 100_000 && buffer.prefix(100_000).allSatisfy { $0 == 42 })
        reader.close()

        #expect(message { _ = try Keyring.open(storage) { Array("wrong".utf8) } }?.contains("the passphrase does not open it") == true)
        #expect(message { _ = try Keyring.open(storage) { nil } }?.contains("is encrypted: set CIPHER_PASS_FILE or CIPHER_PASS_COMMAND") == true)
        // Its key file gone, or wrapped by another generation: named, nothing decrypted.
        let keyFile = try storage.readAll(DataKeyFile.name(id))
        try storage.remove(DataKeyFile.name(id))
        let again = try #require(try Keyring.open(storage) { passphrase })
        #expect(message { _ = try again.encryption(for: "backup/b/f", key: id) }?.contains("missing") == true)
        let other = try DataKeyFile(text: String(decoding: keyFile, as: UTF8.self), path: "k", expected: id)
        try storage.writeAll(DataKeyFile.name(id), Array(DataKeyFile(id: id, generation: 2, wrapped: other.wrapped).text().utf8))
        #expect(message { _ = try again.encryption(for: "backup/b/f", key: id) }?.contains("generation 2") == true)
    }

    func message(_ body: () throws -> Void) -> String? {
        do { try body() } catch { return "\(error)" }
        return nil
    }
}
