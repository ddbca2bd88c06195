/// Where a repository's files live, addressed by repository-relative names
/// ("backup/20261122-163700F/backup.ini", "wal/0000000100000000/..."). The POSIX driver is a
/// directory tree; an object store maps names to keys. Everything that reads or writes the
/// repository goes through this seam, so that a new place to keep backups is one new driver.
public protocol RepositoryStorage: Sendable {
    /// What the repository is, for messages: a path, or a URL.
    var location: String { get }
    var features: StorageFeatures { get }

    /// A name as a user should see it in a message (the full path of a POSIX file).
    func describe(_ name: String) -> String

    /// Reads `name` from the start, or only `range` of it (not where the features say
    /// `wholeReadsOnly`); StorageError.notFound when absent.
    func openRead(_ name: String, range: Range<UInt64>?) throws -> any StorageReadStream

    /// Writes `name`: nothing is visible under that name until `commit` succeeds, and then
    /// the whole content is. With `noReplace`, `commit` fails (StorageError.exists) when the
    /// name exists instead of replacing it. `expectedSize` is a hint (streamed writeback, multipart).
    func openWrite(_ name: String, expectedSize: UInt64?, noReplace: Bool) throws -> any StorageWriteStream

    /// The entries directly below `prefix` (a "directory" name, "" for the root), sorted by
    /// name; subdirectories (or common key prefixes) as entries of kind `.directory`.
    func list(_ prefix: String) throws -> [StorageEntry]

    /// What is known of `name`, nil when it does not exist.
    func info(_ name: String) throws -> StorageEntry?

    /// Removes a file; a missing one is fine.
    func remove(_ name: String) throws

    /// Removes everything at and below `prefix`; a missing one is fine.
    func removeTree(_ prefix: String) throws

    /// Removes a directory if it is empty (a concurrent writer may just have put a file in
    /// it: then it stays); nothing where directories do not exist on their own.
    func removeEmptyDirectory(_ name: String) throws

    /// Creates a directory and its parents where directories exist (POSIX); else nothing.
    func makeDirectories(_ name: String) throws

    /// Makes the creations and removals in a directory durable where that means something.
    func syncDirectory(_ name: String) throws

    /// The same storage, but a file written through it is durable only once `syncAll`
    /// returns: a backup writes thousands of files and makes them durable together, before
    /// it is marked DONE (a crash before that leaves a backup nothing restores). Where every
    /// write is durable when it returns (object storage), the storage itself.
    func deferringDurability() -> any RepositoryStorage

    /// Makes every write completed so far below `name` durable (on POSIX, syncfs of the
    /// filesystem holding that directory, which need not be the repository root's).
    func syncAll(_ name: String) throws

    /// Discards writes that were begun long ago and never committed nor abandoned (a killed
    /// writer's: an object store's multipart uploads), returning how many. Drivers whose
    /// unfinished writes are temp files inside what they belong to have nothing to do here.
    func discardAbandonedWrites() throws -> Int

    /// Where the repository lock lives inside the store, when the store has file locks that
    /// hold between its users (a POSIX directory, also over NFS); nil otherwise, and then
    /// RepositoryLock uses a host lock and a lease in the store.
    var repositoryLockPath: String? { get }

    /// Refuses a writer that would leave the repository unwritable for its owner (root
    /// writing into a directory the postgres user owns); nothing where that cannot happen.
    func checkWriter() throws

    /// An exclusive lock named `name`, waited for; released by `release` (and, on POSIX, by
    /// the kernel when the holder dies). For the few steps that must not interleave between
    /// writers sharing the repository, such as archive-push's check-then-publish.
    func lock(_ name: String) throws -> any StorageLock
}

public protocol StorageLock: AnyObject {
    func release()
}

extension RepositoryStorage {
    public func openRead(_ name: String) throws -> any StorageReadStream { try openRead(name, range: nil) }

    public func openWrite(_ name: String, expectedSize: UInt64? = nil) throws -> any StorageWriteStream {
        try openWrite(name, expectedSize: expectedSize, noReplace: false)
    }

    /// A whole small file (catalog text), read with a size limit.
    public func readAll(_ name: String, limit: Int = 16 << 20) throws -> [UInt8] {
        let stream = try openRead(name)
        defer { stream.close() }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = try chunk.withUnsafeMutableBytes { try stream.read(into: $0) }
            if n == 0 { break }
            result.append(contentsOf: chunk[0..<n])
            if result.count > limit { throw StorageError.tooLarge(describe(name), limit: limit) }
        }
        return result
    }

    public func readText(_ name: String, limit: Int = 16 << 20) throws -> String {
        String(decoding: try readAll(name, limit: limit), as: UTF8.self)
    }

    /// Replaces (or creates) a whole small file atomically and durably.
    public func writeAll(_ name: String, _ bytes: [UInt8], noReplace: Bool = false) throws {
        let stream = try openWrite(name, expectedSize: UInt64(bytes.count), noReplace: noReplace)
        do {
            try bytes.withUnsafeBytes { try stream.write($0) }
            try stream.commit()
        } catch {
            stream.abandon()
            throw error
        }
        try syncDirectory(Self.parent(of: name))
    }

    public func exists(_ name: String) throws -> Bool { try info(name) != nil }

    /// "a/b/c" -> "a/b"; "c" -> "".
    public static func parent(of name: String) -> String {
        guard let slash = name.lastIndex(of: "/") else { return "" }
        return String(name[..<slash])
    }
}

/// What a driver can do; commands skip what means nothing on a store.
public struct StorageFeatures: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// Directories exist on their own (and must be created and fsynced).
    public static let directories = StorageFeatures(rawValue: 1 << 0)
    /// fsync makes writes durable (an object store's PUT already is).
    public static let fsync = StorageFeatures(rawValue: 1 << 1)
    /// flock(2) works on its files, across the hosts that share them.
    public static let fileLocks = StorageFeatures(rawValue: 1 << 2)
    /// A write can be published under a name chosen after its content was written
    /// (`StorageWriteStream.commit(as:)`): a rename. An object store knows its key first.
    public static let rename = StorageFeatures(rawValue: 1 << 3)
    /// Files are read whole, from their start: `openRead` takes no range (an encrypted
    /// repository, whose chunks are sealed whole).
    public static let wholeReadsOnly = StorageFeatures(rawValue: 1 << 4)
}

public struct StorageEntry: Sendable, Equatable {
    public enum Kind: Sendable { case file, directory }
    public let name: String
    public let kind: Kind
    public let size: UInt64
    public let mtime: Int64

    public init(name: String, kind: Kind, size: UInt64, mtime: Int64) {
        self.name = name
        self.kind = kind
        self.size = size
        self.mtime = mtime
    }
}

/// A stored file being read. A driver implements `readSome`, which may return fewer bytes
/// than asked (an object store's ranged GET ends, a network read returns what has arrived);
/// everything else reads through `read(into:)`, which fills the buffer unless the file ends
/// first, so that no consumer ever sees a short read in the middle of a file (pgBackRest's
/// ioRead does the same). `StorageContractTests` hold every driver, and every command path,
/// to this with a driver that returns 1..N bytes per call.
public protocol StorageReadStream: AnyObject {
    /// Up to `buffer.count` bytes, at least one unless the file has ended (then 0).
    func readSome(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
    func close()
}

extension StorageReadStream {
    /// Fills `buffer`; fewer bytes only at the end of the file, 0 once it has ended.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var filled = 0
        while filled < buffer.count {
            let n = try readSome(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
            if n == 0 { break }
            filled += n
        }
        return filled
    }
}

public protocol StorageWriteStream: AnyObject {
    func write(_ bytes: UnsafeRawBufferPointer) throws
    /// Makes the content durable and visible under the final name, all at once.
    func commit() throws
    /// The same under another name of the same directory, chosen now (only where the storage
    /// has the `.rename` feature; others throw).
    func commit(as name: String) throws
    /// Drops what was written; the final name is untouched.
    func abandon()
}

public enum StorageError: Error, Sendable, Equatable, CustomStringConvertible {
    case exists(String)
    /// A name that is not there, as every driver reports it (a POSIX ENOENT, an S3 404 or
    /// NoSuchKey): its own case, never a faked errno.
    case notFound(String)
    case tooLarge(String, limit: Int)
    case injected(String)
    /// A write into a storage that only reads (a repository as it was at a past time).
    case readOnly(String, why: String)

    public var description: String {
        switch self {
        case .exists(let name): return "\(name) already exists"
        case .notFound(let name): return "\(name) does not exist"
        case .tooLarge(let name, let limit): return "\(name) is larger than \(limit) bytes"
        case .injected(let what): return "injected storage failure: \(what)"
        case .readOnly(let name, let why): return "\(name) cannot be written: \(why)"
        }
    }

    public var isExists: Bool { if case .exists = self { return true } else { return false } }
}
