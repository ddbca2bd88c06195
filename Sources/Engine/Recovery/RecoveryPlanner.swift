import PostgresFormat
import Repository

/// A restore that is known to be able to reach its target.
public struct RecoveryPlan: Sendable {
    public let backup: BackupInfo
    public let chain: [BackupInfo]
    public let timeline: TimelineID
    public let firstSegment: String
    public let lastSegment: String
    /// The record recovery will stop at, when the target names one.
    public let stopEvent: WALEvent?
}

/// Chooses the backup for a recovery target and proves, before anything is written, that
/// the archive holds every WAL segment from the backup's start to the target (or to the end
/// of the archive), along the target timeline's history.
public struct RecoveryPlanner {
    let repository: Repository
    let target: RecoveryTarget
    let jobs: Int

    public init(repository: Repository, target: RecoveryTarget, jobs: Int = WorkerPool.defaultJobs) {
        self.repository = repository
        self.target = target
        self.jobs = jobs
    }

    public func plan(backupID: String?) throws -> RecoveryPlan {
        let loaded = try repository.loadAll()
        for (id, error) in loaded.unreadable { Console.warning("skipping backup \(id): \(error)") }
        let catalog = try TimelineCatalog(repository: repository)

        // One generation's backups (upgrade-repository): its WAL is the one read and replayed.
        let identity = repository.identity
        func ofThisGeneration(_ b: BackupInfo) -> Bool { identity.holds(systemIdentifier: b.systemIdentifier) }
        let candidates: [BackupInfo]
        if let given = backupID {
            let backupID = try BackupReference(given).resolve(among: loaded.backups.filter(ofThisGeneration), in: repository.path)
            let info = try repository.loadBackup(backupID)
            guard info.isUsable else {
                throw EngineError.backupNotUsable(id: backupID, status: info.status.rawValue, reason: info.statusReason)
            }
            guard ofThisGeneration(info) else {
                throw EngineError.invalidArgument("backup \(backupID) is of another generation of \(repository.path) than \(identity.generation) (PostgreSQL \(identity.pgMajorVersion)): its WAL is apart")
            }
            candidates = [info]
        } else {
            candidates = loaded.backups.reversed().filter { $0.status == .ok && ofThisGeneration($0) }
        }
        guard !candidates.isEmpty else {
            throw EngineError.noUsableBackup("no validated (OK) backup in \(repository.path); run pgbk validate, or name one with --backup-id")
        }

        var refusals: [String] = []
        for backup in candidates {
            let chain: [BackupInfo]
            do { chain = try repository.chain(for: backup, among: loaded.backups) } catch {
                refusals.append("\(error)")
                continue
            }
            let timeline = targetTimeline(for: backup, catalog: catalog)
            guard let stop = backup.stopLSN, let start = backup.startLSN else { continue }
            guard backup.timeline == timeline || catalog.isAncestor(backup.timeline, at: stop, of: timeline) else {
                refusals.append("backup \(backup.id) (timeline \(backup.timeline)) is not in the history of timeline \(timeline)")
                continue
            }
            if let reason = endsAfterTarget(backup) {
                refusals.append("backup \(backup.id) \(reason)")
                continue
            }
            let reader = ArchiveWALReader(repository: repository, catalog: catalog, pageSize: Int(backup.walBlockSize))
            switch try proveReachable(backup: backup, start: start, stop: stop, timeline: timeline, catalog: catalog, reader: reader)
                .flatMap({ plan in verifySegments(plan, start: start, timeline: timeline, catalog: catalog) }) {
            case .success(let plan):
                announceBranch(timeline, backup: backup, backups: loaded.backups, catalog: catalog)
                return RecoveryPlan(backup: backup, chain: chain, timeline: timeline, firstSegment: plan.first,
                                    lastSegment: plan.last, stopEvent: plan.event)
            case .failure(let refusal):
                // A gap or an unreachable target is final for this backup; an older one may
                // still reach a named restore point created before this backup ended.
                if case .name = target.point, backupID == nil, refusal.retryOlder {
                    refusals.append(refusal.message)
                    continue
                }
                throw EngineError.noUsableBackup(refusal.message)
            }
        }
        let oldest = loaded.backups.first { $0.status == .ok }
        let hint = oldest.map { " (the oldest OK backup, \($0.id), is consistent from \($0.recoveryTime ?? "?"), LSN \($0.stopLSN?.description ?? "?"))" } ?? ""
        throw EngineError.noUsableBackup("no backup can reach \(target.description)\(hint): \(refusals.prefix(3).joined(separator: "; "))")
    }

    /// Says which branch recovery follows, and warns when that passes over newer backups or
    /// archived WAL of another branch: a copy restored elsewhere that archived here makes
    /// "latest" its timeline, and production's newer backups and WAL would be left behind.
    private func announceBranch(_ timeline: TimelineID, backup: BackupInfo, backups: [BackupInfo], catalog: TimelineCatalog) {
        let chosen = target.timeline == nil ? "the latest in the archive, PostgreSQL's default" : "as asked"
        Console.detail("recovery follows timeline \(timeline) (\(chosen))")
        let onBranch = { (b: BackupInfo) -> Bool in
            b.timeline == timeline || b.stopLSN.map { catalog.isAncestor(b.timeline, at: $0, of: timeline) } == true
        }
        let newerElsewhere = backups.filter { ($0.status == .ok || $0.status == .done) && $0.id > backup.id && !onBranch($0) }
        var otherWAL: [(TimelineID, String)] = []
        let leftAt = Dictionary(catalog.history(of: timeline).effectiveAncestors.map { ($0.timeline, $0.switchLSN.value / catalog.segmentSize) }) { a, _ in a }
        for (tli, numbers) in catalog.segments where tli != timeline {
            // Segments of `tli` that recovery along `timeline` never reads: all of a sibling's,
            // or an ancestor's after the one holding the switch point (which a failover's old
            // primary may well have archived whole).
            let unread = numbers.filter { catalog.timeline(forSegment: $0, along: timeline) != tli && $0 != leftAt[tli] }
            if let last = unread.max() {
                otherWAL.append((tli, WALSegmentName(timeline: tli, segmentNumber: last, segmentSize: catalog.segmentSize).name))
            }
        }
        guard !newerElsewhere.isEmpty || !otherWAL.isEmpty else { return }
        var passed: [String] = []
        if let newest = newerElsewhere.last {
            passed.append("\(newerElsewhere.count) newer backup(s) on timeline(s) \(Set(newerElsewhere.map(\.timeline)).sorted().map(String.init).joined(separator: ", ")) (newest \(newest.id))")
        }
        for (tli, last) in otherWAL.sorted(by: { $0.0 < $1.0 }) { passed.append("WAL of timeline \(tli) up to \(last)") }
        let other = (newerElsewhere.map(\.timeline) + otherWAL.map(\.0)).max() ?? 1
        Console.warning("recovery along timeline \(timeline) passes over \(passed.joined(separator: " and ")); if timeline \(timeline) is not production's (a copy that archived here), restore with --recovery-target-timeline \(other)")
    }

    private func targetTimeline(for backup: BackupInfo, catalog: TimelineCatalog) -> TimelineID {
        switch target.timeline {
        case .number(let n): return n
        case .current: return backup.timeline
        case .latest, nil: return catalog.latest
        }
    }

    /// Why the backup cannot be a starting point for this target: it became consistent after it.
    private func endsAfterTarget(_ b: BackupInfo) -> String? {
        switch target.point {
        case .time(let text, let micros):
            guard let recovery = b.recoveryTime.flatMap({ parseTimestampMicros($0)?.micros }) else { return nil }
            return recovery > micros ? "is consistent only from \(b.recoveryTime ?? "?"), after \(text)" : nil
        case .xid(let xid):
            guard let recovery = b.recoveryXID else { return nil }
            return recovery > UInt64(xid) ? "ended after xid \(xid) was assigned (next xid \(recovery))" : nil
        case .lsn(let lsn):
            guard let stop = b.stopLSN else { return nil }
            return stop > lsn ? "is consistent only from \(stop), after \(lsn)" : nil
        case .name, .immediate, nil:
            return nil
        }
    }

    struct Refusal: Error {
        let message: String
        let retryOlder: Bool
    }

    /// Existence is not enough: every segment recovery will read is read here against its
    /// checksum (on `jobs` workers) before anything is written, and the first bad one named.
    private func verifySegments(_ plan: (first: String, last: String, event: WALEvent?, throughPartial: Bool), start: LSN, timeline: TimelineID,
                                catalog: TimelineCatalog) -> Result<(first: String, last: String, event: WALEvent?, throughPartial: Bool), Refusal> {
        let size = catalog.segmentSize
        guard let last = WALSegmentName(plan.last, segmentSize: size) else { return .success(plan) }
        let first = start.value / size
        let names = (first...max(first, last.segmentNumber)).map {
            WALSegmentName(timeline: catalog.timeline(forSegment: $0, along: timeline), segmentNumber: $0, segmentSize: size).name
        }
        let store = repository.wal
        let problems: [String?]
        do {
            problems = try WorkerPool.run(count: names.count, jobs: jobs, makeState: { [UInt8](repeating: 0, count: 1 << 20) }) { n, buffer in
                try FaultInjection.point("restore-verify-wal")
                guard let archived = try catalog.archived(names[n], store: store) else {
                    // The last may be the segment receive-wal is receiving (the proof read it).
                    let received = n == names.count - 1 && plan.throughPartial
                    return received ? nil : "is not in the archive"
                }
                return try StoredFileReader.verify(storage: store.storage, name: archived.name, compression: archived.compression, size: size,
                                               checksum: archived.checksum, buffer: &buffer).map { "is damaged in the archive (\(archived.path): \($0))" }
            }.map { $0 ?? "was not checked" }
        } catch {
            return .failure(Refusal(message: "could not check the archived WAL: \(error)", retryOlder: false))
        }
        if let bad = problems.firstIndex(where: { $0 != nil }) {
            return .failure(Refusal(message: "WAL segment \(names[bad]), needed to reach \(target.description), \(problems[bad]!); recovery would stop there", retryOlder: false))
        }
        return .success(plan)
    }

    private func proveReachable(backup: BackupInfo, start: LSN, stop: LSN, timeline: TimelineID, catalog: TimelineCatalog,
                                reader: ArchiveWALReader) throws -> Result<(first: String, last: String, event: WALEvent?, throughPartial: Bool), Refusal> {
        let size = catalog.segmentSize
        let firstSegno = start.value / size
        func name(_ segno: UInt64) -> String {
            WALSegmentName(timeline: catalog.timeline(forSegment: segno, along: timeline), segmentNumber: segno, segmentSize: size).name
        }
        /// Every segment in [from, to] must be archived.
        func contiguous(_ from: UInt64, _ to: UInt64) throws -> String? {
            var segno = from
            while segno <= to {
                if try catalog.archived(name(segno), store: repository.wal) == nil { return name(segno) }
                segno += 1
            }
            return nil
        }
        let consistentSegno = (stop.value - 1) / size
        if let missing = try contiguous(firstSegno, consistentSegno) {
            return .failure(Refusal(message: "WAL segment \(missing), needed to make backup \(backup.id) consistent, is not in the archive\(catalog.droppedNote(missing))", retryOlder: false))
        }

        let inclusive = target.inclusive ?? true
        let stopCondition: ((WALEvent) -> Bool)?
        switch target.point {
        case .immediate:
            return .success((name(firstSegno), name(consistentSegno), nil, false))
        case nil:
            // To the end of the archive: a gap would silently end recovery early.
            let last = catalog.lastSegment(along: timeline, from: firstSegno) ?? consistentSegno
            if let missing = try contiguous(firstSegno, last) {
                return .failure(Refusal(message: "WAL segment \(missing) is missing from the archive\(catalog.droppedNote(missing)), but later WAL on timeline \(timeline) exists or was dropped: recovery would stop at the gap; restore to a target before it", retryOlder: false))
            }
            return .success((name(firstSegno), name(max(last, consistentSegno)), nil, false))
        case .lsn(let lsn):
            let lastSegno = lsn.value / size
            if lastSegno > consistentSegno, try contiguous(firstSegno, lastSegno - 1) == nil,
               try catalog.archived(name(lastSegno), store: repository.wal) == nil,
               let received = try reader.receivedEnd(segment: lastSegno, along: timeline), lsn <= received {
                return .success((name(firstSegno), name(lastSegno), nil, true))
            }
            if let missing = try contiguous(firstSegno, lastSegno) {
                return .failure(Refusal(message: "WAL segment \(missing), needed to reach LSN \(lsn), is not in the archive\(catalog.droppedNote(missing))", retryOlder: false))
            }
            return .success((name(firstSegno), name(lastSegno), nil, false))
        case .time(_, let micros):
            stopCondition = { event in
                guard case .transactionEnd(_, _, _, let time) = event else { return false }
                return inclusive ? time > micros : time >= micros
            }
        case .xid(let xid):
            stopCondition = { event in
                guard case .transactionEnd(_, let x, _, _) = event else { return false }
                return x == xid
            }
        case .name(let wanted):
            stopCondition = { event in
                guard case .restorePoint(_, let n, _) = event else { return false }
                return n == wanted
            }
        }
        switch try reader.scan(from: start, reportFrom: stop, along: timeline, stop: stopCondition!) {
        case .found(let event, let inPartial):
            return .success((name(firstSegno), name(event.lsn.value / size), event, inPartial))
        case .missing(let segment):
            return .failure(Refusal(message: "WAL segment \(segment), needed to reach \(target.description), is not in the archive\(catalog.droppedNote(segment))", retryOlder: false))
        case .endOfArchive(let last):
            let lastText: String
            if case .transactionEnd(let lsn, _, _, let time)? = last {
                lastText = "; the last transaction in the archive ended at \(formatMicros(time)) (LSN \(lsn))"
            } else {
                lastText = ""
            }
            if case .time = target.point {
                return .failure(Refusal(message: "\(target.description) is after the end of the archived WAL\(lastText): recovery would end before reaching it", retryOlder: false))
            }
            return .failure(Refusal(message: "\(target.description) is not in the archived WAL after backup \(backup.id)\(lastText)", retryOlder: true))
        }
    }
}
