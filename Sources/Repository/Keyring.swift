import StorageInterface
import Cipher
import Synchronization

/// An encrypted repository's keys: opened with the passphrase (checked at once against
/// encryption.ini's CHECK, so a wrong one is one line before anything is read or written),
/// it gives the data key for a purpose (a backup, a WAL epoch, the catalog; made and
/// published no-replace the first time, read back after) and the one a file's header names,
/// to any thread.
public final class Keyring: Sendable {
    public let settings: EncryptionSettings
    private let storage: any RepositoryStorage
    private let kek: KeyEncryptionKey
    private let keys = Mutex<[[UInt8]: [UInt8]]>([:])
    static let checkID = [UInt8](repeating: 0, count: DataKeys.idSize)

    private init(storage: any RepositoryStorage, settings: EncryptionSettings, kek: KeyEncryptionKey) {
        self.storage = storage
        self.settings = settings
        self.kek = kek
    }

    public var generation: Int { kek.generation }

    /// Writes encryption.ini for a new repository (no-replace: never over another's).
    public static func create(in storage: any RepositoryStorage, passphrase: [UInt8],
                              cost: (n: UInt64, r: UInt64, p: UInt64) = KeyEncryptionKey.defaultCost) throws -> Keyring {
        let (settings, kek) = try EncryptionSettings.make(passphrase: passphrase, cost: cost, generation: 1)
        try storage.writeAll(EncryptionSettings.fileName, Array(settings.text().utf8), noReplace: true)
        return Keyring(storage: storage, settings: settings, kek: kek)
    }

    /// Reads encryption.ini; nil when the repository has none (it is not encrypted).
    public static func settings(in storage: any RepositoryStorage, name: String = EncryptionSettings.fileName) throws -> EncryptionSettings? {
        let text: [UInt8]
        do { text = try storage.readAll(name, limit: 64 << 10) } catch StorageError.notFound { return nil }
        return try EncryptionSettings(text: String(decoding: text, as: UTF8.self), path: storage.describe(name))
    }

    /// Opens the repository's keys with `passphrase`; nil when the repository is not encrypted.
    public static func open(_ storage: any RepositoryStorage, passphrase: () throws -> [UInt8]?) throws -> Keyring? {
        guard let settings = try settings(in: storage) else { return nil }
        guard let given = try passphrase() else {
            throw DataKeys.Failure(description: "\(storage.location) is encrypted: set CIPHER_PASS_FILE or CIPHER_PASS_COMMAND in the local configuration")
        }
        return Keyring(storage: storage, settings: settings,
                       kek: try settings.unlock(passphrase: given, path: storage.describe(EncryptionSettings.fileName)))
    }

    /// The data key for `purpose`, its key file published before it encrypts anything.
    /// A key first used here is checked against a rekey running meanwhile (KeyRotation):
    /// one made or found after the rekey listed this generation's keys would be left
    /// wrapped by the old passphrase only, so it encrypts nothing.
    public func writeKey(for purpose: String) throws -> FileEncryption {
        let id = try DataKeys.id(for: purpose)
        if let key = keys.withLock({ $0[id] }) { return FileEncryption(keyID: id, dataKey: key) }
        let key: [UInt8]
        do {
            key = try unwrapKeyFile(id)
        } catch let failure as DataKeys.Failure where failure.missing {
            key = try Cipher.randomBytes(Cipher.keySize)
            let file = DataKeyFile(id: id, generation: kek.generation, wrapped: try DataKeys.wrap(key, id: id, with: kek))
            try storage.makeDirectories(DataKeyFile.directory(generation: kek.generation))
            do {
                try storage.writeAll(DataKeyFile.name(id, generation: kek.generation), Array(file.text().utf8), noReplace: true)
            } catch StorageError.exists {
                return try writeKey(for: purpose)  // another process made it first: use theirs
            }
        }
        try checkNoRekey()
        keys.withLock { $0[id] = key }
        return FileEncryption(keyID: id, dataKey: key)
    }

    /// In this order: a key made after a rekey listed the keys was made after it wrote
    /// encryption.next.ini, so either that is still there, or the commit before its removal
    /// has changed the generation.
    private func checkNoRekey() throws {
        guard try !storage.exists(KeyRotation.nextName), try Self.settings(in: storage)?.generation == kek.generation else {
            throw DataKeys.Failure(description: "\(storage.location): its passphrase is being changed (pgbk rekey) or was changed while this command ran; run it again")
        }
    }

    /// The data key a file's header names.
    public func readKey(_ id: [UInt8]) throws -> FileEncryption {
        if let key = keys.withLock({ $0[id] }) { return FileEncryption(keyID: id, dataKey: key) }
        let key = try unwrapKeyFile(id)
        keys.withLock { $0[id] = key }
        return FileEncryption(keyID: id, dataKey: key)
    }

    private func unwrapKeyFile(_ id: [UInt8]) throws -> [UInt8] {
        guard id.count == DataKeys.idSize else { throw DataKeys.Failure(description: "a key id of \(id.count) bytes") }
        let name = DataKeyFile.name(id, generation: kek.generation)
        let path = storage.describe(name)
        let text: [UInt8]
        do { text = try storage.readAll(name, limit: 64 << 10) } catch StorageError.notFound {
            if let now = try Self.settings(in: storage)?.generation, now != kek.generation {
                throw DataKeys.Failure(description: "\(storage.location): its passphrase was changed (pgbk rekey) while this command ran; run it again")
            }
            throw DataKeys.Failure(description: "\(path): missing (a file names a data key the repository does not have)", missing: true)
        }
        return try DataKeyFile.key(text: String(decoding: text, as: UTF8.self), path: path, id: id, kek: kek)
    }

    /// The key-encryption key, for KeyRotation.
    var keyEncryptionKey: KeyEncryptionKey { kek }
}
