import Testing
import Cipher

/// libcrypto's primitives as pgbk calls them, against answers from an independent
/// implementation (Python's `cryptography` 48 and `hashlib`, computed once, written here) and
/// RFC 7914's scrypt vector; and every way a sealed message can be tampered with refused.
@Suite struct CipherTests {
    static func hex(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            out.append(UInt8(text[index..<next], radix: 16)!)
            index = next
        }
        return out
    }

    let key = (0..<32).map { UInt8($0) }
    let nonce = (100..<112).map { UInt8($0) }
    let aad = Array("backup/20261202-101010F/base/1/1259".utf8)
    let plaintext = (0..<1000).map { UInt8(($0 * 7 + 3) % 256) }

    func sealed() throws -> ([UInt8], [UInt8]) {
        var out = [UInt8](repeating: 0, count: plaintext.count)
        let tag = try plaintext.withUnsafeBytes { input in
            try out.withUnsafeMutableBytes { try Cipher.seal(key: key, nonce: nonce, aad: aad, input, into: $0) }
        }
        return (out, tag)
    }

    func opens(_ ciphertext: [UInt8], key: [UInt8]? = nil, nonce: [UInt8]? = nil, aad: [UInt8]? = nil, tag: [UInt8]) throws -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: ciphertext.count)
        let ok = try ciphertext.withUnsafeBytes { input in
            try out.withUnsafeMutableBytes {
                try Cipher.open(key: key ?? self.key, nonce: nonce ?? self.nonce, aad: aad ?? self.aad, input, into: $0, tag: tag)
            }
        }
        return ok ? out : nil
    }

    @Test func aesGCMIsTheStandardOne() throws {
        let (ciphertext, tag) = try sealed()
        // The tag covers every byte of the ciphertext: equal tags, equal ciphertexts.
        #expect(Array(ciphertext.prefix(16)) == Self.hex("4b11cf7e66cf7baa052016b88d3b0f91"))
        #expect(tag == Self.hex("a03e500c6e1e95c3723e645e461e40b9"))
        #expect(try opens(ciphertext, tag: tag) == plaintext)
    }

    @Test func anyChangeIsRefused() throws {
        let (ciphertext, tag) = try sealed()
        var flipped = ciphertext
        flipped[500] ^= 0x01
        #expect(try opens(flipped, tag: tag) == nil, "a flipped byte")
        #expect(try opens(Array(ciphertext.dropLast()), tag: tag) == nil, "a cut")
        #expect(try opens(ciphertext, aad: Array("backup/20261202-101010F/base/1/1260".utf8), tag: tag) == nil, "another file's name")
        #expect(try opens(ciphertext, nonce: nonce.reversed(), tag: tag) == nil, "another nonce")
        #expect(try opens(ciphertext, key: key.reversed(), tag: tag) == nil, "another key")
        var badTag = tag
        badTag[0] ^= 0x80
        #expect(try opens(ciphertext, tag: badTag) == nil, "another tag")
    }

    @Test func sealsInPlaceAndEmptyMessages() throws {
        var buffer = plaintext
        let tag = try buffer.withUnsafeMutableBytes { try Cipher.seal(key: key, nonce: nonce, aad: aad, UnsafeRawBufferPointer($0), into: $0) }
        #expect(try opens(buffer, tag: tag) == plaintext)
        let emptyTag = try [UInt8]().withUnsafeBytes {
            try Cipher.seal(key: key, nonce: nonce, aad: aad, $0, into: UnsafeMutableRawBufferPointer(start: nil, count: 0))
        }
        #expect(try opens([], tag: emptyTag) == [])
        #expect(try opens([], aad: [], tag: emptyTag) == nil, "an empty message is still bound to its name")
    }

    @Test func keyDerivationsAreTheStandardOnes() throws {
        #expect(try Cipher.hkdf(key: [UInt8](repeating: 0x11, count: 32), salt: Array("pgbk salt".utf8), info: Array("pgbk file key".utf8))
                == Self.hex("118fa181d68a1f626cf79ace9e060bd3d3168023e3064af2f0f6d3e71fdc249c"))
        // RFC 7914, section 12, the third vector.
        #expect(try Cipher.scrypt(passphrase: Array("password".utf8), salt: Array("NaCl".utf8), n: 1024, r: 8, p: 16, count: 64)
                == Self.hex("fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640"))
    }

    @Test func randomBytesAndBadSizes() throws {
        let a = try Cipher.randomBytes(32), b = try Cipher.randomBytes(32)
        #expect(a.count == 32 && a != b)
        #expect(throws: Cipher.Failure.self) {
            try plaintext.withUnsafeBytes { input in
                var out = [UInt8](repeating: 0, count: 1000)
                return try out.withUnsafeMutableBytes { try Cipher.seal(key: Array(key.prefix(16)), nonce: nonce, aad: [], input, into: $0) }
            }
        }
    }
}
