import PostgresFormat
import StorageInterface

/// `wal/receiving/`: the segment `pgbk receive-wal` is receiving, as `<segment>.partial`. In a
/// directory repository it is the file receive-wal writes in place, at the segment's full size
/// (zeros past what was received) and fdatasync'ed before each flush it reports; in an object
/// store it is an object replaced every --partial-interval with what was received so far.
/// Its name carries no checksum (it changes while it is written): each WAL record in it
/// carries its own CRC, which recovery and the reachability proof check. Once whole, the
/// segment is archived as archive-push archives it and the partial removed.
public struct ReceivedPartials: Sendable {
    public static let directory = Repository.walRootName + "/receiving"
    public let storage: any RepositoryStorage
    public let segmentSize: UInt64

    public struct Partial: Sendable, Equatable {
        public let segment: WALSegmentName
        /// The repository-relative name, for the storage.
        public let name: String
        public let size: UInt64
        public let mtime: Int64
    }

    public init(storage: any RepositoryStorage, segmentSize: UInt64) {
        self.storage = storage
        self.segmentSize = segmentSize
    }

    public static func name(of segment: String) -> String { directory + "/" + segment + ".partial" }

    /// Every partial, oldest segment first; anything else in the directory is ignored.
    public func list() throws -> [Partial] {
        try storage.list(Self.directory).compactMap { entry in
            let base = entry.name.split(separator: "/").last.map(String.init) ?? entry.name
            guard entry.kind == .file, base.hasSuffix(".partial"),
                  let segment = WALSegmentName(base.dropLast(8), segmentSize: segmentSize) else { return nil }
            return Partial(segment: segment, name: Self.name(of: segment.name), size: entry.size, mtime: entry.mtime)
        }.sorted { $0.segment < $1.segment }
    }

    /// The partial of `segment`, nil when receive-wal is not receiving it. One larger than
    /// a segment is not WAL this repository's cluster wrote.
    public func find(_ segment: String) throws -> Partial? {
        guard let parsed = WALSegmentName(segment, segmentSize: segmentSize),
              let entry = try storage.info(Self.name(of: segment)), entry.kind == .file else { return nil }
        guard entry.size <= segmentSize else {
            throw CatalogError.corrupt(storage.describe(Self.name(of: segment)), "\(entry.size) bytes, larger than a WAL segment of this cluster (\(segmentSize))")
        }
        return Partial(segment: parsed, name: Self.name(of: segment), size: entry.size, mtime: entry.mtime)
    }

    public func remove(_ segment: String) throws { try storage.remove(Self.name(of: segment)) }
}
