import PostgresFormat
import Cipher

/// An encrypted repository's key files, each a
/// sealed `KEY=VALUE` text like every catalog file: `encryption.ini` says how the passphrase
/// becomes the key-encryption key (scrypt's salt and cost) and which generation it is, with
/// a check value wrapped by it (so that a wrong passphrase is told at once); a key file holds
/// one data key wrapped by it. Every value is checked before use: a repository written by
/// someone else must not make pgbk spend a terabyte of memory on scrypt, or read past a buffer.
public struct EncryptionSettings: Sendable, Equatable {
    public static let fileName = "encryption.ini"
    public static let costLimits = (n: (UInt64(1) << 10)...(UInt64(1) << 22), r: UInt64(1)...UInt64(32), p: UInt64(1)...UInt64(16))

    public var salt: [UInt8]
    public var n: UInt64
    public var r: UInt64
    public var p: UInt64
    public var generation: Int
    /// A random key wrapped by this generation's key-encryption key under the all-zero id.
    public var check: [UInt8]

    public init(salt: [UInt8], n: UInt64, r: UInt64, p: UInt64, generation: Int, check: [UInt8]) {
        (self.salt, self.n, self.r, self.p, self.generation, self.check) = (salt, n, r, p, generation, check)
    }

    public func text() -> String {
        var ini = IniFile()
        ini["FORMAT"] = "1"
        ini["CIPHER"] = "aes-256-gcm"
        ini["KDF"] = "scrypt"
        ini["KDF_SALT"] = Hex.encode(salt)
        ini["KDF_N"] = String(n)
        ini["KDF_R"] = String(r)
        ini["KDF_P"] = String(p)
        ini["GENERATION"] = String(generation)
        ini["CHECK"] = Hex.encode(check)
        return SealedText.seal(ini.text())
    }

    public init(text: String, path: String) throws {
        let ini = try IniFile(text: try SealedText.open(text, path: path), path: path)
        func bad(_ why: String) -> CatalogError { .invalid(path, why) }
        guard ini["FORMAT"] == "1" else { throw bad("FORMAT \(ini["FORMAT"] ?? "missing"): this pgbk reads format 1") }
        guard ini["CIPHER"] == "aes-256-gcm", ini["KDF"] == "scrypt" else { throw bad("CIPHER and KDF must be aes-256-gcm and scrypt") }
        guard let salt = ini["KDF_SALT"].flatMap({ Hex.decode($0) }), (16...64).contains(salt.count) else { throw bad("KDF_SALT must be 16 to 64 bytes in hex") }
        guard let n = ini["KDF_N"].flatMap({ UInt64($0) }), Self.costLimits.n.contains(n), n & (n - 1) == 0,
              let r = ini["KDF_R"].flatMap({ UInt64($0) }), Self.costLimits.r.contains(r),
              let p = ini["KDF_P"].flatMap({ UInt64($0) }), Self.costLimits.p.contains(p),
              n * r <= (UInt64(1) << 23) else {
            throw bad("KDF_N (a power of two, 2^10 to 2^22), KDF_R (1 to 32) and KDF_P (1 to 16) out of range, or over 1 GiB of memory")
        }
        guard let generation = ini["GENERATION"].flatMap({ Int($0) }), generation >= 1 else { throw bad("GENERATION must be 1 or more") }
        guard let check = ini["CHECK"].flatMap({ Hex.decode($0) }), check.count == DataKeys.wrappedSize else { throw bad("CHECK is not a wrapped key") }
        self.init(salt: salt, n: n, r: r, p: p, generation: generation, check: check)
    }
}

extension EncryptionSettings {
    /// New settings (a fresh salt and check value) and the key-encryption key they describe.
    static func make(passphrase: [UInt8], cost: (n: UInt64, r: UInt64, p: UInt64), generation: Int) throws -> (EncryptionSettings, KeyEncryptionKey) {
        let salt = try Cipher.randomBytes(32)
        let kek = try KeyEncryptionKey.derive(passphrase: passphrase, salt: salt, n: cost.n, r: cost.r, p: cost.p, generation: generation)
        let check = try DataKeys.wrap(try Cipher.randomBytes(Cipher.keySize), id: Keyring.checkID, with: kek)
        return (EncryptionSettings(salt: salt, n: cost.n, r: cost.r, p: cost.p, generation: generation, check: check), kek)
    }

    /// The key-encryption key, if `passphrase` is this generation's (else a one-line failure).
    func unlock(passphrase: [UInt8], path: String) throws -> KeyEncryptionKey {
        let kek = try KeyEncryptionKey.derive(passphrase: passphrase, salt: salt, n: n, r: r, p: p, generation: generation)
        _ = try DataKeys.unwrap(check, id: Keyring.checkID, with: kek, what: path)
        return kek
    }
}

/// `keys/<generation>/<id>.key`: one data key, wrapped by that generation's key-encryption
/// key (rekey writes the next generation's beside it, then removes this one's).
public struct DataKeyFile: Sendable, Equatable {
    public let id: [UInt8]
    public let generation: Int
    public let wrapped: [UInt8]

    public init(id: [UInt8], generation: Int, wrapped: [UInt8]) {
        (self.id, self.generation, self.wrapped) = (id, generation, wrapped)
    }

    public static let directory = "keys"
    public static func directory(generation: Int) -> String { directory + "/" + String(generation) }
    public static func name(_ id: [UInt8], generation: Int) -> String { directory(generation: generation) + "/" + Hex.encode(id) + ".key" }

    public func text() -> String {
        var ini = IniFile()
        ini["KEY_ID"] = Hex.encode(id)
        ini["GENERATION"] = String(generation)
        ini["WRAPPED"] = Hex.encode(wrapped)
        return SealedText.seal(ini.text())
    }

    /// Read as `keys/<expected>.key`: a file holding another id is refused.
    public init(text: String, path: String, expected id: [UInt8]) throws {
        let ini = try IniFile(text: try SealedText.open(text, path: path), path: path)
        guard let found = ini["KEY_ID"].flatMap({ Hex.decode($0) }), found == id else {
            throw CatalogError.invalid(path, "KEY_ID is not the id its name says")
        }
        guard let generation = ini["GENERATION"].flatMap({ Int($0) }), generation >= 1,
              let wrapped = ini["WRAPPED"].flatMap({ Hex.decode($0) }), wrapped.count == DataKeys.wrappedSize else {
            throw CatalogError.invalid(path, "GENERATION or WRAPPED missing or malformed")
        }
        self.init(id: id, generation: generation, wrapped: wrapped)
    }
}

extension DataKeyFile {
    /// The data key a key file's text holds, if `kek`'s generation wrapped it (Keyring's
    /// reads and KeyRotation's rewrapping both come here).
    static func key(text: String, path: String, id: [UInt8], kek: KeyEncryptionKey) throws -> [UInt8] {
        let file = try DataKeyFile(text: text, path: path, expected: id)
        guard file.generation == kek.generation else {
            throw DataKeys.Failure(description: "\(path): wrapped by passphrase generation \(file.generation), not \(kek.generation)")
        }
        return try DataKeys.unwrap(file.wrapped, id: id, with: kek, what: path)
    }
}
