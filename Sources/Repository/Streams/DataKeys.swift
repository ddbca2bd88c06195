import Cipher

/// The key hierarchy of an encrypted repository (issue 27): a key-encryption key derived from
/// the passphrase with scrypt (salt and cost stored beside it, in plain text), and random
/// data keys (per backup, per WAL epoch) stored wrapped by it, so that changing the
/// passphrase rewraps small key files and rewrites no data.
public struct KeyEncryptionKey: Sendable {
    let key: [UInt8]
    /// Which passphrase: rekey makes the next generation.
    public let generation: Int

    /// The scrypt cost pgbk uses: 2^15 × 8 (32 MiB, about 0.1 s here). Every archive-push
    /// and archive-get pays it once, so it is below OWASP's 2^17 for a person's password:
    /// the passphrase should be a generated one (openssl rand -base64 48, or a KMS's), for
    /// which no KDF cost matters; `init --kdf-cost` and `rekey --kdf-cost` choose another.
    public static let defaultCost = cost(log2N: 15)
    public static let costRange = 14...20

    /// scrypt's cost for N = 2^log2N (r 8, p 1): 2^log2N KiB of memory.
    public static func cost(log2N: Int) -> (n: UInt64, r: UInt64, p: UInt64) {
        (n: UInt64(1) << UInt64(log2N), r: 8, p: 1)
    }

    public static func derive(passphrase: [UInt8], salt: [UInt8], n: UInt64, r: UInt64, p: UInt64, generation: Int) throws -> KeyEncryptionKey {
        KeyEncryptionKey(key: try Cipher.scrypt(passphrase: passphrase, salt: salt, n: n, r: r, p: p), generation: generation)
    }
}

public enum DataKeys {
    public static let idSize = EncryptedFormat.keyIDSize
    public static let wrappedSize = Cipher.nonceSize + Cipher.keySize + Cipher.tagSize

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let description: String
        /// The key file is not there (as opposed to unreadable or foreign).
        public var missing = false

        public init(description: String, missing: Bool = false) {
            self.description = description
            self.missing = missing
        }
    }

    /// The id of the data key for `purpose` ("backup/<ID>", "wal/<epoch>", "repository"):
    /// derived, so that every process finds the same key file for it; the key is random.
    public static func id(for purpose: String) throws -> [UInt8] {
        Array(try Cipher.hkdf(key: Array(purpose.utf8), salt: Array("pgbk".utf8), info: Array("pgbk data key id".utf8)).prefix(idSize))
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
