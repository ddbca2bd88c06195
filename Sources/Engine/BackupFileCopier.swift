import PostgresFormat
import Repository

/// What copying one file produced.
struct FileOutcome: Sendable {
    var entry: FileEntry?
    var totalBytes: UInt64 = 0
    var readBytes: UInt64 = 0
    var writtenBytes: UInt64 = 0
    var pageErrors: [PageError] = []
}

/// Stores the files of one backup and builds its file list. Relation files go through a
/// PageScanner (verified; only changed pages for an incremental whose parent has the file);
/// FSM/VM forks and other files present in the parent are compared with its content; the
/// rest is copied whole. Directories first, in order; then files on `jobs` workers, largest
/// first; the file list keeps the walk's order.
struct BackupFileCopier: Sendable {
    let repository: Repository
    let cluster: DataDirectory
    let info: BackupInfo
    let options: BackupOptions
    let parent: ParentFiles?

    struct ParentFiles: Sendable {
        let info: BackupInfo
        let files: [String: FileEntry]
    }

    private var dataRoot: String { repository.dataDirectory(info.id) }

    /// Copies everything; returns the entries and the totals.
    func copyAll(_ sources: [SourceEntry], jobs: Int) throws -> (entries: [FileEntry], outcome: FileOutcome, directories: [String]) {
        var directories = [dataRoot]
        var slots: [FileEntry?] = Array(repeating: nil, count: sources.count)
        var fileIndexes: [Int] = []
        for (i, source) in sources.enumerated() {
            switch source.kind {
            case .directory, .symlink:
                // A tablespace link's contents are stored below a real directory of the same name.
                if source.relativePath != "." {
                    let stored = dataRoot + "/" + source.relativePath
                    try FileSystem.makeDirectory(stored)
                    directories.append(stored)
                }
                slots[i] = FileEntry(kind: source.kind, path: source.relativePath, mode: source.status.mode,
                                     mtime: source.status.mtime, linkTarget: source.linkTarget)
            case .file:
                fileIndexes.append(i)
            case .pageDelta, .unchanged:
                preconditionFailure("the walker lists files, not stored forms")
            }
        }
        fileIndexes.sort { sources[$0].status.size > sources[$1].status.size }
        let order = fileIndexes
        let copier = self
        let compression = options.compression, level = options.compressLevel
        let results = try WorkerPool.run(count: order.count, jobs: jobs,
                                         makeState: { FileCopier(compression: compression, level: level) }) { n, fileCopier in
            try copier.copyFile(sources[order[n]], with: &fileCopier)
        }
        var total = FileOutcome()
        for (n, result) in results.enumerated() {
            guard let result else { continue }
            slots[order[n]] = result.entry
            total.totalBytes += result.totalBytes
            total.readBytes += result.readBytes
            total.writtenBytes += result.writtenBytes
            total.pageErrors += result.pageErrors
        }
        total.pageErrors.sort { ($0.path, $0.block) < ($1.path, $1.block) }
        return (slots.compactMap { $0 }, total, directories)
    }

    func copyFile(_ source: SourceEntry, with copier: inout FileCopier) throws -> FileOutcome {
        let stored = dataRoot + "/" + source.relativePath
        let suffix = options.compression.fileSuffix
        let blockSize = Int(cluster.control.blockSize)
        var outcome = FileOutcome()
        let relation = RelationPath.parse(source.relativePath).flatMap { source.status.size % UInt64(blockSize) == 0 ? $0 : nil }
        var scanner = relation.map { relation in
            PageScanner(path: source.relativePath, blockSize: blockSize,
                        firstBlock: relation.segment * cluster.control.segmentBlocks,
                        checksums: cluster.control.dataChecksumsEnabled, backupStartLSN: info.startLSN!, parent: nil)
        }
        let previous = parent?.files[source.relativePath]
        var kind = FileEntry.Kind.file
        let summary: StoredFileSummary?
        if source.relativePath == "global/pg_control" {
            summary = try copier.copyControlFile(from: source.absolutePath, to: stored + suffix)
        } else if let relation, let base = scanner, relation.fork == .main || relation.fork == .`init` || previous == nil {
            // Main and init forks: changed pages only when the parent has the file.
            var relationScanner = base
            var delta = false
            if let parent, relation.fork == .main || relation.fork == .`init`, let previous, FileList.isStored(previous) {
                relationScanner = PageScanner(path: source.relativePath, blockSize: blockSize, firstBlock: base.firstBlock,
                                              checksums: base.checksums, backupStartLSN: info.startLSN!,
                                              parent: (parent.info.startLSN!, UInt32(previous.size / UInt64(blockSize))))
                delta = true
            }
            summary = try copier.copyRelation(from: source.absolutePath, to: stored, limit: source.status.size,
                                              delta: delta, scanner: &relationScanner)
            scanner = relationScanner
            if delta {
                kind = .pageDelta
                outcome.readBytes = UInt64(relationScanner.keptPages * blockSize)
            }
        } else if let previous {
            switch try copier.copyUnlessUnchanged(from: source.absolutePath, to: stored + suffix,
                                                  limit: source.status.size, previous: previous, scanner: &scanner) {
            case .stored(let s):
                summary = s
            case .unchanged(let size, let checksum):
                outcome.entry = FileEntry(kind: .unchanged, path: source.relativePath, mode: source.status.mode,
                                          size: size, mtime: source.status.mtime, checksum: checksum)
                outcome.totalBytes = size
                outcome.pageErrors = scanner?.errors ?? []
                return outcome
            case .vanished:
                summary = nil
            }
        } else {
            summary = try copier.copy(from: source.absolutePath, to: stored + suffix, limit: source.status.size)
        }
        outcome.pageErrors = scanner?.errors ?? []
        guard let summary else {
            Console.detail("\(source.relativePath) vanished during the backup (dropped): skipped")
            return outcome
        }
        // For a delta, the entry's size is what was read of the file (it may have shrunk since
        // it was listed): its block count decides the restored length.
        let fullSize = kind == .pageDelta ? copier.lastFileBytesRead : summary.size
        outcome.totalBytes = fullSize
        if kind != .pageDelta { outcome.readBytes = summary.size }
        outcome.writtenBytes = summary.storedSize
        outcome.entry = FileEntry(kind: kind, path: source.relativePath, mode: source.status.mode, size: fullSize,
                                  mtime: source.status.mtime, checksum: summary.checksum, storedSize: summary.storedSize)
        return outcome
    }

    /// backup_label and tablespace_map, from the server.
    func storeText(_ text: String, as name: String) throws -> FileEntry {
        let writer = try StoredFileWriter(path: dataRoot + "/" + name + options.compression.fileSuffix,
                                          compression: options.compression, level: options.compressLevel)
        try writer.write(Array(text.utf8))
        let summary = try writer.commit()
        return FileEntry(kind: .file, path: name, mode: 0o600, size: summary.size, mtime: Timestamp.now().seconds,
                         checksum: summary.checksum, storedSize: summary.storedSize)
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
