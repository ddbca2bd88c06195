import StorageInterface

/// An encrypted repository: every file passes through AES-256-GCM (EncryptedFormat) on its
/// way to and from the storage beneath, so that every writer and reader above (data,
/// WAL, catalog text, drill records, server logs, leases) is encrypted without knowing it.
/// Only encryption.ini and the key files are stored as they are: they say how to open
/// the rest, and each proves itself (a check value, wrapped keys). Names stay readable;
/// sizes read back as the original's, so that everything above sees the files it wrote.
public final class EncryptedStorage: RepositoryStorage {
    public let inner: any RepositoryStorage
    public let keyring: Keyring

    public init(_ inner: any RepositoryStorage, keyring: Keyring) {
        self.inner = inner
        self.keyring = keyring
    }

    /// Which data key encrypts `name`: the backup's, the WAL directory's (an epoch of 256
    /// segments of 16 MiB, in any generation's archive: `wal`, `wal-<n>`), or the catalog's;
    /// nil for the files stored as they are.
    public static func purpose(of name: String) -> String? {
        if name == EncryptionSettings.fileName || name == DataKeyFile.directory || name.hasPrefix(DataKeyFile.directory + "/") { return nil }
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count >= 3, parts[0] == "backup" || parts[0] == "wal" || parts[0].hasPrefix("wal-") { return parts[0] + "/" + parts[1] }
        return "repository"
    }

    public var location: String { inner.location }
    public var features: StorageFeatures { inner.features.union(.wholeReadsOnly) }
    public var repositoryLockPath: String? { inner.repositoryLockPath }
    public func describe(_ name: String) -> String { inner.describe(name) }

    public func openRead(_ name: String, range: Range<UInt64>?) throws -> any StorageReadStream {
        guard Self.purpose(of: name) != nil else { return try inner.openRead(name, range: range) }
        guard range == nil else { throw StorageError.readOnly(describe(name), why: "an encrypted file is read whole, not a range of it") }
        return DecryptingReadStream(try inner.openRead(name, range: nil), name: name, path: describe(name), keyring: keyring)
    }

    public func openWrite(_ name: String, expectedSize: UInt64?, noReplace: Bool) throws -> any StorageWriteStream {
        guard let purpose = Self.purpose(of: name) else { return try inner.openWrite(name, expectedSize: expectedSize, noReplace: noReplace) }
        let encryption = try keyring.writeKey(for: purpose)
        let stream = try inner.openWrite(name, expectedSize: expectedSize.map { EncryptedFormat.storedSize(plain: $0) }, noReplace: noReplace)
        do {
            return EncryptingWriteStream(stream, filter: try Encrypted(encryption, name: name))
        } catch {
            stream.abandon()
            throw error
        }
    }

    public func list(_ prefix: String) throws -> [StorageEntry] {
        try inner.list(prefix).map { plain($0, name: prefix.isEmpty ? $0.name : prefix + "/" + $0.name) }
    }

    public func info(_ name: String) throws -> StorageEntry? {
        try inner.info(name).map { plain($0, name: name) }
    }

    /// The entry with the original's size (a damaged file's as stored: reading it fails).
    private func plain(_ entry: StorageEntry, name: String) -> StorageEntry {
        guard entry.kind == .file, Self.purpose(of: name) != nil, let size = EncryptedFormat.plainSize(stored: entry.size) else { return entry }
        return StorageEntry(name: entry.name, kind: entry.kind, size: size, mtime: entry.mtime)
    }

    public func remove(_ name: String) throws { try inner.remove(name) }
    public func removeTree(_ prefix: String) throws { try inner.removeTree(prefix) }
    public func removeEmptyDirectory(_ name: String) throws { try inner.removeEmptyDirectory(name) }
    public func makeDirectories(_ name: String) throws { try inner.makeDirectories(name) }
    public func syncDirectory(_ name: String) throws { try inner.syncDirectory(name) }
    public func syncAll(_ name: String) throws { try inner.syncAll(name) }
    public func discardAbandonedWrites() throws -> Int { try inner.discardAbandonedWrites() }
    public func checkWriter() throws { try inner.checkWriter() }
    public func lock(_ name: String) throws -> any StorageLock { try inner.lock(name) }

    public func deferringDurability() -> any RepositoryStorage {
        EncryptedStorage(inner.deferringDurability(), keyring: keyring)
    }
}

/// Plaintext out of an encrypted file, every chunk proven before its bytes are handed on.
final class DecryptingReadStream: StorageReadStream {
    private let stream: any StorageReadStream
    private let decrypted: Decrypted

    init(_ stream: any StorageReadStream, name: String, path: String, keyring: Keyring) {
        self.stream = stream
        decrypted = Decrypted(from: Source(stream), name: name, path: path) { try keyring.readKey($0) }
    }

    func readSome(into buffer: UnsafeMutableRawBufferPointer) throws -> Int { try decrypted.read(into: buffer) }
    func close() { stream.close() }
}

/// Seals chunks as they fill; the last one, bound to the file's final name, at commit.
final class EncryptingWriteStream: StorageWriteStream {
    private let stream: any StorageWriteStream
    private let filter: Encrypted

    init(_ stream: any StorageWriteStream, filter: Encrypted) {
        self.stream = stream
        self.filter = filter
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        try filter.write(bytes) { try stream.write($0) }
    }

    func commit() throws {
        try filter.finish { try stream.write($0) }
        try stream.commit()
    }

    func commit(as name: String) throws {
        filter.name = name
        try filter.finish { try stream.write($0) }
        try stream.commit(as: name)
    }

    func abandon() { stream.abandon() }
}
