import Testing
import Cipher
@testable import Repository

/// Data keys wrapped by the passphrase's key-encryption key (issue 27): only that
/// passphrase, for that key id and generation, unwraps one.
@Suite struct DataKeysTests {
    let salt = Array("sixteen byte slt".utf8)

    func kek(_ passphrase: String, generation: Int = 1) throws -> KeyEncryptionKey {
        // A cheap cost for the test; the repository's is KeyEncryptionKey.defaultCost.
        try KeyEncryptionKey.derive(passphrase: Array(passphrase.utf8), salt: salt, n: 1024, r: 8, p: 1, generation: generation)
    }

    @Test func onlyItsPassphraseIdAndGenerationUnwrapIt() throws {
        let id: [UInt8] = try DataKeys.id(for: "backup/20261203-010000F")
        let key: [UInt8] = try Cipher.randomBytes(Cipher.keySize)
        let right = try kek("correct horse")
        let wrapped = try DataKeys.wrap(key, id: id, with: right)
        #expect(wrapped.count == DataKeys.wrappedSize)
        #expect(!(0...(wrapped.count - 8)).contains { Array(wrapped[$0..<$0 + 8]) == Array(key.prefix(8)) }, "the key is not in the file")
        #expect(try DataKeys.unwrap(wrapped, id: id, with: right, what: "k") == key)
        #expect(throws: DataKeys.Failure.self) { try DataKeys.unwrap(wrapped, id: id, with: try kek("wrong horse"), what: "k") }
        #expect(throws: DataKeys.Failure.self) { try DataKeys.unwrap(wrapped, id: id.reversed(), with: right, what: "k") }
        #expect(throws: DataKeys.Failure.self) { try DataKeys.unwrap(wrapped, id: id, with: try kek("correct horse", generation: 2), what: "k") }
        #expect(throws: DataKeys.Failure.self) { try DataKeys.unwrap(Array(wrapped.dropLast()), id: id, with: right, what: "k") }
        // Two wrappings of one key differ (a fresh nonce each).
        #expect(try DataKeys.wrap(key, id: id, with: right) != wrapped)
    }

    @Test func eachPurposeHasItsOwnStableKeyID() throws {
        let backup = try DataKeys.id(for: "backup/20261203-010000F")
        #expect(backup.count == DataKeys.idSize)
        #expect(try DataKeys.id(for: "backup/20261203-010000F") == backup)
        #expect(try DataKeys.id(for: "backup/20261203-010001F") != backup)
        #expect(try DataKeys.id(for: "wal/0000000100000000") != backup)
    }
}
