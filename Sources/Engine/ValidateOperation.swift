import PostgresFormat
import Repository

/// Re-reads backups against their checksums and checks the WAL that makes each consistent.
/// DONE backups become OK or CORRUPT; a RUNNING one whose writer is gone becomes ERROR.
public struct ValidateOperation: Sendable {
    let repository: Repository
    let lockTimeoutSeconds: Int
    let jobs: Int

    public init(repository: Repository, lockTimeoutSeconds: Int = 0, jobs: Int = WorkerPool.defaultJobs) {
        self.repository = repository
        self.lockTimeoutSeconds = lockTimeoutSeconds
        self.jobs = jobs
    }

    public struct Outcome: Sendable {
        public let id: String
        public let status: BackupStatus
        public let problems: [String]
    }

    public func run(backupID: String?) throws -> [Outcome] {
        let lock = try RepositoryLock(repository: repository, command: "validate", timeoutSeconds: lockTimeoutSeconds)
        defer { lock.release() }
        try Catalog.markOrphans(repository)

        let targets: [BackupInfo]
        if let backupID {
            let info = try repository.loadBackup(backupID)
            guard info.status != .deleted && info.status != .deleting else {
                throw EngineError.backupNotUsable(id: backupID, status: info.status.rawValue, reason: "its data was removed")
            }
            guard info.status != .error else {
                throw EngineError.backupNotUsable(id: backupID, status: info.status.rawValue, reason: info.statusReason)
            }
            // An incremental is only as good as its chain: check every member that is there.
            let all = try repository.loadAll().backups
            var members = [info]
            while let last = members.last, last.mode == .incremental, let parentID = last.parentID,
                  let parent = all.first(where: { $0.id == parentID }), members.count < 10_000 {
                members.append(parent)
            }
            targets = members.reversed().filter { $0.status != .error && $0.status != .deleted && $0.status != .deleting }
        } else {
            let loaded = try repository.loadAll()
            for (id, error) in loaded.unreadable {
                Console.warning("backup \(id) cannot be read: \(error)")
            }
            targets = loaded.backups.filter { $0.status == .done }
        }

        var outcomes: [Outcome] = []
        for var info in targets {
            Console.info("validating backup \(info.id)")
            let problems = check(info)
            info.status = problems.isEmpty ? .ok : .corrupt
            info.statusReason = problems.isEmpty ? nil : problems.prefix(3).joined(separator: "; ")
                + (problems.count > 3 ? "; and \(problems.count - 3) more" : "")
            try repository.saveBackup(info)
            for problem in problems { Console.warning("backup \(info.id): \(problem)") }
            outcomes.append(Outcome(id: info.id, status: info.status, problems: problems))
        }
        if let backupID {
            let all = try repository.loadAll().backups
            if let named = all.first(where: { $0.id == backupID }), named.status == .ok {
                do { _ = try repository.chain(for: named, among: all) } catch {
                    Console.warning("\(error)")
                    outcomes.append(Outcome(id: backupID, status: .corrupt, problems: ["\(error)"]))
                }
            }
        }
        return outcomes
    }

    /// Every problem found, each naming its file; empty when the backup is intact.
    func check(_ info: BackupInfo) -> [String] {
        let entries: [FileEntry]
        do { entries = try repository.loadFileList(info) } catch { return ["\(error)"] }
        // One unit per stored file: a whole entry, or one part of a split one.
        var units: [(entry: FileEntry, part: Int)] = []
        for entry in entries where FileList.isStored(entry) {
            for part in 0..<entry.partCount { units.append((entry, part)) }
        }
        func weight(_ unit: (entry: FileEntry, part: Int)) -> UInt64 { unit.entry.storedSize / UInt64(unit.entry.partCount) }
        units.sort { weight($0) > weight($1) }
        let work = units
        let operation = self
        let found = (try? WorkerPool.run(count: work.count, jobs: jobs,
                                         makeState: { [UInt8](repeating: 0, count: 1 << 20) }) { n, buffer -> String? in
            let (entry, part) = work[n]
            let path = operation.repository.storedPath(info.id, entry, compression: info.compression, part: part)
            let checksum = (entry.isSplit ? entry.partChecksums[part] : entry.checksum) ?? 0
            let reason: String?
            if entry.kind == .pageDelta {
                reason = operation.verifyDelta(path: path, info: info, checksum: checksum)
            } else {
                let size = entry.isSplit ? min(entry.partSize, entry.size - UInt64(part) * entry.partSize) : entry.size
                reason = StoredFileReader.verify(path: path, compression: info.compression, size: size, checksum: checksum, buffer: &buffer)
            }
            return reason.map { "file \(entry.path) (\(path)): \($0)" }
        }) ?? []
        var problems = found.compactMap { $0 ?? nil }.sorted()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        problems += checkWAL(info, buffer: &buffer)
        return problems
    }

    func verifyDelta(path: String, info: BackupInfo, checksum: UInt32) -> String? {
        do {
            let reader = try StoredFileReader(path: path, compression: info.compression)
            defer { reader.close() }
            try PageDelta.readPages(reader, blockSize: Int(info.blockSize)) { _, _ in }
            return reader.checksum == checksum ? nil : "checksum \(CRC32C.hex(reader.checksum)), expected \(CRC32C.hex(checksum))"
        } catch let error as SystemError where error.isNotFound {
            return "missing"
        } catch {
            return "\(error)"
        }
    }

    /// The segments from the backup's start to its stop location must be archived and intact.
    func checkWAL(_ info: BackupInfo, buffer: inout [UInt8]) -> [String] {
        guard let start = info.startLSN, let stop = info.stopLSN else { return ["backup.ini has no start/stop LSN"] }
        let size = UInt64(info.walSegmentSize)
        var segment = WALSegmentName(timeline: info.timeline, containing: start, segmentSize: size)
        let last = WALSegmentName(timeline: info.timeline, endingAt: stop, segmentSize: size)
        var problems: [String] = []
        while segment <= last {
            do {
                if let archived = try repository.wal.find(segment.name) {
                    if let reason = StoredFileReader.verify(path: archived.path, compression: archived.compression,
                                                            size: size, checksum: archived.checksum, buffer: &buffer) {
                        problems.append("WAL segment \(segment.name) (\(archived.path)): \(reason)")
                    }
                } else {
                    problems.append("WAL segment \(segment.name), needed to make the backup consistent, is not in the archive")
                }
            } catch {
                problems.append("WAL segment \(segment.name): \(error)")
            }
            segment = segment.next
        }
        return problems
    }
}
