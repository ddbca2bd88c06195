import PostgresFormat
import Repository

/// Reads archived WAL along a timeline path, from a backup's start onwards, for the events
/// that decide whether a recovery target can be reached.
struct ArchiveWALReader {
    let repository: Repository
    let catalog: TimelineCatalog
    let pageSize: Int

    enum Outcome {
        /// `inPartial`: the event is in the segment receive-wal is receiving (ReceivedPartials).
        case found(WALEvent, inPartial: Bool)
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
                // After the last whole segment, the one receive-wal is receiving: its records
                // count as far as they are whole (the scanner checks their CRCs).
                guard let partial = try repository.receiving.find(name.name) else { return .endOfArchive(lastEvent: lastEvent) }
                try scanPartial(partial, segno: segno, start: start, scanner: &scanner, buffer: &buffer) { event in
                    guard found == nil else { return }
                    lastEvent = event
                    if stop(event) { found = event }
                }
                return found.map { .found($0, inPartial: true) } ?? .endOfArchive(lastEvent: lastEvent)
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
            if let found { return .found(found, inPartial: false) }
            if result == .end { return .endOfArchive(lastEvent: lastEvent) }
            segno += 1
        }
    }

    /// The pages of a partial, the last one completed with zeros (an object store's partial
    /// holds exactly what was received, which may end inside a page).
    private func scanPartial(_ partial: ReceivedPartials.Partial, segno: UInt64, start: LSN, scanner: inout WALRecordScanner,
                             buffer: inout [UInt8], emit: (WALEvent) -> Void) throws {
        guard try WALArchive(repository: repository).checkReceived(partial) else { return }
        let reader = try StoredFileReader(storage: repository.storage, name: partial.name, compression: .none)
        defer { reader.close() }
        var ended = false
        try WALSegmentPages.forEach(segment: segno, segmentSize: catalog.segmentSize, pageSize: pageSize, from: start, buffer: &buffer,
                                    read: { buffer in
            guard !ended else { return 0 }
            let n = try reader.read(into: &buffer)
            guard n % pageSize != 0 else { return n }
            ended = true
            let padded = min(buffer.count, n + pageSize - n % pageSize)
            for i in n..<padded { buffer[i] = 0 }
            return padded
        }) { page, pageLSN in
            scanner.feed(page, at: pageLSN, emit: emit) == .more
        }
    }

    /// Where the whole records in receive-wal's partial of segment `segno` end, nil when there
    /// is no partial of it on the timeline recovery follows there.
    func receivedEnd(segment segno: UInt64, along target: TimelineID) throws -> LSN? {
        let name = WALSegmentName(timeline: catalog.timeline(forSegment: segno, along: target), segmentNumber: segno, segmentSize: catalog.segmentSize)
        guard let partial = try repository.receiving.find(name.name) else { return nil }
        let start = LSN(segno * catalog.segmentSize)
        var scanner = WALRecordScanner(pageSize: pageSize, startLSN: start)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        try scanPartial(partial, segno: segno, start: start, scanner: &scanner, buffer: &buffer) { _ in }
        // Everything before the segment is archived; nothing whole in it yet ends there.
        return max(scanner.endOfLastRecord, start)
    }
}
