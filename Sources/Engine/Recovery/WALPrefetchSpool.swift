import PostgresFormat
import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// archive-get's read-ahead for object storage, as pgBackRest's archive-get queue: recovery
/// calls restore_command once per segment, and a round trip to the store per call would
/// bound replay speed. After handing out a segment, archive-get starts one background
/// prefetcher that downloads the next segments the archive holds, in parallel, into this
/// local directory (bounded in bytes). A queued file is `NAME-CRC32C`, renamed into place
/// only after its checksum matched; it is checked again when it is handed out.
public struct WALPrefetchSpool: Sendable {
    public let directory: String
    public let maxBytes: UInt64
    let segmentSize: UInt64

    /// The spool's default place: beside the file PostgreSQL asked for, in pg_wal, where
    /// pgbk backup never copies from and restore starts empty.
    public static func defaultDirectory(forDestination destination: String) -> String {
        FileSystem.parentDirectory(of: FileSystem.absolute(destination)) + "/pgbk-prefetch"
    }

    public init(directory: String, maxBytes: UInt64, segmentSize: UInt64) {
        self.directory = directory
        self.maxBytes = maxBytes
        self.segmentSize = segmentSize
    }

    public var capacity: Int { Int(min(maxBytes / max(segmentSize, 1), 1024)) }
    var lockPath: String { directory + "/prefetch.lock" }
    var markerPath: String { directory + "/source" }

    /// What the prefetcher records of where its segments come from, so that archive-get can
    /// hand out a queued segment without opening the repository (no round trip at all):
    /// the repository's location, the segment size and the spool's capacity in segments.
    public struct Source: Sendable, Equatable {
        public let location: String
        public let segmentSize: UInt64
        public let capacity: Int
    }

    public static func source(in directory: String) -> Source? {
        guard let text = try? FileSystem.readText(directory + "/source") else { return nil }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 3, let size = UInt64(lines[1]), size > 0, let capacity = Int(lines[2]) else { return nil }
        return Source(location: String(lines[0]), segmentSize: size, capacity: capacity)
    }

    public init(source: Source, directory: String) {
        self.init(directory: directory, maxBytes: UInt64(source.capacity) * source.segmentSize, segmentSize: source.segmentSize)
    }

    public var queuedCount: Int { queued().count }

    /// Hands out the queued copy of `walName` if there is one whose content still matches
    /// its checksum (a damaged one is removed, never handed out).
    public func take(_ walName: String, to destination: String) throws -> Bool {
        for (name, checksum) in queued() where name == walName {
            let path = directory + "/" + name + "-" + CRC32C.hex(checksum)
            guard try sizeAndChecksum(of: path).checksum == checksum else {
                Console.warning("prefetched \(path) does not match its checksum; fetching it again")
                try? FileSystem.remove(path)
                return false
            }
            try FileSystem.rename(path, destination)
            return true
        }
        return false
    }

    /// Removes queued segments that recovery has gone past, and what a killed prefetcher
    /// was writing.
    public func trim(before walName: String) {
        guard let current = WALSegmentName(walName, segmentSize: segmentSize) else { return }
        for entry in (try? FileSystem.list(directory)) ?? [] {
            let path = directory + "/" + entry
            if AtomicFile.isTemporaryName(entry), !lockHeld() {
                try? FileSystem.remove(path)
            } else if let name = WALSegmentName(entry.prefix(24), segmentSize: segmentSize), entry.count == 33,
                      name.timeline < current.timeline || (name.timeline == current.timeline && name.segmentNumber < current.segmentNumber) {
                try? FileSystem.remove(path)
            }
        }
    }

    /// Whether a prefetcher is at work (it holds the spool's lock).
    public func lockHeld() -> Bool { SpoolLock(path: lockPath).isHeld() }

    /// Waits while a prefetcher works and `walName` is not queued yet (it fetches in order).
    public func waitFor(_ walName: String, seconds: Int = 60) {
        _ = poll(forSeconds: Double(seconds), firstDelay: 5_000) { !lockHeld() || queued().contains { $0.name == walName } }
    }

    /// The prefetcher's work: the segments after `walName` that the archive holds, up to
    /// the spool's size, downloaded on `jobs` threads. Stops at the first one not archived.
    public func fill(after walName: String, archive: WALArchive, jobs: Int) throws {
        guard let lock = tryLock() else { return }  // another prefetcher is at it
        defer { lock.release() }
        let source = "\(archive.repository.path)\n\(segmentSize)\n\(capacity)\n"
        if (try? FileSystem.readText(markerPath)) != source { try AtomicFile.write(markerPath, Array(source.utf8)) }
        guard let first = WALSegmentName(walName, segmentSize: segmentSize) else { return }
        let present = Set(queued().map(\.name))
        let store = archive.repository.wal
        var listed: [String: [ArchivedWAL]] = [:]
        var wanted: [ArchivedWAL] = []
        var name = first.next
        for _ in 0..<capacity {
            defer { name = name.next }
            if present.contains(name.name) { continue }
            let directory = store.directory(for: name.name)
            if listed[directory] == nil { listed[directory] = try store.list(directory: directory) }
            guard let copy = try store.single(name.name, among: listed[directory]!.filter { $0.walName == name.name }) else { break }
            wanted.append(copy)
        }
        let toFetch = wanted
        _ = try WorkerPool.run(count: toFetch.count, jobs: jobs, makeState: { () }) { index, _ in
            let copy = toFetch[index]
            let final = directory + "/" + copy.walName + "-" + CRC32C.hex(copy.checksum)
            try archive.download(copy, to: final)
        }
    }

    /// Removes the spool (recovery_end_command), waiting for a prefetcher to finish first.
    public func remove() throws {
        guard FileSystem.isDirectory(directory) else { return }
        let lock = try FileLock(path: lockPath)
        defer { lock.release() }
        try FileSystem.removeTree(directory)
    }

    func queued() -> [(name: String, checksum: UInt32)] {
        ((try? FileSystem.list(directory)) ?? []).compactMap { entry in
            guard entry.count == 33, entry.utf8[entry.utf8.index(entry.utf8.startIndex, offsetBy: 24)] == UInt8(ascii: "-"),
                  WALSegmentName(entry.prefix(24), segmentSize: segmentSize) != nil,
                  let crc = CRC32C.parseHex(entry.suffix(8)) else { return nil }
            return (String(entry.prefix(24)), crc)
        }
    }

    private func tryLock() -> FileLock? { SpoolLock(path: lockPath).take() }
}
