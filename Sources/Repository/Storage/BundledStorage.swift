import PostgresFormat
import StorageInterface
import Synchronization

/// Which stored files of a backup go into bundles: those whose stored size is at most
/// `limit`, packed into bundle objects closed once they hold `size` bytes (pgBackRest's
/// repo-bundle-limit and repo-bundle-size).
public struct BundlePolicy: Sendable, Equatable {
    public var limit: UInt64
    public var size: UInt64

    public static let defaultLimit: UInt64 = 2 << 20
    /// 4 MiB: on S3 an open bundle's write holds its bytes until the PUT (one per worker);
    /// a full of 100,000 small files is still a few dozen bundles.
    public static let defaultSize: UInt64 = 4 << 20

    public init(limit: UInt64 = defaultLimit, size: UInt64 = defaultSize) {
        self.limit = limit
        self.size = size
    }
}

/// Backups of many small files, bundled: on object storage each file is a request (and
/// requests are billed), so the small stored files of a backup are written one after another
/// into a few bundle objects, and read back with ranged reads. Everything above sees the
/// names it wrote (`backup/<ID>/data/...`): this layer resolves a bundled name through its
/// backup's `bundle.list` (BundleList), so that restore, validate and copy read bundled and
/// unbundled backups alike, and no file list changes. It sits beneath EncryptedStorage, so a
/// bundle holds sealed files, each still bound to its own name.
///
/// Only writes through `deferringDurability()` are bundled (those of a backup's data, which
/// become durable together at `syncAll`): a bundled file is visible once `syncAll` of its
/// backup has committed the open bundles and written the list.
public final class BundledStorage: RepositoryStorage {
    public let inner: any RepositoryStorage
    private let policy: BundlePolicy?
    private let state: BundleState
    /// For the view deferringDurability returns: the deferring storage bundles go to.
    private let writer: (any RepositoryStorage)?

    public init(_ inner: any RepositoryStorage, policy: BundlePolicy?) {
        self.inner = inner
        self.policy = policy
        self.state = BundleState()
        self.writer = nil
    }

    private init(view inner: any RepositoryStorage, policy: BundlePolicy?, state: BundleState, writer: any RepositoryStorage) {
        self.inner = inner
        self.policy = policy
        self.state = state
        self.writer = writer
    }

    public var location: String { inner.location }
    public var features: StorageFeatures { inner.features }
    public var repositoryLockPath: String? { inner.repositoryLockPath }

    public func describe(_ name: String) -> String {
        guard let (backup, member) = Self.split(name), let m = state.cached(backup)?.members[member] else { return inner.describe(name) }
        return "\(inner.describe(name)) (bytes \(m.offset)-\(m.offset + m.size) of \(inner.describe(BundleList.bundleName(backup: backup, m.bundle))))"
    }

    /// "backup/<ID>/data/<member>" -> ("backup/<ID>", member).
    static func split(_ name: String) -> (backup: String, member: String)? {
        let parts = name.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "backup", parts[2] == "data", Repository.isBackupID(String(parts[1])) else { return nil }
        return ("backup/" + parts[1], String(parts[3]))
    }

    private func member(_ name: String) throws -> (backup: String, member: BundleList.Member)? {
        guard let (backup, member) = Self.split(name), let list = try state.list(backup, from: inner),
              let m = list.members[member] else { return nil }
        return (backup, m)
    }

    public func openRead(_ name: String, range: Range<UInt64>?) throws -> any StorageReadStream {
        guard let (backup, m) = try member(name) else { return try inner.openRead(name, range: range) }
        let lower = min(range?.lowerBound ?? 0, m.size), upper = min(range?.upperBound ?? m.size, m.size)
        guard lower < upper else { return BytesReadStream([]) }
        let bundle = BundleList.bundleName(backup: backup, m.bundle)
        let range = m.offset + lower ..< m.offset + upper
        if let size = state.cached(backup)?.bundles[m.bundle]?.size,
           let bytes = try state.windows.read(bundle, range, bundleSize: size, from: inner) {
            return BytesReadStream(bytes)
        }
        return try inner.openRead(bundle, range: range)
    }

    public func openWrite(_ name: String, expectedSize: UInt64?, noReplace: Bool) throws -> any StorageWriteStream {
        // Decided on the stored size, whatever the hint says: a page delta of a large
        // relation, or a file that compresses well, is small once stored.
        guard let writer, let policy, !noReplace, let (backup, member) = Self.split(name) else {
            return try (writer ?? inner).openWrite(name, expectedSize: expectedSize, noReplace: noReplace)
        }
        return BundlingWriteStream(name: name, member: member, limit: policy.limit, expectedSize: expectedSize, storage: writer,
                                   session: { self.state.session(backup, writer: writer, base: self.inner, policy: policy) })
    }

    public func list(_ prefix: String) throws -> [StorageEntry] { try inner.list(prefix) }

    public func info(_ name: String) throws -> StorageEntry? {
        if let (_, m) = try member(name) {
            return StorageEntry(name: String(name[name.index(after: name.lastIndex(of: "/")!)...]), kind: .file, size: m.size, mtime: 0)
        }
        return try inner.info(name)
    }

    public func remove(_ name: String) throws {
        if let (backup, member) = Self.split(name), state.removeWritten(backup, member) { return }
        if name.hasSuffix("/bundle.list") { state.forget(below: Self.parent(of: name)) }
        try inner.remove(name)
    }

    public func removeTree(_ prefix: String) throws {
        state.forget(below: prefix)
        try inner.removeTree(prefix)
    }

    public func removeEmptyDirectory(_ name: String) throws { try inner.removeEmptyDirectory(name) }
    public func makeDirectories(_ name: String) throws { try inner.makeDirectories(name) }
    /// Through the deferring writer where this is its view (PosixStorage's defers to syncAll).
    public func syncDirectory(_ name: String) throws { try (writer ?? inner).syncDirectory(name) }

    /// Closes the bundles of the backups at or below `name` and writes their lists, after
    /// making the bundles durable.
    public func syncAll(_ name: String) throws {
        try state.finishSessions(at: name)
        try (writer ?? inner).syncAll(name)
    }

    public func deferringDurability() -> any RepositoryStorage {
        if writer != nil { return self }
        return BundledStorage(view: inner, policy: policy, state: state, writer: inner.deferringDurability())
    }

    public func discardAbandonedWrites() throws -> Int { try inner.discardAbandonedWrites() }
    public func checkWriter() throws { try inner.checkWriter() }
    public func lock(_ name: String) throws -> any StorageLock { try inner.lock(name) }
}

/// A file that may go into a bundle: held in memory up to the limit, then, if larger,
/// written as a file of its own after all.
final class BundlingWriteStream: StorageWriteStream {
    private let name: String
    private let member: String
    private let limit: UInt64
    private let expectedSize: UInt64?
    private let storage: any RepositoryStorage
    private let session: () -> BundleSession
    private var buffer: [UInt8] = []
    private var direct: (any StorageWriteStream)?

    init(name: String, member: String, limit: UInt64, expectedSize: UInt64?, storage: any RepositoryStorage,
         session: @escaping () -> BundleSession) {
        self.name = name
        self.member = member
        self.limit = limit
        self.expectedSize = expectedSize
        self.storage = storage
        self.session = session
    }

    private func goDirect() throws -> any StorageWriteStream {
        if let direct { return direct }
        let stream = try storage.openWrite(name, expectedSize: expectedSize, noReplace: false)
        direct = stream
        try buffer.withUnsafeBytes { try stream.write($0) }
        buffer = []
        return stream
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        if direct == nil && UInt64(buffer.count + bytes.count) <= limit {
            buffer.append(contentsOf: bytes)
            return
        }
        try goDirect().write(bytes)
    }

    func commit() throws {
        if let direct { return try direct.commit() }
        try session().append(member, buffer)
        buffer = []
    }

    func commit(as name: String) throws { try goDirect().commit(as: name) }

    func abandon() {
        direct?.abandon()
        buffer = []
    }
}

extension Repository {
    /// The storage beneath the bundling layer (which changes only how a backup's small files
    /// are stored): the driver itself, or the encryption over it.
    public var driver: any RepositoryStorage { (storage as? BundledStorage)?.inner ?? storage }
}
