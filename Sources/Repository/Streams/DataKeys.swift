import Cipher

/// The key hierarchy of an encrypted repository (issue 27): a key-encryption key derived from
/// the passphrase with scrypt (salt and cost stored beside it, in plain text), and random
/// data keys (per backup, per WAL epoch) stored wrapped by it, so that changing the
/// passphrase rewraps small key files and rewrites no data.
public struct KeyEncryptionKey: Sendable {
    let key: [UInt8]
    /// Which passphrase: rekey makes the next generation.
    public let generation: Int

    /// The scrypt cost pgbk uses: 2^17 × 8 (128 MiB, about half a second), OWASP's floor.
    public static let defaultCost = (n: UInt64(1) << 17, r: UInt64(8), p: UInt64(1))

    public static func derive(passphrase: [UInt8], salt: [UInt8], n: UInt64, r: UInt64, p: UInt64, generation: Int) throws -> KeyEncryptionKey {
        KeyEncryptionKey(key: try Cipher.scrypt(passphrase: passphrase, salt: salt, n: n, r: r, p: p), generation: generation)
    }
}

public enum DataKeys {
    public static let idSize = EncryptedFormat.keyIDSize
    public static let wrappedSize = Cipher.nonceSize + Cipher.keySize + Cipher.tagSize

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// A new data key and its id, both random.
    public static func make() throws -> (id: [UInt8], key: [UInt8]) {
        (try Cipher.randomBytes(idSize), try Cipher.randomBytes(Cipher.keySize))
    }

    /// nonce ‖ sealed key ‖ tag, bound to the key's id and the generation that wraps it.
    public static func wrap(_ dataKey: [UInt8], id: [UInt8], with kek: KeyEncryptionKey) throws -> [UInt8] {
        let nonce = try Cipher.randomBytes(Cipher.nonceSize)
        var sealed = [UInt8](repeating: 0, count: Cipher.keySize)
        let tag = try dataKey.withUnsafeBytes { input in
            try sealed.withUnsafeMutableBytes { try Cipher.seal(key: kek.key, nonce: nonce, aad: aad(id, kek.generation), input, into: $0) }
        }
        return nonce + sealed + tag
    }

    /// The data key, if this is its wrapping by this key-encryption key; a wrong passphrase,
    /// another key's file or a damaged one is the same failure, named by `what`.
    public static func unwrap(_ wrapped: [UInt8], id: [UInt8], with kek: KeyEncryptionKey, what: String) throws -> [UInt8] {
        guard wrapped.count == wrappedSize else { throw Failure(description: "\(what): not a wrapped data key (\(wrapped.count) bytes)") }
        let nonce = Array(wrapped[0..<Cipher.nonceSize])
        let sealed = Array(wrapped[Cipher.nonceSize..<Cipher.nonceSize + Cipher.keySize])
        let tag = Array(wrapped.suffix(Cipher.tagSize))
        var key = [UInt8](repeating: 0, count: Cipher.keySize)
        let ok = try sealed.withUnsafeBytes { input in
            try key.withUnsafeMutableBytes { try Cipher.open(key: kek.key, nonce: nonce, aad: aad(id, kek.generation), input, into: $0, tag: tag) }
        }
        guard ok else { throw Failure(description: "\(what): the passphrase does not open it (a wrong passphrase, or the file is damaged or not this key's)") }
        return key
    }

    private static func aad(_ id: [UInt8], _ generation: Int) -> [UInt8] {
        Array("pgbk data key".utf8) + id + Array(String(generation).utf8)
    }
}
