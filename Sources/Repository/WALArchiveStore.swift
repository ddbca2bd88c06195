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
