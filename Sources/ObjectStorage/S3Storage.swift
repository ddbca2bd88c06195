import StorageInterface
import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// A repository in an S3 bucket (under a key prefix): names map to keys one to one, a
/// "directory" is a key prefix, a write is one PUT or one completed multipart upload, so an
/// object is visible only whole. See docs/repository-format.md, "Object storage".
public struct S3Storage: RepositoryStorage {
    public let client: S3Client
    public var settings: S3Settings { client.settings }

    public init(settings: S3Settings) throws(S3Error) {
        client = try S3Client(settings: settings)
    }

    public var location: String { settings.location }
    public var features: StorageFeatures { [] }

    public func describe(_ name: String) -> String {
        name.isEmpty ? location : location + "/" + name
    }

    public func openRead(_ name: String, range: Range<UInt64>?) throws -> any StorageReadStream {
        try S3ReadStream(client: client, key: settings.key(name), described: describe(name), range: range,
                         chunkSize: settings.readChunkSize, readAhead: settings.readAhead)
    }

    public func openWrite(_ name: String, expectedSize: UInt64?, noReplace: Bool) throws -> any StorageWriteStream {
        S3WriteStream(client: client, key: settings.key(name), described: describe(name), noReplace: noReplace,
                      data: Self.isData(name), partSize: settings.partSize, expectedSize: expectedSize)
    }

    /// Backup data (`backup/<ID>/data/`, `bundle/`, `srvlog/`) and archived WAL
    /// (`wal/<16 hex>/`, `wal/receiving/`): what S3_STORAGE_CLASS applies to. The rest is the
    /// catalog, read by every command.
    static func isData(_ name: String) -> Bool {
        let parts = name.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false)
        switch parts.first {
        case "wal": return parts.count >= 3
        case "backup": return parts.count >= 4 && (parts[2] == "data" || parts[2] == "bundle" || parts[2] == "srvlog")
        default: return false
        }
    }

    public func list(_ prefix: String) throws -> [StorageEntry] {
        let keyPrefix = listPrefix(prefix)
        let listing = try client.list(prefix: keyPrefix, delimiter: "/")
        var entries: [StorageEntry] = []
        for object in listing.objects {
            let name = String(object.key.dropFirst(keyPrefix.count))
            guard !name.isEmpty else { continue }
            entries.append(StorageEntry(name: name, kind: .file, size: object.size, mtime: object.mtime))
        }
        for p in listing.prefixes {
            let name = String(p.dropFirst(keyPrefix.count).dropLast())
            guard !name.isEmpty else { continue }
            entries.append(StorageEntry(name: name, kind: .directory, size: 0, mtime: 0))
        }
        return entries.sorted { $0.name < $1.name }
    }

    public func info(_ name: String) throws -> StorageEntry? {
        let base = String(name.split(separator: "/").last ?? "")
        if let object = try client.head(settings.key(name)) {
            return StorageEntry(name: base, kind: .file, size: object.size, mtime: object.mtime)
        }
        // A "directory" exists while a key lies below it.
        let below = try client.list(prefix: listPrefix(name), delimiter: "/")
        guard !below.objects.isEmpty || !below.prefixes.isEmpty else { return nil }
        return StorageEntry(name: base, kind: .directory, size: 0, mtime: 0)
    }

    public func remove(_ name: String) throws {
        try client.delete(settings.key(name))
    }

    public func removeTree(_ prefix: String) throws {
        let keyPrefix = listPrefix(prefix)
        var keys = try client.list(prefix: keyPrefix, delimiter: nil).objects.map(\.key)
        if !prefix.isEmpty { keys.append(settings.key(prefix)) }
        try client.delete(keys: keys)
        // Servers that keep directories (SeaweedFS's filer) would go on listing the emptied
        // ones: their markers ("dir/") go too, deepest first. Elsewhere there are none, and
        // deleting a key that does not exist succeeds.
        var directories = Set<String>()
        for key in keys where key.hasPrefix(keyPrefix) {
            var rest = key.dropFirst(keyPrefix.count)
            while let slash = rest.lastIndex(of: "/") {
                rest = rest[..<slash]
                directories.insert(keyPrefix + rest + "/")
            }
        }
        if !prefix.isEmpty { directories.insert(keyPrefix) }
        for depth in Set(directories.map { $0.split(separator: "/").count }).sorted(by: >) {
            try client.delete(keys: directories.filter { $0.split(separator: "/").count == depth }.sorted())
        }
    }

    // Prefixes need neither creating nor removing, and a PUT is durable when it returns.
    public func removeEmptyDirectory(_ name: String) throws {}
    public func makeDirectories(_ name: String) throws {}
    public func syncDirectory(_ name: String) throws {}

    /// A completed write is durable already.
    public func deferringDurability() -> any RepositoryStorage { self }
    public func syncAll(_ name: String) throws {}

    /// No lock a killed holder releases: a host lock and a lease (RepositoryLease).
    public var repositoryLockPath: String? { nil }
    /// Objects have no owner that a root writer could take away from postgres.
    public func checkWriter() throws {}

    /// Aborts the multipart uploads below the repository that began more than
    /// S3_UPLOAD_EXPIRY seconds ago: what a killed backup or push left, parts and all, which
    /// the store would otherwise keep (and bill) for ever.
    public func discardAbandonedWrites() throws -> Int {
        let prefix = settings.prefix.isEmpty ? "" : settings.prefix + "/"
        let cutoff = Int64(time(nil)) - Int64(settings.uploadExpirySeconds)
        var aborted = 0
        for upload in try client.listMultipartUploads(prefix: prefix) where upload.initiated <= cutoff {
            client.abortMultipartUpload(upload.key, uploadID: upload.uploadID)
            aborted += 1
        }
        return aborted
    }

    /// Locks on this host (docs/architecture.md, "Locks"): S3 has no lock primitive that a
    /// killed holder releases, so writers of one repository must share a host, as with
    /// pgBackRest's lock-path.
    public func lock(_ name: String) throws -> any StorageLock {
        try FileLock(path: HostLocks.path(for: location + "/" + name), hostShared: true)
    }

    /// The key prefix whose keys are the entries below `name`.
    private func listPrefix(_ name: String) -> String {
        let key = settings.key(name)
        return key.isEmpty ? "" : key + "/"
    }
}
