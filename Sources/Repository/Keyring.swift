import StorageInterface
import Cipher
import Synchronization

/// An encrypted repository's keys (issue 27; not yet used by any command): opened with the
/// passphrase (checked at once against encryption.ini's CHECK, so a wrong one is one line
/// before anything is read or written), it makes data keys (each in its own key file,
/// published no-replace) and gives back the one a file's header names, to any thread.
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

    /// Writes encryption.ini for a new repository (no-replace: never over another's).
    public static func create(in storage: any RepositoryStorage, passphrase: [UInt8],
                              cost: (n: UInt64, r: UInt64, p: UInt64) = KeyEncryptionKey.defaultCost) throws -> Keyring {
        let salt = try Cipher.randomBytes(32)
        let kek = try KeyEncryptionKey.derive(passphrase: passphrase, salt: salt, n: cost.n, r: cost.r, p: cost.p, generation: 1)
        let check = try DataKeys.wrap(try Cipher.randomBytes(Cipher.keySize), id: checkID, with: kek)
        let settings = EncryptionSettings(salt: salt, n: cost.n, r: cost.r, p: cost.p, generation: 1, check: check)
        try storage.writeAll(EncryptionSettings.fileName, Array(settings.text().utf8), noReplace: true)
        return Keyring(storage: storage, settings: settings, kek: kek)
    }

    /// Opens the repository's keys with `passphrase`; nil when the repository is not encrypted.
    public static func open(_ storage: any RepositoryStorage, passphrase: () throws -> [UInt8]?) throws -> Keyring? {
        let text: [UInt8]
        do { text = try storage.readAll(EncryptionSettings.fileName, limit: 64 << 10) } catch StorageError.notFound { return nil }
        let path = storage.describe(EncryptionSettings.fileName)
        let settings = try EncryptionSettings(text: String(decoding: text, as: UTF8.self), path: path)
        guard let given = try passphrase() else {
            throw DataKeys.Failure(description: "\(storage.location) is encrypted: set CIPHER_PASS_FILE or CIPHER_PASS_COMMAND in the local configuration")
        }
        let kek = try KeyEncryptionKey.derive(passphrase: given, salt: settings.salt, n: settings.n, r: settings.r, p: settings.p,
                                              generation: settings.generation)
        _ = try DataKeys.unwrap(settings.check, id: checkID, with: kek, what: path)
        return Keyring(storage: storage, settings: settings, kek: kek)
    }

    /// A new data key, its key file published before it encrypts anything.
    public func newKey() throws -> [UInt8] {
        let (id, key) = try DataKeys.make()
        let file = DataKeyFile(id: id, generation: kek.generation, wrapped: try DataKeys.wrap(key, id: id, with: kek))
        try storage.makeDirectories("keys")
        try storage.writeAll(DataKeyFile.name(id), Array(file.text().utf8), noReplace: true)
        keys.withLock { $0[id] = key }
        return id
    }

    /// What encrypts a file named `name` with key `id` (one this keyring made or can read).
    public func encryption(for name: String, key id: [UInt8]) throws -> FileEncryption {
        FileEncryption(keyID: id, dataKey: try key(id), name: name)
    }

    /// What reads a file named `name`, whichever key its header names.
    public func decryption(for name: String) -> Decryption {
        { [self] id in try encryption(for: name, key: id) }
    }

    private func key(_ id: [UInt8]) throws -> [UInt8] {
        if let key = keys.withLock({ $0[id] }) { return key }
        guard id.count == DataKeys.idSize else { throw DataKeys.Failure(description: "a key id of \(id.count) bytes") }
        let name = DataKeyFile.name(id)
        let path = storage.describe(name)
        let text: [UInt8]
        do { text = try storage.readAll(name, limit: 64 << 10) } catch StorageError.notFound {
            throw DataKeys.Failure(description: "\(path): missing (a file names a data key the repository does not have)")
        }
        let file = try DataKeyFile(text: String(decoding: text, as: UTF8.self), path: path, expected: id)
        guard file.generation == kek.generation else {
            throw DataKeys.Failure(description: "\(path): wrapped by passphrase generation \(file.generation), not \(kek.generation) (an unfinished rekey?)")
        }
        let key = try DataKeys.unwrap(file.wrapped, id: id, with: kek, what: path)
        keys.withLock { $0[id] = key }
        return key
    }
}
