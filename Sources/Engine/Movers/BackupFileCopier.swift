import PostgresFormat
import Repository

/// What copying one file, or one part of it, produced.
struct FileOutcome: Sendable {
    var entry: FileEntry?
    var totalBytes: UInt64 = 0
    var readBytes: UInt64 = 0
    /// Bytes of the cluster's files actually read (the changed pages only, with a map).
    var scannedBytes: UInt64 = 0
    var writtenBytes: UInt64 = 0
    var pageErrors: [PageError] = []
    /// For a part of a split file: what was stored (nil when the file vanished) and how many
    /// bytes of the file were read; the parts become one entry once all are done. Boxed:
    /// a backup keeps one outcome per file until the end, and few are parts.
    var part: PartOutcome?

    final class PartOutcome: Sendable {
        let kind: FileEntry.Kind
        let summary: StoredFileSummary?
        let fileBytes: UInt64

        init(_ kind: FileEntry.Kind, _ summary: StoredFileSummary?, _ fileBytes: UInt64) {
            self.kind = kind
            self.summary = summary
            self.fileBytes = fileBytes
        }
    }
}

/// Stores the files of one backup and writes its file list. Relation files go through a
/// PageScanner (verified; only changed pages for an incremental whose parent has the file);
/// FSM/VM forks and other files present in the parent are compared with its content; the
/// rest is copied whole. Everything in the walk's order, on `jobs` workers, files larger
/// than `partSize` in parts so that one big relation does not leave the other workers idle.
struct BackupFileCopier: Sendable {
    let repository: Repository
    let cluster: DataDirectory
    let info: BackupInfo
    let options: BackupOptions
    /// The parent of an incremental (whose entries come with each task).
    let parentInfo: BackupInfo?
    /// For an incremental: the blocks WAL says changed since the parent's start; relation
    /// files then read only those (and what lies beyond the parent's end of the file).
    var changes: ChangedBlockMap?
    /// 64 MiB: a 1 GiB segment becomes 16 parts, enough to keep 8 workers busy to the end.
    var partSize: UInt64 = 64 << 20

    struct ParentFiles: Sendable {
        let info: BackupInfo
        let files: FileLookup
    }

    private var dataRoot: String { repository.dataName(info.id) }

    /// One unit of work: a whole file, or part `part` of `parts`, with the parent's entry.
    struct Task: Sendable {
        let source: SourceEntry
        let part: Int
        let parts: Int
        let bytes: UInt64
        let previous: FileEntry?
    }

    /// What the copy stored: the number of entries listed, the totals, the directories made.
    struct Copied {
        var count = 0
        var outcome = FileOutcome()
        var directories: [String] = []
    }

    /// Copies everything the walk finds, on `jobs` workers, and writes each entry into
    /// `list` in the walk's order as soon as it and all before it are done: the files are
    /// never all in memory, only a window of them. Small files land in bundles in that same
    /// order, the order restore and validate read them in (BundleWindows). Files larger than
    /// a part are split so that one big relation keeps every worker busy.
    func copyAll(_ walker: DataDirectoryWalker, parentEntries: ParentEntries?, into list: FileListWriter,
                 jobs: Int) throws -> Copied {
        var copied = Copied(directories: [dataRoot])
        let copier = self
        let compression = options.compression, level = options.compressLevel
        let limiter = options.maxRateBytesPerSecond.map { RateLimiter(bytesPerSecond: $0) }
        // Files are made durable together (BackupOperation syncs the repository before DONE).
        let storage = repository.storage.deferringDurability()
        let meter = try Self.startMeter(walker)
        defer { meter?.finish() }
        var parts: [FileOutcome] = []
        // Directories come back with no task: their entry needs no work.
        let pool = OrderedWorkPool<Task, (Task?, FileOutcome)>(
            jobs: jobs, window: max(256, jobs * 64),
            makeState: {
                var fileCopier = FileCopier(storage: storage, compression: compression, level: level)
                fileCopier.limiter = limiter
                return fileCopier
            },
            work: { task, fileCopier in
                defer { meter?.add(bytes: task.bytes, files: task.part == task.parts - 1 ? 1 : 0) }
                let outcome = task.parts == 1
                    ? try copier.copyFile(task.source, previous: task.previous, with: &fileCopier)
                    : try copier.copyPart(task.source, part: task.part, previous: task.previous, with: &fileCopier)
                try FaultInjection.point("backup-file-copied")
                return (task, outcome)
            },
            consume: { task, outcome in
                var outcome = outcome
                if let task, task.parts > 1 {
                    parts.append(outcome)
                    guard task.part == task.parts - 1 else { return }
                    outcome = try copier.joinParts(task.source, parts, previous: task.previous)
                    parts = []
                }
                copied.outcome.add(outcome)
                if let entry = outcome.entry {
                    try list.append(entry)
                    copied.count += 1
                }
            })
        defer { pool.cancel() }
        try walker.forEach { source in
            switch source.kind {
            case .directory, .symlink:
                // A tablespace link's contents are stored below a real directory of the same name.
                if source.relativePath != "." {
                    let stored = dataRoot + "/" + source.relativePath
                    try repository.storage.makeDirectories(stored)
                    copied.directories.append(stored)
                }
                var done = FileOutcome()
                done.entry = FileEntry(kind: source.kind, path: source.relativePath, mode: source.status.mode,
                                       mtime: source.status.mtime, linkTarget: source.linkTarget)
                try pool.submitDone((nil, done))
            case .file:
                let size = source.status.size
                let previous = try parentEntries?.entry(for: source.relativePath)
                let count = source.relativePath == "global/pg_control" || size <= partSize ? 1 : Int((size + partSize - 1) / partSize)
                for part in 0..<count {
                    try pool.submit(Task(source: source, part: part, parts: count,
                                         bytes: count == 1 ? size : min(partSize, size - UInt64(part) * partSize), previous: previous))
                }
            case .pageDelta, .unchanged:
                preconditionFailure("the walker lists files, not stored forms")
            }
        }
        try pool.finish()
        try parentEntries?.finish()
        copied.outcome.pageErrors.sort { ($0.path, $0.block) < ($1.path, $1.block) }
        return copied
    }

    /// With progress shown, a first walk counts what the copy will read (a stat per file).
    private static func startMeter(_ walker: DataDirectoryWalker) throws -> ProgressMeter? {
        guard ProgressMeter.isShown else { return nil }
        var bytes: UInt64 = 0, files = 0
        try walker.forEach { if $0.kind == .file { bytes += $0.status.size; files += 1 } }
        return ProgressMeter.start("backup", totalBytes: bytes, totalFiles: files)
    }

    func copyFile(_ source: SourceEntry, previous: FileEntry?, with copier: inout FileCopier) throws -> FileOutcome {
        if source.relativePath == "global/pg_control" {
            var outcome = FileOutcome()
            let stored = repository.storedName(info.id, path: source.relativePath, delta: false, compression: options.compression)
            guard let summary = try copier.copyControlFile(from: source.absolutePath(in: cluster.path), to: stored) else { return outcome }
            outcome.totalBytes = summary.size
            outcome.readBytes = summary.size
            outcome.scannedBytes = summary.size
            outcome.writtenBytes = summary.storedSize
            outcome.entry = FileEntry(kind: .file, path: source.relativePath, mode: source.status.mode, size: summary.size,
                                      mtime: source.status.mtime, checksum: summary.checksum, storedSize: summary.storedSize)
            return outcome
        }
        let outcome = try copyRange(source, part: 0, offset: 0, limit: source.status.size, wholeFile: true,
                                    previous: previous, with: &copier)
        if outcome.entry != nil { return outcome }  // unchanged since the parent
        return try joinParts(source, [outcome], previous: previous)
    }

    func copyPart(_ source: SourceEntry, part: Int, previous: FileEntry?, with copier: inout FileCopier) throws -> FileOutcome {
        let offset = UInt64(part) * partSize
        return try copyRange(source, part: part, offset: offset, limit: min(partSize, source.status.size - offset),
                             wholeFile: false, previous: previous, with: &copier)
    }

    /// Copies `limit` bytes of the file from `offset` into the stored file (or part) `part`.
    private func copyRange(_ source: SourceEntry, part: Int, offset: UInt64, limit: UInt64, wholeFile: Bool,
                           previous: FileEntry?, with copier: inout FileCopier) throws -> FileOutcome {
        let blockSize = Int(cluster.control.blockSize)
        var outcome = FileOutcome()
        let relation = RelationPath.parse(source.relativePath).flatMap { source.status.size % UInt64(blockSize) == 0 ? $0 : nil }
        var scanner = relation.map { relation in
            PageScanner(path: source.relativePath, blockSize: blockSize,
                        firstBlock: relation.segment * cluster.control.segmentBlocks,
                        checksums: cluster.control.dataChecksumsEnabled, backupStartLSN: info.startLSN!, parent: nil)
        }
        func target(delta: Bool) -> String {
            repository.storedName(info.id, path: source.relativePath, delta: delta, compression: options.compression, part: part)
        }
        if let relation, let base = scanner, relation.fork == .main || relation.fork == .`init` || previous == nil {
            // Main and init forks: changed pages only when the parent has the file.
            var relationScanner = base
            var delta = false
            if let parent = parentInfo, relation.fork == .main || relation.fork == .`init`, let previous,
               FileList.isStored(previous) || previous.kind == .unchanged {
                relationScanner = PageScanner(path: source.relativePath, blockSize: blockSize, firstBlock: base.firstBlock,
                                              checksums: base.checksums, backupStartLSN: info.startLSN!,
                                              parent: (parent.startLSN!, UInt32(previous.size / UInt64(blockSize))))
                delta = true
            }
            let blocks = delta ? changedBlocks(source.relativePath, parentBlocks: UInt32((previous?.size ?? 0) / UInt64(blockSize)),
                                               size: source.status.size) : nil
            let summary = try copier.copyRelation(from: source.absolutePath(in: cluster.path), to: target(delta: delta), offset: offset, limit: limit,
                                                  delta: delta, parentSize: delta && wholeFile ? previous?.size : nil,
                                                  blocks: blocks, scanner: &relationScanner)
            outcome.pageErrors = relationScanner.errors
            outcome.readBytes = delta ? UInt64(relationScanner.keptPages * blockSize) : summary?.size ?? 0
            outcome.scannedBytes = copier.lastBytesScanned
            outcome.writtenBytes = summary?.storedSize ?? 0
            outcome.part = .init(delta ? .pageDelta : .file, summary, delta ? copier.lastFileBytesRead : summary?.size ?? 0)
            return outcome
        }
        let summary: StoredFileSummary?
        if let previous, wholeFile {
            switch try copier.copyUnlessUnchanged(from: source.absolutePath(in: cluster.path), to: target(delta: false),
                                                  limit: limit, previous: previous, scanner: &scanner) {
            case .stored(let s):
                summary = s
            case .unchanged(let size, let checksum):
                outcome.entry = FileEntry(kind: .unchanged, path: source.relativePath, mode: source.status.mode,
                                          size: size, mtime: source.status.mtime, checksum: checksum)
                outcome.totalBytes = size
                outcome.scannedBytes = size
                outcome.pageErrors = scanner?.errors ?? []
                return outcome
            case .vanished:
                summary = nil
            }
        } else {
            summary = try copier.copy(from: source.absolutePath(in: cluster.path), to: target(delta: false), offset: offset, limit: limit)
        }
        outcome.pageErrors = scanner?.errors ?? []
        outcome.readBytes = summary?.size ?? 0
        outcome.scannedBytes = summary?.size ?? 0
        outcome.writtenBytes = summary?.storedSize ?? 0
        outcome.part = .init(.file, summary, summary?.size ?? 0)
        return outcome
    }

    /// The pages of a relation file (a segment of a main or init fork) to read for a delta
    /// from the map: the changed ones, and every one beyond the parent's end of the file
    /// (pages added since, whatever WAL says of them); nil to read every page (no map, or a
    /// file the map says to read whole).
    private func changedBlocks(_ path: String, parentBlocks: UInt32, size: UInt64) -> [UInt32]? {
        guard let changes, let (locator, fork, segment) = RelationPath.locator(path), fork == 0 || fork == 3,
              let changed = changes.changedBlocks(locator, fork: fork) else { return nil }
        let segmentBlocks = cluster.control.segmentBlocks
        let first = segment * segmentBlocks
        let inFile = changed.lazy.filter { $0 >= first && $0 - first < segmentBlocks }.map { $0 - first }.filter { $0 < parentBlocks }
        let fileBlocks = UInt32(size / UInt64(cluster.control.blockSize))
        return Array(inFile) + (parentBlocks < fileBlocks ? Array(parentBlocks..<fileBlocks) : [])
    }

    /// A relation scanned as a delta that kept no page and has the parent's size is the
    /// parent's content: it becomes a `u` entry (checksum as the parent recorded it) and the
    /// caller removes its empty delta parts, so that a backup after a quiet day stores, and a
    /// restore opens, only the relations that changed.
    private func unchangedRelation(_ source: SourceEntry, kind: FileEntry.Kind, size: UInt64, keptBytes: UInt64,
                                   previous: FileEntry?) -> FileEntry? {
        guard kind == .pageDelta, keptBytes == 0, let previous, previous.size == size else {
            return nil
        }
        return FileEntry(kind: .unchanged, path: source.relativePath, mode: source.status.mode, size: size,
                         mtime: source.status.mtime, checksum: previous.checksum)
    }

    /// How many parts make the entry, given the bytes each part read of a file listed at
    /// `listedSize`: up to and including the first that came back short, and at least one.
    static func partsKept(fileBytes: [UInt64], listedSize: UInt64, partSize: UInt64) -> Int {
        for (k, bytes) in fileBytes.enumerated() {
            if bytes == 0 && k > 0 { return k }
            if bytes < min(partSize, listedSize - UInt64(k) * partSize) { return k + 1 }
        }
        return fileBytes.count
    }

    /// One entry from the parts of a file (one part for a file that was not split). Its size
    /// is what was read: the file may have shrunk since it was listed (VACUUM truncating it),
    /// and a delta's block count decides the restored length. The entry ends with the first
    /// part that came back short; later parts are removed: whatever the file held beyond is
    /// rebuilt by WAL replay, as for any file that changes during a backup. A vanished part
    /// drops the whole file.
    private func joinParts(_ source: SourceEntry, _ parts: [FileOutcome], previous: FileEntry?) throws -> FileOutcome {
        var outcome = FileOutcome()
        let kind = parts[0].part!.kind
        // Only what was written: a delta that kept no page is never stored (storedSize 0),
        // and on object storage a removal is a request, one per unchanged relation.
        func removeParts(from first: Int) {
            for k in first..<parts.count where parts[k].part?.summary?.storedSize != 0 {
                try? repository.storage.remove(repository.storedName(info.id, path: source.relativePath, delta: kind == .pageDelta,
                                                                     compression: options.compression, part: k))
            }
        }
        guard parts.allSatisfy({ $0.part?.summary != nil }) else {
            removeParts(from: 0)
            Console.detail("\(source.relativePath) vanished during the backup (dropped): skipped")
            return outcome
        }
        outcome.scannedBytes = parts.reduce(0) { $0 + $1.scannedBytes }
        let kept = Self.partsKept(fileBytes: parts.map { $0.part!.fileBytes }, listedSize: source.status.size, partSize: partSize)
        let keptBytes = parts.prefix(kept).reduce(0) { $0 + $1.readBytes }
        let fileBytes = parts.prefix(kept).reduce(0) { $0 + $1.part!.fileBytes }
        if let unchanged = unchangedRelation(source, kind: kind, size: fileBytes, keptBytes: keptBytes, previous: previous) {
            removeParts(from: 0)
            outcome.entry = unchanged
            outcome.totalBytes = fileBytes
            outcome.pageErrors = parts.prefix(kept).flatMap(\.pageErrors)
            return outcome
        }
        var size: UInt64 = 0
        var checksum = CRC32C().value
        var entry = FileEntry(kind: kind, path: source.relativePath, mode: source.status.mode, mtime: source.status.mtime)
        for result in parts.prefix(kept) {
            let summary = result.part!.summary, fileBytes = result.part!.fileBytes
            size += fileBytes
            checksum = CRC32C.combine(checksum, summary!.checksum, lengthOfB: summary!.size)
            entry.partChecksums.append(summary!.checksum)
            entry.storedSize += summary!.storedSize
            outcome.pageErrors += result.pageErrors
            outcome.readBytes += result.readBytes
        }
        removeParts(from: kept)
        entry.size = size
        entry.checksum = checksum
        if kept > 1 { entry.partSize = partSize } else { entry.partChecksums = [] }
        outcome.entry = entry
        outcome.totalBytes = size
        outcome.writtenBytes = entry.storedSize
        return outcome
    }

    /// backup_label and tablespace_map, from the server.
    func storeText(_ text: String, as name: String) throws -> FileEntry {
        let writer = try StoredFileWriter(storage: repository.storage, name: dataRoot + "/" + name + options.compression.fileSuffix,
                                          compression: options.compression, level: options.compressLevel)
        try writer.write(Array(text.utf8))
        let summary = try writer.commit()
        return FileEntry(kind: .file, path: name, mode: 0o600, size: summary.size, mtime: Timestamp.now().seconds,
                         checksum: summary.checksum, storedSize: summary.storedSize)
    }
}

extension FileOutcome {
    mutating func add(_ other: FileOutcome) {
        totalBytes += other.totalBytes
        readBytes += other.readBytes
        scannedBytes += other.scannedBytes
        writtenBytes += other.writtenBytes
        pageErrors += other.pageErrors
    }
}

/// Page errors go into backup.ini and to stderr at once, so that they are seen.
func report(_ pageErrors: [PageError], into info: inout BackupInfo) {
    info.pageErrorCount = pageErrors.count
    guard !pageErrors.isEmpty else { return }
    info.pageErrorDetail = pageErrors.prefix(20).map(\.description).joined(separator: "; ")
        + (pageErrors.count > 20 ? "; and \(pageErrors.count - 20) more" : "")
    for error in pageErrors.prefix(100) { Console.warning("page verification failed: \(error)") }
}
