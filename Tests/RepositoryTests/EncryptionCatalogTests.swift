import Testing
@testable import Repository

/// encryption.ini and the key files (issue 27): what is written reads back, and a file
/// someone else wrote is refused, naming it, before any value is used.
@Suite struct EncryptionCatalogTests {
    let settings = EncryptionSettings(salt: Array(repeating: 7, count: 16), n: 1 << 17, r: 8, p: 1, generation: 1,
                                      check: Array(repeating: 9, count: DataKeys.wrappedSize))

    @Test func settingsRoundTripAndHostileOnesAreRefused() throws {
        #expect(try EncryptionSettings(text: settings.text(), path: "e") == settings)
        func refused(_ change: (inout EncryptionSettings) -> Void) -> String? {
            var edited = settings
            change(&edited)
            do { _ = try EncryptionSettings(text: edited.text(), path: "encryption.ini"); return nil } catch { return "\(error)" }
        }
        #expect(refused { $0.n = 3 << 10 }?.contains("KDF_N") == true, "not a power of two")
        #expect(refused { $0.n = 1 << 30 }?.contains("KDF_N") == true, "a terabyte of scrypt")
        #expect(refused { $0.n = 1 << 22; $0.r = 32 }?.contains("1 GiB") == true)
        #expect(refused { $0.salt = [1, 2, 3] }?.contains("KDF_SALT") == true)
        #expect(refused { $0.generation = 0 }?.contains("GENERATION") == true)
        #expect(refused { $0.check = [1] }?.contains("CHECK") == true)
        let edited = String(settings.text().split(separator: "\n", omittingEmptySubsequences: false).map { $0 == "KDF_R=8" ? "KDF_R=9" : $0 }.joined(separator: "\n"))
        #expect(throws: CatalogError.self) { try EncryptionSettings(text: edited, path: "e") }
        // A newer format, sealed as such: refused by its FORMAT, not its checksum.
        let body = try SealedText.open(settings.text(), path: "e")
        let future = SealedText.seal(String(body.split(separator: "\n", omittingEmptySubsequences: false).map { $0 == "FORMAT=1" ? "FORMAT=2" : $0 }.joined(separator: "\n")))
        #expect(throws: CatalogError.invalid("e", "FORMAT 2: this pgbk reads format 1")) { try EncryptionSettings(text: future, path: "e") }
    }

    @Test func keyFilesRoundTripUnderTheirOwnName() throws {
        let id = Array(0..<16).map { UInt8($0) }
        let file = DataKeyFile(id: id, generation: 2, wrapped: Array(repeating: 5, count: DataKeys.wrappedSize))
        #expect(DataKeyFile.name(id, generation: 2) == "keys/2/000102030405060708090a0b0c0d0e0f.key")
        #expect(try DataKeyFile(text: file.text(), path: "k", expected: id) == file)
        #expect(throws: CatalogError.self) { try DataKeyFile(text: file.text(), path: "k", expected: id.reversed()) }
        let short = DataKeyFile(id: id, generation: 2, wrapped: [1, 2])
        #expect(throws: CatalogError.self) { try DataKeyFile(text: short.text(), path: "k", expected: id) }
    }
}
