import PostgresClient
import PostgresFormat
import Repository
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

extension ReceiveOperation {
    /// One START_REPLICATION, from the segment after the archive's newest on the server's
    /// timeline, until the stream ends (the timeline did) or a stop is asked for. WAL is
    /// flushed and reported as soon as no more is waiting, and at least every status interval.
    func stream(on connection: Connection) throws {
        let identity = try connection.command("IDENTIFY_SYSTEM")
        let timeline = TimelineID(identity.value(0, "timeline") ?? "") ?? 1
        let serverEnd = LSN(identity.value(0, "xlogpos") ?? "") ?? .invalid
        let start = try startSegment(timeline: timeline, serverEnd: serverEnd)
        let slot = try options.slot.map { "SLOT \(try Self.quotedSlot($0)) " } ?? ""
        try connection.startCopyBoth("START_REPLICATION \(slot)PHYSICAL \(start.startLSN) TIMELINE \(timeline)")
        Console.info("receive-wal: streaming from \(start.name) (\(start.startLSN)) on timeline \(timeline)")
        var current = try ReceivingSegment(start, in: receivingDirectory)
        var lastReport = monotonicSeconds()
        var pending = false
        while !stopRequested {
            switch try connection.readCopyData(waitingAtMost: pending ? 0 : 100) {
            case .data(let bytes):
                switch try ReplicationMessage.parse(bytes) {
                case .walData(let at, _, _, let offset):
                    try receive(bytes[offset...], at: at, into: &current)
                    pending = true
                case .keepalive(_, _, let replyRequested):
                    if replyRequested { try report(current, on: connection, &lastReport) }
                }
            case .idle:
                if pending || monotonicSeconds() - lastReport >= Double(options.statusIntervalSeconds) {
                    try current.flush()
                    try report(current, on: connection, &lastReport)
                    pending = false
                }
            case .ended:
                try current.flush()
                _ = try connection.endOfCopy()
                Console.info("receive-wal: the server ended timeline \(timeline) at \(current.writtenLSN)")
                return
            }
        }
        try current.flush()
        try report(current, on: connection, &lastReport)
    }

    /// WAL from `lsn` on, into the segment files: a whole segment is published and the next
    /// one begun.
    private func receive(_ data: ArraySlice<UInt8>, at lsn: LSN, into current: inout ReceivingSegment) throws {
        var bytes = data
        var at = lsn.value
        while !bytes.isEmpty {
            if current.isWhole { current = try publish(current) }
            guard at >= current.segment.startLSN.value else {
                throw EngineError.invalidWALFile(path: current.path, reason: "the server sent WAL at \(LSN(at)), before \(current.segment.name)")
            }
            let offset = at - current.segment.startLSN.value
            let piece = bytes.prefix(Int(min(UInt64(bytes.count), current.segment.segmentSize - min(offset, current.segment.segmentSize))))
            try current.write(piece, at: offset)
            at += UInt64(piece.count)
            bytes = bytes.dropFirst(piece.count)
        }
        if current.isWhole { current = try publish(current) }
    }

    /// A whole segment into the archive, exactly as archive-push stores it (a copy already
    /// there from archive_command is accepted as identical, other content refused); the next
    /// segment's file is begun.
    private func publish(_ segment: ReceivingSegment) throws -> ReceivingSegment {
        let whole = try segment.close()
        let result = try WALArchive(repository: repository).push(whole, compression: options.compression, level: options.compressionLevel)
        try FileSystem.remove(whole)
        Console.detail("receive-wal: \(segment.segment.name) \(result == .alreadyArchived ? "was already archived, identical" : "archived")")
        return try ReceivingSegment(segment.segment.next, in: receivingDirectory)
    }

    private func report(_ current: ReceivingSegment, on connection: Connection, _ lastReport: inout Double) throws {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let micros = Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000
        try connection.writeCopyData(ReplicationMessage.standbyStatus(written: current.writtenLSN, flushed: current.flushedLSN,
                                                                      applied: .invalid, at: ReplicationMessage.postgresTime(unixMicros: micros)))
        lastReport = monotonicSeconds()
    }

    /// The segment after the newest the archive holds on `timeline`; with none, the one the
    /// server is writing now.
    func startSegment(timeline: TimelineID, serverEnd: LSN) throws -> WALSegmentName {
        let size = UInt64(repository.identity.walSegmentSize)
        let archived = try repository.wal.listAll().compactMap { WALSegmentName($0.walName, segmentSize: size) }
            .filter { $0.timeline == timeline }.max()
        return archived?.next ?? WALSegmentName(timeline: timeline, containing: serverEnd, segmentSize: size)
    }

    /// What a killed receive-wal left: whole segments not yet published are published; the
    /// partial of a segment the archive now holds is removed (a newer one is rewritten from
    /// its start when streaming resumes).
    func publishLeftovers() throws {
        guard FileSystem.isDirectory(receivingDirectory) else { return }
        let size = UInt64(repository.identity.walSegmentSize)
        for name in try FileSystem.list(receivingDirectory).sorted() {
            let path = receivingDirectory + "/" + name
            if WALSegmentName(name, segmentSize: size) != nil {
                _ = try WALArchive(repository: repository).push(path, compression: options.compression, level: options.compressionLevel)
                try FileSystem.remove(path)
            } else if name.hasSuffix(".partial"), let segment = WALSegmentName(name.dropLast(8), segmentSize: size),
                      try repository.wal.find(segment.name) != nil {
                try FileSystem.remove(path)
            }
        }
    }
}
