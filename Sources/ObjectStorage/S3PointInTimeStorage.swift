import StorageInterface
import Repository

/// A repository in a versioned bucket read as it was at `time` (`--repo-target-time`, as
/// pgBackRest's repo-target-time): each object is the version that was current then, and an
/// object deleted or overwritten since reads as it was. For the day someone with the
/// credentials deleted or overwrote the backups: with Object Lock the old versions cannot
/// have been removed. Only reads: everything but the lock leases (`locks/`, which a shared
/// restore lock writes in the live bucket) is refused, so nothing acts on the past as if it
/// were the present.
public struct S3PointInTimeStorage: RepositoryStorage {
    public let live: S3Storage
    /// Seconds since the epoch; S3 times versions to the second.
    public let time: Int64
    /// The time as the user gave it, for messages.
    public let described: String

    public init(_ live: S3Storage, at time: Int64, described: String) {
        self.live = live
        self.time = time
        self.described = described
    }

    public var location: String { live.location }
    public var features: StorageFeatures { live.features }
    public func describe(_ name: String) -> String { live.describe(name) }
    private var settings: S3Settings { live.settings }

    private static func isLive(_ name: String) -> Bool {
        name == RepositoryLease.directory || name.hasPrefix(RepositoryLease.directory + "/")
    }

    private func refuse(_ name: String) -> StorageError {
        .readOnly(describe(name), why: "the repository is being read as it was at \(described) (--repo-target-time)")
    }

    /// Each key's version that was current at `time`: the newest made at or before it,
    /// absent when that one is a delete marker. Within a key the newest comes first (S3's
    /// order, kept by the stable sort for versions of the same second).
    static func current(_ versions: [S3Client.ObjectVersion], at time: Int64) -> [String: S3Client.ObjectVersion] {
        var byKey: [String: [S3Client.ObjectVersion]] = [:]
        for version in versions where version.mtime <= time { byKey[version.key, default: []].append(version) }
        var result: [String: S3Client.ObjectVersion] = [:]
        for (key, list) in byKey {
            let newest = list.enumerated().max { a, b in
                a.element.mtime != b.element.mtime ? a.element.mtime < b.element.mtime : a.offset > b.offset
            }!.element
            if !newest.isDeleteMarker { result[key] = newest }
        }
        return result
    }

    private func version(of name: String) throws -> S3Client.ObjectVersion? {
        let key = settings.key(name)
        return Self.current(try live.client.listVersions(prefix: key).filter { $0.key == key }, at: time)[key]
    }

    public func openRead(_ name: String, range: Range<UInt64>?) throws -> any StorageReadStream {
        if Self.isLive(name) { return try live.openRead(name, range: range) }
        guard let version = try version(of: name) else { throw StorageError.notFound(describe(name)) }
        return try S3ReadStream(client: live.client, key: version.key, described: describe(name), range: range,
                                chunkSize: settings.readChunkSize, readAhead: settings.readAhead, versionId: version.versionId)
    }

    public func list(_ prefix: String) throws -> [StorageEntry] {
        if Self.isLive(prefix) { return try live.list(prefix) }
        let key = settings.key(prefix)
        let keyPrefix = key.isEmpty ? "" : key + "/"
        var files: [String: S3Client.ObjectVersion] = [:]
        var directories = Set<String>()
        for (key, version) in Self.current(try live.client.listVersions(prefix: keyPrefix), at: time) {
            let rest = key.dropFirst(keyPrefix.count)
            if let slash = rest.firstIndex(of: "/") {
                if slash != rest.startIndex { directories.insert(String(rest[..<slash])) }
            } else if !rest.isEmpty {
                files[String(rest)] = version
            }
        }
        let entries = files.map { StorageEntry(name: $0.key, kind: .file, size: $0.value.size, mtime: $0.value.mtime) }
            + directories.subtracting(files.keys).map { StorageEntry(name: $0, kind: .directory, size: 0, mtime: 0) }
        return entries.sorted { $0.name < $1.name }
    }

    public func info(_ name: String) throws -> StorageEntry? {
        if Self.isLive(name) { return try live.info(name) }
        let base = String(name.split(separator: "/").last ?? "")
        if let version = try version(of: name) {
            return StorageEntry(name: base, kind: .file, size: version.size, mtime: version.mtime)
        }
        return try list(name).isEmpty ? nil : StorageEntry(name: base, kind: .directory, size: 0, mtime: 0)
    }

    public func openWrite(_ name: String, expectedSize: UInt64?, noReplace: Bool) throws -> any StorageWriteStream {
        guard Self.isLive(name) else { throw refuse(name) }
        return try live.openWrite(name, expectedSize: expectedSize, noReplace: noReplace)
    }

    public func remove(_ name: String) throws {
        guard Self.isLive(name) else { throw refuse(name) }
        try live.remove(name)
    }

    public func removeTree(_ prefix: String) throws { throw refuse(prefix) }
    public func removeEmptyDirectory(_ name: String) throws {}
    public func makeDirectories(_ name: String) throws {}
    public func syncDirectory(_ name: String) throws {}
    public func deferringDurability() -> any RepositoryStorage { self }
    public func syncAll(_ name: String) throws {}
    public func discardAbandonedWrites() throws -> Int { 0 }
    public var repositoryLockPath: String? { nil }
    public func checkWriter() throws { throw refuse("") }
    public func lock(_ name: String) throws -> any StorageLock { try live.lock(name) }
}
