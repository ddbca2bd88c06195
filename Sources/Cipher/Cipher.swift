import CObjectStoreLoader

/// The primitives of an encrypted repository, all libcrypto's (loaded on first use, see
/// CObjectStoreLoader.h; nothing of the kind is written by hand): AES-256-GCM, random bytes,
/// HKDF-SHA-256 to derive a file's key from a data key, scrypt to derive the key-encryption
/// key from a passphrase.
public enum Cipher {
    public static let keySize = 32
    public static let nonceSize = 12
    public static let tagSize = 16

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Loads libcrypto; throws why it cannot be (naming the package to install).
    public static func load() throws {
        if let message = pgbk_crypto_load() { throw Failure(description: String(cString: message)) }
    }

    /// Encrypts `input` into `output` (as long; it may be the same memory); returns the tag.
    public static func seal(key: [UInt8], nonce: [UInt8], aad: [UInt8], _ input: UnsafeRawBufferPointer,
                            into output: UnsafeMutableRawBufferPointer) throws -> [UInt8] {
        try check(key: key, nonce: nonce)
        precondition(output.count >= input.count)
        try load()
        var tag = [UInt8](repeating: 0, count: tagSize)
        guard pgbk_aes256gcm_seal(key, nonce, aad, aad.count, input.baseAddress, input.count, output.baseAddress, &tag) == 1 else {
            throw Failure(description: "libcrypto could not encrypt (AES-256-GCM)")
        }
        return tag
    }

    /// Decrypts `input` into `output` when `tag` proves it is what was sealed with this key,
    /// nonce and associated data; false (output garbage) when it does not.
    public static func open(key: [UInt8], nonce: [UInt8], aad: [UInt8], _ input: UnsafeRawBufferPointer,
                            into output: UnsafeMutableRawBufferPointer, tag: [UInt8]) throws -> Bool {
        try check(key: key, nonce: nonce)
        precondition(output.count >= input.count && tag.count == tagSize)
        try load()
        return pgbk_aes256gcm_open(key, nonce, aad, aad.count, input.baseAddress, input.count, output.baseAddress, tag) == 1
    }

    public static func randomBytes(_ count: Int) throws -> [UInt8] {
        try load()
        var out = [UInt8](repeating: 0, count: count)
        guard pgbk_random_bytes(&out, Int32(count)) == 1 else { throw Failure(description: "libcrypto has no randomness to give") }
        return out
    }

    /// HKDF-SHA-256 (RFC 5869): `count` bytes of key from `key`, `salt` and `info`.
    public static func hkdf(key: [UInt8], salt: [UInt8], info: [UInt8], count: Int = keySize) throws -> [UInt8] {
        try load()
        var out = [UInt8](repeating: 0, count: count)
        guard pgbk_hkdf_sha256(key, key.count, salt, salt.count, info, info.count, &out, count) == 1 else {
            throw Failure(description: "libcrypto could not derive a key (HKDF-SHA-256)")
        }
        return out
    }

    /// scrypt (RFC 7914) of a passphrase; `n` a power of two. Memory: 128 * n * r bytes.
    public static func scrypt(passphrase: [UInt8], salt: [UInt8], n: UInt64, r: UInt64, p: UInt64, count: Int = keySize) throws -> [UInt8] {
        try load()
        var out = [UInt8](repeating: 0, count: count)
        let ok = passphrase.withUnsafeBytes {
            pgbk_scrypt($0.baseAddress?.assumingMemoryBound(to: CChar.self), passphrase.count, salt, salt.count, n, r, p, &out, count)
        }
        guard ok == 1 else { throw Failure(description: "libcrypto could not derive a key (scrypt N=\(n) r=\(r) p=\(p))") }
        return out
    }

    private static func check(key: [UInt8], nonce: [UInt8]) throws {
        guard key.count == keySize, nonce.count == nonceSize else {
            throw Failure(description: "AES-256-GCM takes a \(keySize)-byte key and a \(nonceSize)-byte nonce")
        }
    }
}
