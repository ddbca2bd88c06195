#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import PostgresFormat

/// An archived WAL file: `wal/<first 16 hex digits>/<name>-<crc32c>[.gz]` for segments,
/// partial segments and backup history files; `wal/<name>-<crc32c>` for timeline history.
/// The checksum of the original content is part of the name, so one rename stores both.
public struct ArchivedWAL: Sendable, Equatable {
    public let walName: String
    public let path: String
    public let checksum: UInt32
    public let compression: Compression
}

public struct WALArchiveStore: Sendable {
    public let root: String
    public let segmentSize: UInt64

    public init(root: String, segmentSize: UInt64) {
        self.root = root
        self.segmentSize = segmentSize
    }

    public func directory(for walName: String) -> String {
        let isSegmentLike = walName.count >= 24 && walName.prefix(24).allSatisfy(\.isHexDigit)
        return isSegmentLike ? root + "/" + walName.prefix(16) : root
    }

    /// Splits a stored name into WAL name, checksum and compression; nil for anything else.
    static func parseStoredName(_ name: String) -> (walName: String, checksum: UInt32, compression: Compression)? {
        let compression = Compression.of(storedName: name)
        let base = name.dropLast(compression.fileSuffix.count)
        guard base.count > 9, let dash = base.lastIndex(of: "-"),
              let crc = CRC32C.parseHex(base[base.index(after: dash)...]) else { return nil }
        return (String(base[..<dash]), crc, compression)
    }

    /// The archived copy of `walName`, if any. More than one copy means two writers raced
    /// with different content: that is reported, never resolved by guessing.
    public func find(_ walName: String) throws -> ArchivedWAL? {
        let dir = directory(for: walName)
        let names: [String]
        do { names = try FileSystem.list(dir) } catch let e as SystemError where e.isNotFound { return nil }
        let matches = names.filter { $0.hasPrefix(walName + "-") }.compactMap { stored -> ArchivedWAL? in
            guard let parsed = Self.parseStoredName(stored), parsed.walName == walName else { return nil }
            return ArchivedWAL(walName: walName, path: dir + "/" + stored, checksum: parsed.checksum, compression: parsed.compression)
        }
        if matches.count > 1 {
            throw CatalogError.corrupt(dir, "\(matches.count) different archived copies of \(walName): \(matches.map { FileSystem.baseName(of: $0.path) }.joined(separator: ", "))")
        }
        return matches.first
    }

    /// Every archived file name in one archive directory (WAL names, not stored names).
    public func list(directory: String) throws -> [ArchivedWAL] {
        let names: [String]
        do { names = try FileSystem.list(directory) } catch let e as SystemError where e.isNotFound { return [] }
        return names.compactMap { stored in
            Self.parseStoredName(stored).map {
                ArchivedWAL(walName: $0.walName, path: directory + "/" + stored, checksum: $0.checksum, compression: $0.compression)
            }
        }
    }

    public func storedName(walName: String, checksum: UInt32, compression: Compression) -> String {
        walName + "-" + CRC32C.hex(checksum) + compression.fileSuffix
    }
}

extension WALArchiveStore {
    /// Publication of an archived file (check for a copy, then link) happens under this lock,
    /// so two archive-push of one name, from a primary and a standby or a retried
    /// archive_command, can never both publish. Held for milliseconds: the data is written
    /// before it is taken.
    public func lockForPublication() throws -> FileLock {
        try FileLock(path: root + "/.publish.lock")
    }

    /// A name no other writer of `walName` uses, on this host or another sharing the archive.
    public func temporaryName(for walName: String, compression: Compression) -> String {
        let random = UInt64.random(in: 0...UInt64.max)
        return directory(for: walName) + "/." + walName + compression.fileSuffix + ".tmp.\(getpid()).\(String(random, radix: 16))"
    }

    /// Removes what killed pushes left behind in `directory`: temp files (and the
    /// `NAME.incoming` files of pgbk before 0.2) untouched for an hour. No push takes that long.
    @discardableResult
    public func removeStaleTemporaries(in directory: String, now: Int64 = Timestamp.now().seconds) -> [String] {
        guard let names = try? FileSystem.list(directory) else { return [] }
        var removed: [String] = []
        for name in names where AtomicFile.isTemporaryName(name) || name.contains(".incoming") {
            let path = directory + "/" + name
            guard let status = try? FileSystem.status(path), status.kind == .regular,
                  status.mtime < now - 3600 else { continue }
            if (try? FileSystem.remove(path)) != nil { removed.append(name) }
        }
        return removed
    }

    /// Whether an archived copy still matches the checksum in its name.
    public func isIntact(_ archived: ArchivedWAL) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        return StoredFileReader.verify(path: archived.path, compression: archived.compression,
                                       size: nil, checksum: archived.checksum, buffer: &buffer) == nil
    }
}

/// An exclusive flock(2) on a file, waited for; released by the kernel if the holder dies.
public final class FileLock {
    private var fd: Int32
    public let path: String

    public init(path: String) throws {
        self.path = path
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SystemError("open lock file", path) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else {
                let error = SystemError("lock", path)
                close(fd)
                fd = -1
                throw error
            }
        }
    }

    deinit { release() }

    public func release() {
        guard fd >= 0 else { return }
        flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }
}
