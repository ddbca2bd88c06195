import PostgresFormat
import Repository

/// Re-reads backups against their checksums and checks the WAL that makes each consistent.
/// DONE backups become OK or CORRUPT; a RUNNING one whose writer is gone becomes ERROR.
public struct ValidateOperation: Sendable {
    let repository: Repository
    let lockTimeoutSeconds: Int
    let jobs: Int
    /// The cluster's other repositories: a damaged file's report says where a good copy is.
    let otherCopies: OtherCopies?

    public init(repository: Repository, lockTimeoutSeconds: Int = 0, jobs: Int = WorkerPool.defaultJobs, otherCopies: OtherCopies? = nil) {
        self.repository = repository
        self.lockTimeoutSeconds = lockTimeoutSeconds
        self.jobs = jobs
        self.otherCopies = otherCopies
    }

    public struct Outcome: Sendable {
        public let id: String
        public let status: BackupStatus
        public let problems: [String]
    }

    /// Which backups a validate without an ID reads back.
    public enum Scope: Sendable, Equatable {
        /// DONE backups only: the ones never validated (the default, as after each backup).
        case pending
        /// Also OK and CORRUPT ones: bit rot in old backups is found now, not at restore.
        case recheck
        /// Also OK and CORRUPT ones not read back in the last N days.
        case recheckOlderThan(days: Int)

        func includes(_ b: BackupInfo, now: Timestamp) -> Bool {
            switch (self, b.status) {
            case (_, .done): return true
            case (.pending, _): return false
            case (.recheck, .ok), (.recheck, .corrupt): return true
            case (.recheckOlderThan(let days), .ok), (.recheckOlderThan(let days), .corrupt):
                let last = b.verifyTime ?? b.endTime ?? b.startTime
                return last.seconds <= now.seconds - Int64(days) * 86_400
            default: return false
            }
        }
    }

    public struct Report: Sendable {
        public var outcomes: [Outcome] = []
        /// Archived WAL files that fail their checksum (validate without an ID reads them all).
        public var archiveProblems: [String] = []
        public var archivedFilesChecked = 0
        public var failed: Int { outcomes.filter { $0.status != .ok }.count + archiveProblems.count }
    }

    public func run(backupID: String?, scope: Scope = .pending) throws -> Report {
        let lock = try RepositoryLock(repository: repository, command: "validate", timeoutSeconds: lockTimeoutSeconds)
        defer { lock.release() }
        var catalog = try repository.loadAll()
        try Catalog.markOrphans(repository, in: &catalog)
        Catalog.discardAbandonedWrites(repository)

        var report = Report()
        let targets: [BackupInfo]
        if let given = backupID {
            let backupID = try BackupReference(given).resolve(among: catalog.backups, in: repository.path)
            // Its own backup.ini as read with the others; unreadable or absent, the same
            // error a direct read gives.
            guard let info = catalog.backups.first(where: { $0.id == backupID }) else {
                if let (_, error) = catalog.unreadable.first(where: { $0.id == backupID }) { throw error }
                throw CatalogError.invalid(repository.backupDirectory(backupID), "no such backup")
            }
            guard info.status != .deleted && info.status != .deleting else {
                throw EngineError.backupNotUsable(id: backupID, status: info.status.rawValue, reason: "its data was removed")
            }
            guard info.status != .error else {
                throw EngineError.backupNotUsable(id: backupID, status: info.status.rawValue, reason: info.statusReason)
            }
            // An incremental is only as good as its chain: check every member that is there.
            let members = try repository.ancestry(of: info, among: catalog.backups)
            targets = members.reversed().filter { $0.status != .error && $0.status != .deleted && $0.status != .deleting }
        } else {
            let loaded = catalog
            // A backup.ini that cannot be read is a failure to report, never a backup to skip.
            for (id, error) in loaded.unreadable {
                Console.warning("backup \(id) cannot be read: \(error)")
                report.outcomes.append(Outcome(id: id, status: .corrupt, problems: ["\(error)"]))
            }
            let now = Timestamp.now()
            targets = loaded.backups.filter { scope.includes($0, now: now) }
        }

        for var info in targets {
            Console.info("validating backup \(info.id)")
            let problems = try check(info)
            info.status = problems.isEmpty ? .ok : .corrupt
            info.statusReason = problems.isEmpty ? nil : problems.prefix(3).joined(separator: "; ")
                + (problems.count > 3 ? "; and \(problems.count - 3) more" : "")
            info.verifyTime = .now()
            try FaultInjection.point("validate-before-status")
            try repository.saveBackup(info)
            catalog.backups.update(info)
            for problem in problems { Console.warning("backup \(info.id): \(problem)") }
            report.outcomes.append(Outcome(id: info.id, status: info.status, problems: problems))
        }
        if let backupID {
            let all = catalog.backups
            if let named = all.first(where: { $0.id == backupID }), named.status == .ok {
                do { _ = try repository.chain(for: named, among: all) } catch {
                    Console.warning("\(error)")
                    report.outcomes.append(Outcome(id: backupID, status: .corrupt, problems: ["\(error)"]))
                }
            }
        } else {
            (report.archivedFilesChecked, report.archiveProblems) = try checkArchive()
            // A segment missing inside the recoverable window: every backup may be intact and
            // still no restore reaches past the gap, so validate says so and fails.
            let statuses = Dictionary(report.outcomes.map { ($0.id, $0.status) }) { _, b in b }
            let backups = catalog.backups.map { b -> BackupInfo in
                var b = b
                if let status = statuses[b.id] { b.status = status }
                return b
            }
            let timelines = try TimelineReport(repository: repository, backups: backups, lastTransaction: false)
            if let gap = timelines.firstGap {
                let cause = timelines.firstGapDropped ? " (archive-push dropped it: --archive-push-queue-max)" : ""
                report.archiveProblems.append("WAL segment \(gap) is missing from the archive\(cause): recovery from the OK backups before it stops there (pgbk show timeline)")
            }
            // receive-wal's partial: checked as this cluster's WAL, read to its last whole record.
            if let problem = timelines.receivedProblem { report.archiveProblems.append(problem) }
            if let received = timelines.received {
                Console.info("received WAL: \(received.segment) (receive-wal's partial) has whole records up to \(received.end)")
            }
            for problem in report.archiveProblems { Console.warning(problem) }
        }
        return report
    }

    /// Every archived file (segments, partial segments, backup and timeline history files)
    /// read back against the checksum in its name, on `jobs` workers: a damaged segment after
    /// the newest backup would otherwise be found only when a restore needs it.
    func checkArchive() throws -> (checked: Int, problems: [String]) {
        var checked = 0
        var problems: [String] = []
        // Every generation's archive (upgrade-repository): the older ones serve their backups.
        for generation in 1...repository.identity.generation {
            guard let store = repository.asGeneration(generation)?.wal else { continue }
            let found = try checkArchive(store)
            checked += found.checked
            problems += found.problems
        }
        return (checked, problems.sorted())
    }

    private func checkArchive(_ store: WALArchiveStore) throws -> (checked: Int, problems: [String]) {
        let files = try store.listAll()
        var problems: [String] = []
        for (name, copies) in Dictionary(grouping: files, by: \.walName) where copies.count > 1 {
            do { _ = try store.single(name, among: copies) } catch { problems.append("\(error)") }
        }
        let work = files
        let found = try WorkerPool.run(count: work.count, jobs: jobs, makeState: { [UInt8](repeating: 0, count: 1 << 20) }) { n, buffer -> String? in
            let file = work[n]
            try FaultInjection.point("validate-read-wal")
            return try StoredFileReader.verify(storage: store.storage, name: file.name, compression: file.compression, size: nil,
                                           checksum: file.checksum, buffer: &buffer)
                .map { "archived WAL file \(file.walName) (\(file.path)) is damaged: \($0)" }
        }
        problems += found.compactMap { $0 ?? nil }
        return (work.count, problems.sorted())
    }

    /// One stored file to read back: a whole entry, one part of a split one, or a copy of
    /// the server log (backup -s).
    struct Unit {
        let entry: FileEntry
        let part: Int32
        let serverLog: Bool
        var weight: UInt64 { entry.storedSize / UInt64(entry.partCount) }
    }

    /// Every problem found, each naming its file; empty when the backup is intact. The list
    /// is read as a stream and each stored file handed to the workers as it comes (a window
    /// of them held, not the list: issue 28, item 4); a list the stream cannot check whole
    /// (not in the walk's order: backups over the replication protocol) is read whole too.
    /// A damaged list is the one problem reported, whatever the files said.
    func check(_ info: BackupInfo) throws -> [String] {
        let operation = self
        let meter = Self.startMeter(info, repository: repository)
        defer { meter?.finish() }
        var problems: [String] = []
        // A worker's error (an I/O error, not a mismatch) means the backup could not be read
        // back: it propagates, and the backup keeps its status instead of passing as OK.
        let pool = OrderedWorkPool<Unit, String?>(jobs: jobs, window: max(256, jobs * 64),
                                                  makeState: { [UInt8](repeating: 0, count: 1 << 20) }, work: { unit, buffer in
            try FaultInjection.point("validate-read-file")
            defer { meter?.add(bytes: unit.weight, files: Int(unit.part) == unit.entry.partCount - 1 ? 1 : 0) }
            return try operation.problem(unit, of: info, buffer: &buffer)
        }, consume: { if let problem = $0 { problems.append(problem) } })
        defer { pool.cancel() }
        if let listProblem = try readList(info, into: pool) { return [listProblem] }
        try pool.finish()
        problems.sort()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        problems += try checkWAL(info, buffer: &buffer)
        return problems
    }

    /// Hands every stored file (and server log copy) of the backup to `pool`; returns what is
    /// wrong with the lists themselves, if anything (any error reading them: before streaming
    /// it was so too). A worker's error, rethrown by `submit`, propagates.
    private func readList(_ info: BackupInfo, into pool: OrderedWorkPool<Unit, String?>) throws -> String? {
        var checker = CatalogPath.ListChecker()
        let path = repository.fileListPath(info.id)
        var listError: (any Error)?
        func fromList<T>(_ body: () throws -> T) -> T? {
            do { return try body() } catch { listError = error; return nil }
        }
        guard let reader = fromList({ try FileListReader(repository: repository, info: info) }) else { return "\(listError!)" }
        while let entry = fromList({ try reader.next() }) ?? nil {
            if let why = checker.take(entry) { return "\(CatalogError.corrupt(path, why))" }
            guard FileList.isStored(entry) else { continue }
            for part in 0..<entry.partCount { try pool.submit(Unit(entry: entry, part: Int32(part), serverLog: false)) }
        }
        if checker.needsWholeCheck { _ = fromList { try repository.loadFileList(info) } }
        let serverLogs = fromList { try repository.loadServerLogList(info.id) } ?? nil
        if let listError { return "\(listError)" }
        for entry in serverLogs ?? [] { try pool.submit(Unit(entry: entry, part: 0, serverLog: true)) }
        return nil
    }

    /// With progress shown, a first pass over the list counts what validate will read.
    private static func startMeter(_ info: BackupInfo, repository: Repository) -> ProgressMeter? {
        guard ProgressMeter.isShown else { return nil }
        var bytes: UInt64 = 0, files = 0
        try? repository.forEachFileListEntry(info) { entry in
            guard FileList.isStored(entry) else { return }
            bytes += entry.storedSize
            files += 1
        }
        return ProgressMeter.start("validate \(info.id)", totalBytes: bytes, totalFiles: files)
    }

    /// The report for one unit found damaged, nil when intact.
    private func problem(_ unit: Unit, of info: BackupInfo, buffer: inout [UInt8]) throws -> String? {
        let (entry, part, serverLog) = (unit.entry, Int(unit.part), unit.serverLog)
        guard let reason = try verify(entry, part: part, serverLog: serverLog, of: info, buffer: &buffer) else { return nil }
        let name = serverLog ? repository.serverLogName(info.id, path: entry.path, compression: info.compression)
            : repository.storedName(info.id, entry, compression: info.compression, part: part)
        let goodCopy = serverLog ? "" : self.goodCopy(of: entry, part: part, in: info, buffer: &buffer)
        return "\(serverLog ? "server log" : "file") \(entry.path) (\(repository.storage.describe(name))): \(reason)\(goodCopy)"
    }

    /// A reason when one stored file (or one part of a split one) is damaged; an error
    /// reading it is thrown.
    func verify(_ entry: FileEntry, part: Int, serverLog: Bool, of info: BackupInfo, buffer: inout [UInt8]) throws -> String? {
        let name = serverLog ? repository.serverLogName(info.id, path: entry.path, compression: info.compression)
            : repository.storedName(info.id, entry, compression: info.compression, part: part)
        return try StoredFileReader.verify(storage: repository.storage, name: name, compression: info.compression,
                                           content: StoredContent(entry, part: part, blockSize: Int(info.blockSize)), buffer: &buffer)
    }

    /// For a damaged file's report: the other repositories' copies of the backup that store
    /// it with the same checksum, read back; where the first intact one is, and how to put
    /// it back here. Empty when there is none.
    func goodCopy(of entry: FileEntry, part: Int, in info: BackupInfo, buffer: inout [UInt8]) -> String {
        guard let otherCopies else { return "" }
        for holder in otherCopies.holders(of: [(info.id, entry)]) {
            let (held, heldEntry) = holder.versions[0]
            let there = ValidateOperation(repository: holder.repository, jobs: 1)
            if (try? there.verify(heldEntry, part: part, serverLog: false, of: held, buffer: &buffer)) == .some(nil) {
                return "; a good copy is in \(holder.name) (pgbk copy --from-repo \(holder.number) --to-repo \(otherCopies.inUse) --backup-id \(info.id) puts this backup back from it)"
            }
        }
        return "; no other repository has a good copy"
    }

    /// The segments from the backup's start to its stop location, which make it consistent;
    /// nil when backup.ini lacks the LSNs.
    static func consistencySegments(_ info: BackupInfo) -> [WALSegmentName]? {
        guard let start = info.startLSN, let stop = info.stopLSN else { return nil }
        let size = UInt64(info.walSegmentSize)
        var segment = WALSegmentName(timeline: info.timeline, containing: start, segmentSize: size)
        let last = WALSegmentName(timeline: info.timeline, endingAt: stop, segmentSize: size)
        var segments: [WALSegmentName] = []
        while segment <= last {
            segments.append(segment)
            segment = segment.next
        }
        return segments
    }

    static let missingLSNs = "backup.ini has no start/stop LSN"

    /// Those segments present in the archive (copy, whose WAL was read as it was copied or is
    /// named by its checksum); a problem for each one missing.
    func checkWALPresent(_ info: BackupInfo) throws -> [String] {
        guard let segments = Self.consistencySegments(info) else { return [Self.missingLSNs] }
        let store = repository.forBackup(info).wal
        return try segments.filter { try store.find($0.name) == nil }
            .map { "WAL segment \($0.name), needed to make the backup consistent, is not in the archive" }
    }

    /// Those segments archived and intact; an error reading them is thrown, not reported as
    /// damage.
    func checkWAL(_ info: BackupInfo, buffer: inout [UInt8]) throws -> [String] {
        guard let segments = Self.consistencySegments(info) else { return [Self.missingLSNs] }
        var problems: [String] = []
        let store = repository.forBackup(info).wal
        for segment in segments {
            let archived: ArchivedWAL?
            do { archived = try store.find(segment.name) } catch {
                // Two different copies of one segment: damage, named.
                guard let reason = StoredFileReader.contentProblem(error) else { throw error }
                problems.append("WAL segment \(segment.name): \(reason)")
                continue
            }
            if let archived {
                if let reason = try StoredFileReader.verify(storage: repository.storage, name: archived.name, compression: archived.compression,
                                                            size: UInt64(info.walSegmentSize), checksum: archived.checksum, buffer: &buffer) {
                    problems.append("WAL segment \(segment.name) (\(archived.path)): \(reason)")
                }
            } else {
                problems.append("WAL segment \(segment.name), needed to make the backup consistent, is not in the archive")
            }
        }
        return problems
    }
}
