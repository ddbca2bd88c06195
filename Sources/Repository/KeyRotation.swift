import StorageInterface
import PostgresFormat

/// `pgbk rekey`: the repository's passphrase changed by rewrapping its data keys, never
/// reading or rewriting a data file, so that it takes as long on a terabyte as on a
/// megabyte. The steps keep exactly one passphrase able to open the repository:
///
/// 1. `encryption.next.ini`: the next generation's settings (new salt and check value);
/// 2. every `keys/<G>/<id>.key` wrapped again into `keys/<G+1>/<id>.key`;
/// 3. the commit: encryption.ini replaced by the next generation's, all at once. Before
///    it the old passphrase opens the repository and the new one nothing; after it, the
///    reverse;
/// 4. the keys made while 2 ran wrapped too, then `encryption.next.ini` and `keys/<G>/`
///    removed.
///
/// A kill anywhere leaves a state a rerun completes: before the commit it resumes (or
/// starts again, if given another new passphrase), after it it finishes step 4. Writers
/// running meanwhile lose nothing: data keys never change, only their wrapping, and a
/// writer does not use a key made during a rekey (Keyring.writeKey checks).
public enum KeyRotation {
    public static let nextName = "encryption.next.ini"

    public struct Report: Sendable {
        public let generation: Int
        public let keys: Int
        /// A rerun that found the commit made and only cleaned up.
        public let finishedEarlierRun: Bool
    }

    public static func run(_ storage: any RepositoryStorage, old: () throws -> [UInt8]?, new: [UInt8],
                           cost: (n: UInt64, r: UInt64, p: UInt64) = KeyEncryptionKey.defaultCost) throws -> Report {
        let lock = try storage.lock("rekey")
        defer { lock.release() }
        let path = storage.describe(EncryptionSettings.fileName)
        guard let current = try Keyring.settings(in: storage) else {
            throw DataKeys.Failure(description: "\(storage.location) is not encrypted (no encryption.ini): nothing to rekey")
        }
        if let done = try? current.unlock(passphrase: new, path: path) {
            return Report(generation: done.generation, keys: try finish(storage, from: nil, to: done), finishedEarlierRun: true)
        }
        guard let oldPassphrase = try old() else {
            throw DataKeys.Failure(description: "\(storage.location) is encrypted: set CIPHER_PASS_FILE or CIPHER_PASS_COMMAND to its current passphrase")
        }
        let oldKEK = try current.unlock(passphrase: oldPassphrase, path: path)
        let (next, newKEK) = try prepareNext(storage, after: current, passphrase: new, cost: cost)
        try FaultInjection.point("rekey-after-next")
        var count = try wrapAll(storage, from: oldKEK, to: newKEK)
        try FaultInjection.point("rekey-before-commit")
        try storage.writeAll(EncryptionSettings.fileName, Array(next.text().utf8))
        try FaultInjection.point("rekey-after-commit")
        count = max(count, try finish(storage, from: oldKEK, to: newKEK))
        return Report(generation: newKEK.generation, keys: count, finishedEarlierRun: false)
    }

    /// The next generation's settings: an earlier run's, if the new passphrase opens them,
    /// else new ones (an earlier run's, for another passphrase, removed with its keys).
    private static func prepareNext(_ storage: any RepositoryStorage, after current: EncryptionSettings, passphrase: [UInt8],
                                    cost: (n: UInt64, r: UInt64, p: UInt64)) throws -> (EncryptionSettings, KeyEncryptionKey) {
        let generation = current.generation + 1
        if let pending = try? Keyring.settings(in: storage, name: nextName), pending.generation == generation,
           let kek = try? pending.unlock(passphrase: passphrase, path: storage.describe(nextName)) {
            return (pending, kek)
        }
        try storage.remove(nextName)
        try storage.removeTree(DataKeyFile.directory(generation: generation))
        let (settings, kek) = try EncryptionSettings.make(passphrase: passphrase, cost: cost, generation: generation)
        try storage.writeAll(nextName, Array(settings.text().utf8), noReplace: true)
        return (settings, kek)
    }

    /// Every key of `from`'s generation wrapped by `to` too (those already are, skipped).
    private static func wrapAll(_ storage: any RepositoryStorage, from: KeyEncryptionKey, to: KeyEncryptionKey) throws -> Int {
        let source = DataKeyFile.directory(generation: from.generation)
        try storage.makeDirectories(DataKeyFile.directory(generation: to.generation))
        var count = 0
        for entry in try storage.list(source) where entry.kind == .file && entry.name.hasSuffix(".key") {
            guard let id = Hex.decode(String(entry.name.dropLast(4))), id.count == DataKeys.idSize else { continue }
            count += 1
            let target = DataKeyFile.name(id, generation: to.generation)
            if (try? unwrap(storage, target, id: id, with: to)) != nil { continue }
            let key = try unwrap(storage, DataKeyFile.name(id, generation: from.generation), id: id, with: from)
            let file = DataKeyFile(id: id, generation: to.generation, wrapped: try DataKeys.wrap(key, id: id, with: to))
            try storage.writeAll(target, Array(file.text().utf8))
            try FaultInjection.point("rekey-wrapped-key")
        }
        return count
    }

    /// After the commit: the keys made meanwhile wrapped (when the old key-encryption key is
    /// at hand), then every older generation's files removed. Returns the keys counted.
    private static func finish(_ storage: any RepositoryStorage, from old: KeyEncryptionKey?, to new: KeyEncryptionKey) throws -> Int {
        let count = try old.map { try wrapAll(storage, from: $0, to: new) }
            ?? storage.list(DataKeyFile.directory(generation: new.generation)).count
        try storage.remove(nextName)
        for entry in try storage.list(DataKeyFile.directory) where entry.kind == .directory {
            if let generation = Int(entry.name), generation < new.generation {
                try storage.removeTree(DataKeyFile.directory(generation: generation))
            }
        }
        return count
    }

    private static func unwrap(_ storage: any RepositoryStorage, _ name: String, id: [UInt8], with kek: KeyEncryptionKey) throws -> [UInt8] {
        let path = storage.describe(name)
        return try DataKeyFile.key(text: try storage.readText(name, limit: 64 << 10), path: path, id: id, kek: kek)
    }
}
