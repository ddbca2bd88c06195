import PostgresFormat
import Repository

/// Builds the ChangedBlockMap of the WAL between two LSNs along a timeline's history: from the
/// archive, and for the segment a backup has just started in (not archived yet, but flushed
/// by pg_backup_start up to the start) from the server's own pg_wal. Never a partial map: a
/// segment that is missing, damaged or ends early makes the answer `unavailable`, saying why.
struct WALChangeReader {
    let repository: Repository
    let catalog: TimelineCatalog
    /// The data directory's pg_wal.
    let pgWal: String
    let pageSize: Int

    func read(from start: LSN, to end: LSN, along timeline: TimelineID) throws -> ChangedBlockMap.Outcome {
        let size = catalog.segmentSize
        var scanner = WALRecordScanner(pageSize: pageSize, startLSN: start)
        scanner.collectBlocks = true
        var map = ChangedBlockMap()
        var segno = start.value / size
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while segno * size < end.value {
            let name = WALSegmentName(timeline: catalog.timeline(forSegment: segno, along: timeline), segmentNumber: segno, segmentSize: size).name
            let source: SegmentSource
            if let archived = try catalog.archived(name, store: repository.wal) {
                source = .archived(archived, try repository.wal.reader(archived))
            } else if let status = try? FileSystem.status(pgWal + "/" + name, followLinks: true), status.size == size {
                source = .local(try OpenFile(reading: pgWal + "/" + name))
            } else {
                return .unavailable("WAL segment \(name) is neither archived nor in \(pgWal)")
            }
            defer { source.close() }
            var outcome: WALRecordScanner.PageResult = .more
            var reachedEnd = false
            var lastPage = LSN.invalid
            try WALSegmentPages.forEach(segment: segno, segmentSize: size, pageSize: pageSize, from: start, buffer: &buffer,
                                        read: { try source.read(into: &$0) }) { page, pageLSN in
                if pageLSN >= end { reachedEnd = true; return false }
                lastPage = pageLSN
                outcome = scanner.feed(page, at: pageLSN, emit: { _ in }) { record in
                    if record.lsn < end { map.add(record) }
                }
                return outcome == .more
            }
            if case .archived(let archived, _) = source {
                while try source.read(into: &buffer) > 0 {}
                guard source.checksum == archived.checksum else {
                    return .unavailable("archived WAL segment \(archived.path) does not match its checksum")
                }
            }
            switch outcome {
            case .malformed(let lsn): return .unavailable("the WAL record at \(lsn) cannot be read")
            case .end where !reachedEnd:
                // The valid WAL stops within the page that holds `end` (a backup's start, the
                // last record written): every record before it was read.
                guard lastPage.value + UInt64(pageSize) > end.value else {
                    return .unavailable("the WAL in \(name) ends before \(end)")
                }
                reachedEnd = true
            default: break
            }
            if reachedEnd { break }
            segno += 1
        }
        return .map(map)
    }

    private enum SegmentSource {
        case archived(ArchivedWAL, StoredFileReader)
        case local(OpenFile)

        func read(into buffer: inout [UInt8]) throws -> Int {
            switch self {
            case .archived(_, let reader): return try reader.read(into: &buffer)
            case .local(let file): return try file.read(into: &buffer)
            }
        }

        var checksum: UInt32 {
            if case .archived(_, let reader) = self { return reader.checksum }
            return 0
        }

        func close() {
            switch self {
            case .archived(_, let reader): reader.close()
            case .local(let file): file.close()
            }
        }
    }
}
