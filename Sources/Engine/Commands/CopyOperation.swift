import PostgresFormat
import Repository
import StorageInterface

/// `pgbk copy`: what one repository of a cluster holds and another lacks (archived WAL and
/// history files, then backups with their server logs, ancestors first) goes into the other.
/// Stored objects are copied as they are, each read against the catalog's checksums as it
/// passes and committed in the target only if it matches (VerifiedCopy), so that the
/// target's catalog describes exactly the target's bytes. A backup appears in the target as
/// RUNNING first and as OK only once all of it is there: a kill leaves RUNNING, which the
/// next command makes ERROR, and a rerun copies it again.
public struct CopyOperation: Sendable {
    let source: Repository
    let target: Repository
    let lockTimeoutSeconds: Int
    let jobs: Int
    /// `--max-rate`: every object copied (backup data and WAL) is counted against it.
    let limiter: RateLimiter?

    public init(from source: Repository, to target: Repository, lockTimeoutSeconds: Int = 0, jobs: Int = WorkerPool.defaultJobs,
                maxRateBytesPerSecond: UInt64? = nil) {
        self.source = source
        self.target = target
        self.lockTimeoutSeconds = lockTimeoutSeconds
        self.jobs = jobs
        limiter = maxRateBytesPerSecond.map { RateLimiter(bytesPerSecond: $0) }
    }

    public struct Report: Sendable {
        public var walFiles = 0
        public var backups: [String] = []
        public var drills = 0
        public var bytes: UInt64 = 0
    }

    /// Refuses a copy into the same repository, or between repositories of different
    /// clusters, before anything is written.
    public static func checkPair(source: Repository, target: Repository) throws {
        guard source.path != target.path else {
            throw EngineError.invalidArgument("copy from \(source.path) into itself: name two different repositories")
        }
        let (a, b) = (source.identity, target.identity)
        guard a.systemIdentifier == b.systemIdentifier else {
            throw EngineError.clusterMismatch(what: "repository \(target.path)", found: b.systemIdentifier, expected: a.systemIdentifier,
                                              repository: source.path)
        }
        guard a.pgMajorVersion == b.pgMajorVersion, a.walSegmentSize == b.walSegmentSize else {
            throw EngineError.invalidArgument("\(source.path) holds PostgreSQL \(a.pgMajorVersion) with \(a.walSegmentSize)-byte WAL segments, \(target.path) PostgreSQL \(b.pgMajorVersion) with \(b.walSegmentSize): copy works between repositories of one cluster and version")
        }
        // After pg_upgrade each repository was upgraded on its own: their generations must be
        // the same clusters, so that every backup's WAL has its place in the target.
        guard a.generation == b.generation, a.past.map(\.systemIdentifier) == b.past.map(\.systemIdentifier) else {
            throw EngineError.invalidArgument("\(source.path) is at generation \(a.generation) of its clusters and \(target.path) at \(b.generation), or of other ones: run pgbk upgrade-repository for each repository after pg_upgrade")
        }
    }

    /// `backupID`: that backup and the ancestors the target lacks; nil: every OK or DONE one.
    public func run(backupID: String?) throws -> Report {
        try Self.checkPair(source: source, target: target)
        // Shared on the source (nothing expires what is being copied), exclusive on the target.
        let sourceLock = try RepositoryLock(repository: source, command: "copy", shared: true, timeoutSeconds: lockTimeoutSeconds)
        defer { sourceLock.release() }
        let targetLock = try RepositoryLock(repository: target, command: "copy", timeoutSeconds: lockTimeoutSeconds)
        defer { targetLock.release() }
        var targetCatalog = try target.loadAll()
        try Catalog.markOrphans(target, in: &targetCatalog)
        Catalog.discardAbandonedWrites(target)

        let chosen = try backupsToCopy(backupID: backupID, have: targetCatalog)
        var report = Report()
        (report.walFiles, report.bytes) = try copyWAL()
        for info in chosen {
            report.bytes += try copyBackup(info, replacing: targetCatalog.backups.first { $0.id == info.id })
            report.backups.append(info.id)
        }
        report.drills = try copyDrills()
        return report
    }

    /// The drill records of backups the target now holds, where it lacks them: the evidence
    /// that those backups restore goes with them. A record is read (and checked) as the
    /// source's catalog, and written under its own ID only where none is.
    private func copyDrills() throws -> Int {
        let held = Set(try target.loadAll().backups.filter(\.isUsable).map(\.id))
        let there = Set(try target.loadDrills().drills.map(\.id))
        var copied = 0
        for record in try source.loadDrills().drills where !there.contains(record.id) && record.backupID.map(held.contains) == true {
            try target.storage.makeDirectories(Repository.drillRootName)
            do {
                try target.storage.writeAll(target.drillName(record.id), Array(record.text().utf8), noReplace: true)
                copied += 1
            } catch StorageError.exists { continue }
        }
        if copied > 0 { Console.info("copied \(copied) drill record(s) from \(source.path) to \(target.path)") }
        return copied
    }

    /// The source's OK and DONE backups the target lacks (has in no usable state), oldest
    /// first, so that parents come before their incrementals.
    private func backupsToCopy(backupID: String?, have: CatalogSnapshot) throws -> [BackupInfo] {
        let all = try source.loadAll().backups
        var wanted = all.filter(\.isUsable)
        if let given = backupID {
            let backupID = try BackupReference(given).resolve(among: all, in: source.path)
            guard let named = all.first(where: { $0.id == backupID }) else {
                throw CatalogError.invalid(source.backupDirectory(backupID), "no such backup")
            }
            guard named.isUsable else {
                throw EngineError.backupNotUsable(id: backupID, status: named.status.rawValue, reason: named.statusReason)
            }
            let ancestry = Set(try source.ancestry(of: named, among: all).map(\.id))
            wanted = wanted.filter { ancestry.contains($0.id) }
        }
        let usableThere = Set(have.backups.filter(\.isUsable).map(\.id))
        return wanted.filter { !usableThere.contains($0.id) }.sorted { $0.id < $1.id }
    }

    /// Every archived file the target lacks, in every generation's archive (checkPair made
    /// sure they are the same clusters'), each checked as it is copied.
    private func copyWAL() throws -> (files: Int, bytes: UInt64) {
        var copied: (files: Int, bytes: UInt64) = (0, 0)
        for generation in 1...source.identity.generation {
            guard let from = source.asGeneration(generation)?.wal, let to = target.asGeneration(generation)?.wal else { continue }
            let one = try copyWAL(from: from, to: to)
            copied = (copied.files + one.files, copied.bytes + one.bytes)
        }
        return copied
    }

    /// Every archived file of one generation the target lacks, checked as it is copied; a file
    /// the target holds with other content is a conflict, never overwritten.
    private func copyWAL(from: WALArchiveStore, to: WALArchiveStore) throws -> (files: Int, bytes: UInt64) {
        let there = Dictionary(try to.listAll().map { ($0.walName, $0) }) { a, _ in a }
        var missing: [ArchivedWAL] = []
        for file in try from.listAll() {
            if let held = there[file.walName] {
                guard held.checksum == file.checksum else { throw EngineError.walConflict(walName: file.walName, archived: held.path) }
                continue
            }
            missing.append(file)
        }
        let work = missing
        let (source, target, limiter) = (self.source, self.target, self.limiter)
        let sizes = try WorkerPool.run(count: work.count, jobs: jobs, makeState: { [UInt8](repeating: 0, count: 1 << 20) }) { n, buffer in
            let file = work[n]
            let (bytes, problem) = try VerifiedCopy.copy(file.name, from: source.storage, to: target.storage, compression: file.compression,
                                                         content: StoredContent(size: nil, checksum: file.checksum), buffer: &buffer)
            if let problem {
                throw EngineError.corruptFile(path: source.storage.describe(file.name), reason: "\(file.walName) is damaged in the source: \(problem); nothing was copied for it")
            }
            limiter?.take(Int(bytes))
            try FaultInjection.point("copy-wal-copied")
            return bytes
        }
        if !work.isEmpty { Console.info("copied \(work.count) archived WAL file(s) from \(source.path) to \(target.path)") }
        return (work.count, sizes.reduce(0) { $0 + ($1 ?? 0) })
    }

    /// One backup: RUNNING in the target, its file list, stored files and server logs copied,
    /// each read against the catalog as it passes (VerifiedCopy), then OK (or CORRUPT, and an
    /// error).
    private func copyBackup(_ info: BackupInfo, replacing old: BackupInfo?) throws -> UInt64 {
        let id = info.id
        if old != nil { try target.storage.removeTree(target.backupName(id)) }
        var copy = info
        copy.status = .running
        copy.statusReason = "being copied from \(source.path)"
        try target.storage.makeDirectories(target.backupName(id))
        try target.saveBackup(copy)
        try FaultInjection.point("copy-after-running")
        let catalog = try catalogNames(info)
        var bytes = try Self.copyObjects(catalog, from: source.storage, to: target.storage, jobs: jobs)
        var problems = try catalogProblems(copy)
        // Through the deferring view, as a backup writes: bundled as the target's BUNDLE
        // says, durable together before the copy is marked OK.
        let copied = try copyStored(info, to: target.storage.deferringDurability())
        try target.storage.syncAll(target.backupName(id))
        copy.bundled = try target.storage.exists(BundleList.listName(backup: target.backupName(id)))
        bytes += copied.bytes
        problems += copied.problems
        problems += try ValidateOperation(repository: target, jobs: jobs).checkWALPresent(copy)
        copy.status = problems.isEmpty ? .ok : .corrupt
        copy.statusReason = problems.isEmpty ? nil : problems.prefix(3).joined(separator: "; ")
        copy.verifyTime = .now()
        try FaultInjection.point("copy-before-done")
        try target.saveBackup(copy)
        guard problems.isEmpty else {
            throw EngineError.corruptFile(path: target.backupDirectory(id), reason: "the copy of backup \(id) is not what the source's catalog says: \(problems[0])")
        }
        Console.info("copied backup \(id) from \(source.path) to \(target.path): \(copied.objects + catalog.count) files, \(formatBytes(bytes)); each read against the catalog as it was copied: OK")
        return bytes
    }

    /// The backup's own lists: copied as they are, then read in the target (the file list
    /// against the checksum backup.ini records, the server log list against the source's).
    private func catalogNames(_ info: BackupInfo) throws -> [String] {
        var names = [source.fileListName(info.id)]
        if try source.storage.exists(source.serverLogListName(info.id)) { names.append(source.serverLogListName(info.id)) }
        return names
    }

    private func catalogProblems(_ copy: BackupInfo) throws -> [String] {
        var problems: [String] = []
        do { if try !target.checkFileList(copy) { _ = try target.loadFileList(copy) } } catch { problems.append("\(error)") }
        let logList = target.serverLogListName(copy.id)
        if try source.storage.exists(logList), try target.storage.readAll(logList) != source.storage.readAll(logList) {
            problems.append("\(target.storage.describe(logList)) differs from the source's")
        }
        return problems
    }

    private typealias Unit = (name: String, content: StoredContent, what: String)

    /// Every stored object of the backup, in its file list's order (the order a backup fills
    /// bundles in, and restore reads them in), then its server logs, on `jobs` workers
    /// (OrderedWorkPool): the list is read as the copy goes, never held. Returns the bytes,
    /// the objects, and a problem per object whose source content is not what the catalog
    /// says (that object not copied).
    private func copyStored(_ info: BackupInfo, to storage: any RepositoryStorage) throws -> (bytes: UInt64, objects: Int, problems: [String]) {
        var copied: (bytes: UInt64, objects: Int, problems: [String]) = (0, 0, [])
        let (from, compression, limiter) = (source.storage, info.compression, limiter)
        let pool = OrderedWorkPool<Unit, (UInt64, String?)>(
            jobs: jobs, window: max(256, jobs * 64), makeState: { [UInt8](repeating: 0, count: 1 << 20) },
            work: { unit, buffer in
                let (bytes, problem) = try VerifiedCopy.copy(unit.name, from: from, to: storage, compression: compression,
                                                             content: unit.content, buffer: &buffer)
                limiter?.take(Int(bytes))
                try FaultInjection.point("copy-file-copied")
                return (bytes, problem.map { "\(unit.what) (\(from.describe(unit.name))): \($0)" })
            },
            consume: { bytes, problem in
                copied.bytes += bytes
                copied.objects += 1
                if let problem { copied.problems.append(problem) }
            })
        defer { pool.cancel() }
        let blockSize = Int(info.blockSize)
        let list = try FileListReader(repository: source, info: info)
        while let entry = try list.next() {
            guard FileList.isStored(entry) else { continue }
            for part in 0..<entry.partCount {
                try pool.submit((source.storedName(info.id, entry, compression: info.compression, part: part),
                                 StoredContent(entry, part: part, blockSize: blockSize), "file \(entry.path)"))
            }
        }
        for entry in try source.loadServerLogList(info.id) ?? [] {
            try pool.submit((source.serverLogName(info.id, path: entry.path, compression: info.compression),
                             StoredContent(entry, part: 0, blockSize: blockSize), "server log \(entry.path)"))
        }
        try pool.finish()
        copied.problems.sort()
        return copied
    }

    /// Stored objects on `jobs` workers, each with its own buffer; the bytes copied.
    static func copyObjects(_ names: [String], from: any RepositoryStorage, to: any RepositoryStorage, jobs: Int) throws -> UInt64 {
        let sizes = try WorkerPool.run(count: names.count, jobs: jobs, makeState: { [UInt8](repeating: 0, count: 1 << 20) }) { n, buffer in
            let bytes = try copyObject(names[n], from: from, to: to, buffer: &buffer)
            try FaultInjection.point("copy-file-copied")
            return bytes
        }
        return sizes.reduce(0) { $0 + ($1 ?? 0) }
    }

    /// One stored object, byte for byte, under the same name (or `targetName`: merge copies a
    /// stored file into the merged backup); the target's write is atomic (nothing appears
    /// under the name until it is whole).
    static func copyObject(_ name: String, from: any RepositoryStorage, to: any RepositoryStorage, as targetName: String? = nil,
                           buffer: inout [UInt8]) throws -> UInt64 {
        let input = try from.openRead(name)
        defer { input.close() }
        let target = targetName ?? name
        let parent = PosixStorage.parent(of: target)
        if !parent.isEmpty { try to.makeDirectories(parent) }
        let output = try to.openWrite(target, expectedSize: nil, noReplace: false)
        var total: UInt64 = 0
        do {
            while true {
                let n = try buffer.withUnsafeMutableBytes { try input.read(into: $0) }
                if n == 0 { break }
                try buffer.withUnsafeBytes { try output.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                total += UInt64(n)
            }
            try output.commit()
        } catch {
            output.abandon()
            throw error
        }
        try to.syncDirectory(parent)
        return total
    }
}
