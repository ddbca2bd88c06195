#if canImport(Glibc)
import StorageInterface
@preconcurrency import Glibc
#endif

/// A repository in a local (or NFS-mounted) directory. Its guarantees are the ones pgbk has
/// always given: a file is written under a temp name no other writer uses, fsynced, and
/// renamed (or, for no-replace, hard-linked) to its final name; callers fsync the directory
/// once per batch. Large files are written with their writeback streamed (DirectFile.Caching).
public struct PosixStorage: RepositoryStorage {
    public let root: String
    public var location: String { root }
    public var features: StorageFeatures { [.directories, .fsync, .fileLocks, .rename] }

    /// Whether each file is fsynced before its rename (see deferringDurability).
    let syncEachFile: Bool

    public init(root: String) {
        self.root = root
        syncEachFile = true
    }

    private init(root: String, syncEachFile: Bool) {
        self.root = root
        self.syncEachFile = syncEachFile
    }

    /// Deferred to one syncfs only where the kernel's syncfs reports write errors (5.8+):
    /// elsewhere each file is still fsynced before its rename.
    public func deferringDurability() -> any RepositoryStorage {
        PosixStorage(root: root, syncEachFile: !FileSystem.syncfsReportsErrors)
    }

    public func syncAll(_ name: String) throws { try FileSystem.syncFilesystem(path(name)) }

    /// A killed writer's temp files lie inside the backup it wrote (removed with it when it is
    /// marked ERROR) or the WAL directory (removed by purge): nothing else to discard.
    public func discardAbandonedWrites() throws -> Int { 0 }

    public func path(_ name: String) -> String { name.isEmpty ? root : root + "/" + name }
    public func describe(_ name: String) -> String { path(name) }

    public func openRead(_ name: String, range: Range<UInt64>?) throws -> any StorageReadStream {
        do { return try PosixReadStream(path: path(name), range: range) } catch let e as SystemError where e.isNotFound {
            throw StorageError.notFound(describe(name))
        }
    }

    public func openWrite(_ name: String, expectedSize: UInt64?, noReplace: Bool) throws -> any StorageWriteStream {
        try PosixWriteStream(storage: self, path: path(name), expectedSize: expectedSize, noReplace: noReplace)
    }

    public func list(_ prefix: String) throws -> [StorageEntry] {
        let dir = path(prefix)
        let names: [String]
        do { names = try FileSystem.list(dir) } catch let e as SystemError where e.isNotFound { return [] }
        return names.map { name in
            // An entry that cannot be examined is still listed, with an unknown (zero) size
            // and age: callers keep what they cannot judge.
            guard let status = try? FileSystem.status(dir + "/" + name, followLinks: true) else {
                return StorageEntry(name: name, kind: .file, size: 0, mtime: 0)
            }
            return StorageEntry(name: name, kind: status.kind == .directory ? .directory : .file, size: status.size, mtime: status.mtime)
        }
    }

    public func info(_ name: String) throws -> StorageEntry? {
        do {
            let status = try FileSystem.status(path(name), followLinks: true)
            return StorageEntry(name: FileSystem.baseName(of: name), kind: status.kind == .directory ? .directory : .file,
                                size: status.size, mtime: status.mtime)
        } catch let e as SystemError where e.isNotFound {
            return nil
        }
    }

    public func remove(_ name: String) throws { try FileSystem.remove(path(name)) }
    public func removeTree(_ prefix: String) throws { try FileSystem.removeTree(path(prefix)) }
    public func makeDirectories(_ name: String) throws { try FileSystem.makeDirectories(path(name)) }

    public func removeEmptyDirectory(_ name: String) throws {
        guard rmdir(path(name)) == 0 || errno == ENOTEMPTY || errno == EEXIST || errno == ENOENT else {
            throw SystemError("remove directory", path(name))
        }
    }

    /// In the deferring view, nothing: its syncAll (one syncfs) makes the directories durable
    /// with the files, and a copy of a million files had fsynced its directory a million times.
    public func syncDirectory(_ name: String) throws {
        guard syncEachFile else { return }
        try FileSystem.syncDirectory(path(name))
    }

    /// flock(2) on a file in the repository: it holds across the hosts that share an NFS
    /// mount, and the kernel drops it when the holder dies.
    public func lock(_ name: String) throws -> any StorageLock { try FileLock(path: path(name)) }

    /// A name in the same directory that no other writer, on this host or another sharing
    /// the directory, uses: the PID alone repeats across hosts.
    static func temporaryPath(for path: String) -> String {
        FileSystem.parentDirectory(of: path) + "/." + FileSystem.baseName(of: path)
            + ".tmp.\(getpid()).\(String(UInt64.random(in: 0...UInt64.max), radix: 16))"
    }
}

final class PosixReadStream: StorageReadStream {
    private let file: OpenFile
    private var remaining: UInt64?

    init(path: String, range: Range<UInt64>?) throws {
        file = try OpenFile(reading: path)
        if let range {
            try file.seek(to: range.lowerBound)
            remaining = range.upperBound - range.lowerBound
        } else {
            file.adviseSequential()
        }
    }

    func readSome(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let left = remaining else { return try file.read(into: buffer) }
        guard left > 0 else { return 0 }
        let n = try file.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer.prefix(Int(min(UInt64(buffer.count), left)))))
        remaining = left - UInt64(n)
        return n
    }

    func close() { file.close() }
}

final class PosixWriteStream: StorageWriteStream {
    let storage: PosixStorage
    let path: String
    let tempPath: String
    private let file: DirectFile
    private let noReplace: Bool

    init(storage: PosixStorage, path: String, expectedSize: UInt64?, noReplace: Bool) throws {
        self.storage = storage
        self.path = path
        self.noReplace = noReplace
        tempPath = PosixStorage.temporaryPath(for: path)
        file = try DirectFile(creating: tempPath, expectedSize: expectedSize, caching: .streamed)
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws { try file.append(bytes) }

    func commit() throws { try publish(at: path) }

    func commit(as name: String) throws { try publish(at: storage.path(name)) }

    private func publish(at target: String) throws {
        do {
            try file.finish(sync: storage.syncEachFile)
            if noReplace {
                do { try FileSystem.linkNoReplace(tempPath, target) } catch let e as SystemError where e.code == EEXIST {
                    throw StorageError.exists(target)
                }
                try FileSystem.remove(tempPath)
            } else {
                try FileSystem.rename(tempPath, target)
            }
        } catch {
            abandon()
            throw error
        }
    }

    func abandon() {
        file.close()
        try? FileSystem.remove(tempPath)
    }
}
