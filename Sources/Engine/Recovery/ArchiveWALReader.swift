import PostgresFormat
import Repository

/// Reads archived WAL along a timeline path, from a backup's start onwards, for the events
/// that decide whether a recovery target can be reached.
struct ArchiveWALReader {
    let repository: Repository
    let catalog: TimelineCatalog
    let pageSize: Int

    enum Outcome {
        case found(WALEvent)
        case missing(segment: String)
        case endOfArchive(lastEvent: WALEvent?)
    }

    /// Scans from `start` (events before `reportFrom` are ignored) until `stop` accepts one.
    func scan(from start: LSN, reportFrom: LSN, along target: TimelineID, stop: (WALEvent) -> Bool) throws -> Outcome {
        let size = catalog.segmentSize
        var segno = start.value / size
        let last = catalog.lastSegment(along: target, from: segno)
        var scanner = WALRecordScanner(pageSize: pageSize, startLSN: reportFrom)
        var lastEvent: WALEvent?
        var found: WALEvent?
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let tli = catalog.timeline(forSegment: segno, along: target)
            let name = WALSegmentName(timeline: tli, segmentNumber: segno, segmentSize: size)
            guard let archived = try catalog.archived(name.name, store: repository.wal) else {
                if let last, segno <= last { return .missing(segment: name.name) }
                return .endOfArchive(lastEvent: lastEvent)
            }
            let reader = try repository.wal.reader(archived)
            defer { reader.close() }
            var result = WALRecordScanner.PageResult.more
            try WALSegmentPages.forEach(segment: segno, segmentSize: size, pageSize: pageSize, from: start, buffer: &buffer,
                                        read: { try reader.read(into: &$0) }) { page, pageLSN in
                result = scanner.feed(page, at: pageLSN) { event in
                    guard found == nil else { return }
                    lastEvent = event
                    if stop(event) { found = event }
                }
                // A find counts only once the whole segment has passed its checksum.
                return found == nil && result == .more
            }
            while try reader.read(into: &buffer) > 0 {}
            guard reader.checksum == archived.checksum else {
                throw EngineError.corruptFile(path: archived.path, reason: "checksum does not match the one in its name")
            }
            if let found { return .found(found) }
            if result == .end { return .endOfArchive(lastEvent: lastEvent) }
            segno += 1
        }
    }
}
