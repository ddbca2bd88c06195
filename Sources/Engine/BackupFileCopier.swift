import PostgresFormat
import Repository

/// Stores the files of one backup and builds its file list. Relation files go through a
/// PageScanner (verified; only changed pages for an incremental whose parent has the file);
/// everything else is copied whole.
struct BackupFileCopier {
    let repository: Repository
    let cluster: DataDirectory
    let info: BackupInfo
    let options: BackupOptions
    let parent: (info: BackupInfo, files: [String: FileEntry])?

    private var copier: FileCopier
    private var entries: [FileEntry] = []
    private var directories: [String] = []
    private var pageErrors: [PageError] = []
    private(set) var totalBytes: UInt64 = 0
    private(set) var readBytes: UInt64 = 0
    private(set) var writtenBytes: UInt64 = 0

    init(repository: Repository, cluster: DataDirectory, info: BackupInfo, options: BackupOptions,
         parent: (info: BackupInfo, files: [String: FileEntry])?) {
        self.repository = repository
        self.cluster = cluster
        self.info = info
        self.options = options
        self.parent = parent
        copier = FileCopier(compression: options.compression, level: options.compressLevel)
        directories = [repository.dataDirectory(info.id)]
    }

    private var dataRoot: String { repository.dataDirectory(info.id) }

    mutating func add(_ source: SourceEntry) throws {
        let stored = dataRoot + "/" + source.relativePath
        switch source.kind {
        case .directory, .symlink:
            // A tablespace link's contents are stored below a real directory of the same name.
            if source.relativePath != "." {
                try FileSystem.makeDirectory(stored)
                directories.append(stored)
            }
            entries.append(FileEntry(kind: source.kind, path: source.relativePath, mode: source.status.mode,
                                     mtime: source.status.mtime, linkTarget: source.linkTarget))
        case .file:
            try addFile(source, stored: stored)
        case .pageDelta, .unchanged:
            preconditionFailure("the walker lists files, not stored forms")
        }
    }

    private mutating func addFile(_ source: SourceEntry, stored: String) throws {
        let blockSize = Int(cluster.control.blockSize)
        var kind = FileEntry.Kind.file
        let summary: StoredFileSummary?
        var kept: UInt64 = 0
        let relation = RelationPath.parse(source.relativePath).flatMap { source.status.size % UInt64(blockSize) == 0 ? $0 : nil }
        var scanner = relation.map { relation in
            PageScanner(path: source.relativePath, blockSize: blockSize,
                        firstBlock: relation.segment * cluster.control.segmentBlocks,
                        checksums: cluster.control.dataChecksumsEnabled, backupStartLSN: info.startLSN!, parent: nil)
        }
        defer { pageErrors += scanner?.errors ?? [] }
        let previous = parent?.files[source.relativePath]
        if source.relativePath == "global/pg_control" {
            summary = try copier.copyControlFile(from: source.absolutePath, to: stored + options.compression.fileSuffix)
        } else if let relation, var relationScanner = scanner, relation.fork == .main || relation.fork == .`init` || previous == nil {
            // Main and init forks: changed pages only when the parent has the file.
            var parentState: (startLSN: LSN, blockCount: UInt32)? = nil
            if let parent, relation.fork == .main || relation.fork == .`init`, let previous, FileList.isStored(previous) {
                parentState = (parent.info.startLSN!, UInt32(previous.size / UInt64(blockSize)))
                relationScanner = PageScanner(path: source.relativePath, blockSize: blockSize,
                                              firstBlock: relationScanner.firstBlock, checksums: relationScanner.checksums,
                                              backupStartLSN: info.startLSN!, parent: parentState)
            }
            summary = try copier.copyRelation(from: source.absolutePath, to: stored, limit: source.status.size,
                                              delta: parentState != nil, scanner: &relationScanner)
            scanner = relationScanner
            if parentState != nil {
                kind = .pageDelta
                kept = UInt64(relationScanner.keptPages * blockSize)
            }
        } else if let previous {
            // Everything else of an incremental (FSM/VM forks, non-relation files): not stored
            // again when its content is what the parent recorded.
            switch try copier.copyUnlessUnchanged(from: source.absolutePath, to: stored + options.compression.fileSuffix,
                                                  limit: source.status.size, previous: previous, scanner: &scanner) {
            case .stored(let s):
                summary = s
            case .unchanged(let size, let checksum):
                totalBytes += size
                entries.append(FileEntry(kind: .unchanged, path: source.relativePath, mode: source.status.mode,
                                         size: size, mtime: source.status.mtime, checksum: checksum))
                return
            case .vanished:
                summary = nil
            }
        } else {
            summary = try copier.copy(from: source.absolutePath, to: stored + options.compression.fileSuffix,
                                      limit: source.status.size)
        }
        guard let summary else {
            Console.detail("\(source.relativePath) vanished during the backup (dropped): skipped")
            return
        }
        // For a delta, the entry's size is what was read of the file (it may have shrunk since
        // it was listed): its block count decides the restored length.
        let fullSize = kind == .pageDelta ? copier.lastFileBytesRead : summary.size
        totalBytes += fullSize
        readBytes += kind == .pageDelta ? kept : summary.size
        writtenBytes += summary.storedSize
        entries.append(FileEntry(kind: kind, path: source.relativePath, mode: source.status.mode, size: fullSize,
                                 mtime: source.status.mtime, checksum: summary.checksum, storedSize: summary.storedSize))
    }

    mutating func addText(_ text: String, as name: String) throws {
        let writer = try StoredFileWriter(path: dataRoot + "/" + name + options.compression.fileSuffix,
                                          compression: options.compression, level: options.compressLevel)
        try writer.write(Array(text.utf8))
        let summary = try writer.commit()
        writtenBytes += summary.storedSize
        entries.append(FileEntry(kind: .file, path: name, mode: 0o600, size: summary.size, mtime: Timestamp.now().seconds,
                                 checksum: summary.checksum, storedSize: summary.storedSize))
    }

    /// Page errors go into backup.ini and to stderr now, so that they are seen.
    func reportPageErrors(into info: inout BackupInfo) {
        info.pageErrorCount = pageErrors.count
        guard !pageErrors.isEmpty else { return }
        info.pageErrorDetail = pageErrors.prefix(20).map(\.description).joined(separator: "; ")
            + (pageErrors.count > 20 ? "; and \(pageErrors.count - 20) more" : "")
        for error in pageErrors.prefix(100) { Console.warning("page verification failed: \(error)") }
    }

    /// Makes the directories durable; returns the file list.
    func finish() throws -> [FileEntry] {
        for dir in directories.reversed() { try FileSystem.syncDirectory(dir) }
        return entries
    }
}
