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
        let start = try startPoint(on: connection, serverTimeline: timeline, serverEnd: serverEnd)
        try publishEarlierTimelines(than: start.timeline)
        let slot = try options.slot.map { "SLOT \(try Self.quotedSlot($0)) " } ?? ""
        try connection.startCopyBoth("START_REPLICATION \(slot)PHYSICAL \(start.startLSN) TIMELINE \(start.timeline)")
        Console.info("receive-wal: streaming from \(start.name) (\(start.startLSN)) on timeline \(start.timeline)")
        var current = try ReceivingSegment(start, in: receivingDirectory, upload: upload)
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
                // Nothing more waiting: flush (an upload may not be due yet) and report.
                let flushed = current.flushedLSN
                try current.flush()
                if pending || current.flushedLSN != flushed || monotonicSeconds() - lastReport >= Double(options.statusIntervalSeconds) {
                    try report(current, on: connection, &lastReport)
                }
                pending = false
            case .ended:
                // The timeline ended (the server follows a newer one): its last segment is a
                // .partial in the archive, as PostgreSQL's archiver stores it at a promotion;
                // the next stream starts on the new timeline.
                try current.flush(force: true)
                _ = try connection.endOfCopy()
                Console.info("receive-wal: the server ended timeline \(start.timeline) at \(current.writtenLSN)")
                try publishEarlierTimelines(than: start.timeline + 1)
                return
            }
        }
        try current.flush(force: true)
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
        let result = try archive(whole)
        try repository.receiving.remove(segment.segment.name)
        Console.detail("receive-wal: \(segment.segment.name) \(result == .alreadyArchived ? "was already archived, identical" : "archived")")
        return try ReceivingSegment(segment.segment.next, in: receivingDirectory, upload: upload)
    }

    /// A local file (a whole segment, a timeline's last partial, a history file) stored as
    /// archive-push stores it, then removed.
    private func archive(_ path: String) throws -> WALArchive.PushResult {
        let result = try WALArchive(repository: repository).push(path, compression: options.compression, level: options.compressionLevel)
        try FileSystem.remove(path)
        return result
    }

    private func report(_ current: ReceivingSegment, on connection: Connection, _ lastReport: inout Double) throws {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let micros = Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000
        try connection.writeCopyData(ReplicationMessage.standbyStatus(written: current.writtenLSN, flushed: current.flushedLSN,
                                                                      applied: .invalid, at: ReplicationMessage.postgresTime(unixMicros: micros)))
        lastReport = monotonicSeconds()
    }

    /// Where to stream from, with no gap: the segment after the newest the archive holds on
    /// the server's timeline. With none there, along the timeline's history (stored in the
    /// archive): what the parent timeline still lacks before its switch point, else the new
    /// timeline from the segment holding the switch point. With no history either, the
    /// segment the server is writing now.
    func startPoint(on connection: Connection, serverTimeline: TimelineID, serverEnd: LSN) throws -> WALSegmentName {
        let size = UInt64(repository.identity.walSegmentSize)
        let archived = try repository.wal.listAll().compactMap { WALSegmentName($0.walName, segmentSize: size) }
        func newest(_ tli: TimelineID) -> WALSegmentName? { archived.filter { $0.timeline == tli }.max() }
        if let last = newest(serverTimeline) { return last.next }
        guard serverTimeline > 1, let parent = try storeHistory(serverTimeline, from: connection).ancestors.last else {
            return WALSegmentName(timeline: serverTimeline, containing: serverEnd, segmentSize: size)
        }
        // A repository new to this cluster's history starts where the server is.
        guard let last = newest(parent.timeline) else { return WALSegmentName(timeline: serverTimeline, containing: serverEnd, segmentSize: size) }
        let switchSegment = WALSegmentName(timeline: parent.timeline, containing: parent.switchLSN, segmentSize: size)
        if last.next < switchSegment { return last.next }
        return WALSegmentName(timeline: serverTimeline, segmentNumber: switchSegment.segmentNumber, segmentSize: size)
    }

    /// The timeline's history file from the server, stored as archive-push stores one.
    private func storeHistory(_ timeline: TimelineID, from connection: Connection) throws -> TimelineHistory {
        let reply = try connection.command("TIMELINE_HISTORY \(timeline)")
        guard let name = reply.value(0, "filename"), let content = reply.value(0, "content"),
              name == TimelineHistory.fileName(timeline) else {
            throw EngineError.invalidWALFile(path: "TIMELINE_HISTORY \(timeline)", reason: "the server did not send the history file")
        }
        let history = try TimelineHistory(timeline: timeline, text: content)
        try FileSystem.makeDirectories(receivingDirectory)
        let path = receivingDirectory + "/" + name
        try AtomicFile.write(path, text: content)
        _ = try archive(path)
        return history
    }

    /// The partial segments of timelines before `timeline` (the last of each, left when it
    /// ended) go into the archive as `.partial`, as PostgreSQL's archiver stores them.
    func publishEarlierTimelines(than timeline: TimelineID) throws {
        guard FileSystem.isDirectory(receivingDirectory) else { return }
        let size = UInt64(repository.identity.walSegmentSize)
        for name in try FileSystem.list(receivingDirectory).sorted() where name.hasSuffix(".partial") {
            guard let segment = WALSegmentName(name.dropLast(8), segmentSize: size), segment.timeline < timeline else { continue }
            let path = receivingDirectory + "/" + name
            // A segment begun but never written (the timeline ended at its start) is no WAL.
            if try Self.isEmpty(path) {
                try FileSystem.remove(path)
                continue
            }
            _ = try archive(path)
            try repository.receiving.remove(String(name.dropLast(8)))
            Console.info("receive-wal: stored \(name), the end of timeline \(segment.timeline)")
        }
    }

    /// What a killed receive-wal left: whole segments not yet published are published; the
    /// partial of a segment the archive now holds is removed, locally and in the repository
    /// (a newer one is rewritten from its start when streaming resumes). Returns how many
    /// segments it stored.
    func publishLeftovers() throws -> Int {
        for partial in try repository.receiving.list() where try repository.wal.find(partial.segment.name) != nil {
            try repository.receiving.remove(partial.segment.name)
        }
        guard FileSystem.isDirectory(receivingDirectory) else { return 0 }
        let size = UInt64(repository.identity.walSegmentSize)
        var stored = 0
        for name in try FileSystem.list(receivingDirectory).sorted() {
            let path = receivingDirectory + "/" + name
            if WALSegmentName(name, segmentSize: size) != nil {
                _ = try archive(path)
                stored += 1
            } else if name.hasSuffix(".partial"), let segment = WALSegmentName(name.dropLast(8), segmentSize: size),
                      try repository.wal.find(segment.name) != nil {
                try FileSystem.remove(path)
            }
        }
        return stored
    }

    /// Whether a segment file's first page is all zeros: nothing was received into it.
    static func isEmpty(_ path: String) throws -> Bool {
        let file = try OpenFile(reading: path)
        defer { file.close() }
        return try (file.read(count: 8192, at: 0) ?? []).allSatisfy { $0 == 0 }
    }
}
