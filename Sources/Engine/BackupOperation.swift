import PostgresClient
import PostgresFormat
import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

public struct BackupOptions: Sendable {
    public var mode: BackupMode = .full
    public var smoothCheckpoint = false
    public var compression: Compression = .none
    public var compressLevel: Int32 = 1
    public var archiveTimeoutSeconds = 600
    public var connection = ConnectionParameters()

    public init() {}
}

/// A full online backup: pg_backup_start, copy, pg_backup_stop, wait for the last WAL segment,
/// then commit by rewriting backup.ini as DONE. Until that rename, the backup is RUNNING (or
/// ERROR), and never restored.
public struct BackupOperation {
    let repository: Repository
    let cluster: DataDirectory
    let options: BackupOptions

    public init(repository: Repository, cluster: DataDirectory, options: BackupOptions) {
        self.repository = repository
        self.cluster = cluster
        self.options = options
    }

    public func run() throws -> BackupInfo {
        guard options.mode == .full else {
            throw EngineError.invalidArgument("incremental backups are not implemented yet; use -b full")
        }
        let lock = try RepositoryLock(repository: repository, command: "backup")
        defer { lock.release() }
        try Catalog.markOrphans(repository)
        try checkCluster()

        let connection = try Connection(options.connection)
        let settings = try connection.serverSettings()
        try checkServer(settings)

        let (id, start) = try repository.createBackupDirectory(mode: options.mode)
        var info = BackupInfo(id: id, mode: options.mode, status: .running, startTime: start)
        info.label = "pgbk backup \(id)"
        info.pid = getpid()
        info.systemIdentifier = cluster.control.systemIdentifier
        info.pgVersionNum = settings.versionNumber
        info.blockSize = cluster.control.blockSize
        info.walBlockSize = cluster.control.walBlockSize
        info.walSegmentSize = cluster.control.walSegmentSize
        info.dataChecksums = cluster.control.dataChecksumsEnabled
        info.compression = options.compression
        info.compressLevel = options.compressLevel
        try repository.saveBackup(info)
        Console.info("backup \(id) started (\(options.mode.rawValue.lowercased()), \(options.smoothCheckpoint ? "spread" : "fast") checkpoint)")

        do {
            try copyAndStop(connection: connection, info: &info)
        } catch {
            info.statusReason = "\(error)"
            try? Catalog.markFailed(repository, &info)
            throw error
        }
        return info
    }

    private func copyAndStop(connection: Connection, info: inout BackupInfo) throws {
        _ = try connection.startBackup(label: info.label, fastCheckpoint: !options.smoothCheckpoint)
        let sources = try DataDirectoryWalker(cluster: cluster).walk()
        var entries: [FileEntry] = []
        entries.reserveCapacity(sources.count + 2)
        var copier = FileCopier(compression: options.compression, level: options.compressLevel)
        let data = repository.dataDirectory(info.id)
        var directories: Set<String> = [data]

        for source in sources {
            let stored = data + "/" + source.relativePath
            switch source.kind {
            case .directory, .symlink:
                // A tablespace link's contents are stored below a real directory of the same name.
                if source.relativePath != "." {
                    try FileSystem.makeDirectory(stored)
                    directories.insert(stored)
                }
                entries.append(FileEntry(kind: source.kind, path: source.relativePath, mode: source.status.mode,
                                         mtime: source.status.mtime, linkTarget: source.linkTarget))
            case .file:
                let target = stored + options.compression.fileSuffix
                let copied = source.relativePath == "global/pg_control"
                    ? try copier.copyControlFile(from: source.absolutePath, to: target)
                    : try copier.copy(from: source.absolutePath, to: target, limit: source.status.size)
                guard let summary = copied else {
                    Console.detail("\(source.relativePath) vanished during the backup (dropped): skipped")
                    continue
                }
                info.totalDataBytes += summary.size
                info.readDataBytes += summary.size
                info.writeBytes += summary.storedSize
                entries.append(FileEntry(kind: .file, path: source.relativePath, mode: source.status.mode,
                                         size: summary.size, mtime: source.status.mtime,
                                         checksum: summary.checksum, storedSize: summary.storedSize))
            }
        }

        let stop = try connection.stopBackup()
        let label = try BackupLabel(text: stop.labelFile)
        guard let stopLSN = LSN(stop.stopLSN) else {
            throw EngineError.serverNotReady("pg_backup_stop returned an invalid LSN \(stop.stopLSN)")
        }
        let segmentSize = UInt64(cluster.control.walSegmentSize)
        info.timeline = label.startTimeline
        info.startLSN = label.startLSN
        info.stopLSN = stopLSN
        info.startWALFile = label.startWALFile
        let stopSegment = WALSegmentName(timeline: label.startTimeline, endingAt: stopLSN, segmentSize: segmentSize)
        info.stopWALFile = stopSegment.name

        // The label and map come from the server, never from the live data directory.
        let now = Timestamp.now().seconds
        for (name, text) in [("backup_label", stop.labelFile), ("tablespace_map", stop.tablespaceMapFile)] where !text.isEmpty {
            let summary = try storeText(text, at: data + "/" + name)
            info.writeBytes += summary.storedSize
            entries.append(FileEntry(kind: .file, path: name, mode: 0o600, size: summary.size, mtime: now,
                                     checksum: summary.checksum, storedSize: summary.storedSize))
        }
        let point = try connection.recoveryPoint()
        info.recoveryXID = UInt64(point.xid)
        info.recoveryTime = point.time + "+00"

        try waitForArchive(stopSegment, connection: connection)

        for dir in directories.sorted(by: >) { try FileSystem.syncDirectory(dir) }
        info.fileCount = entries.count
        info.fileListChecksum = try repository.saveFileList(info.id, entries)
        info.endTime = .now()
        info.status = .done
        info.pid = nil
        try repository.saveBackup(info)
        Console.info("backup \(info.id) completed: \(entries.count) entries, \(formatBytes(info.readDataBytes)) read, \(formatBytes(info.writeBytes)) written; run pgbk validate to mark it OK")
    }

    private func storeText(_ text: String, at path: String) throws -> StoredFileSummary {
        let writer = try StoredFileWriter(path: path + options.compression.fileSuffix, compression: options.compression,
                                          level: options.compressLevel)
        try Array(text.utf8).withUnsafeBytes { try writer.write($0) }
        return try writer.commit()
    }

    /// Polls the archive for the backup's last segment. pg_backup_stop has already forced the
    /// switch to a new segment, so the archiver is working on it.
    private func waitForArchive(_ segment: WALSegmentName, connection: Connection) throws {
        let deadline = Timestamp.now().seconds + Int64(options.archiveTimeoutSeconds)
        var delay: UInt32 = 20_000
        Console.detail("waiting for \(segment.name) to be archived")
        while try repository.wal.find(segment.name) == nil {
            if Timestamp.now().seconds >= deadline {
                var hint = ""
                if let r = try? connection.query("SELECT last_failed_wal, last_failed_time::text FROM pg_stat_archiver"),
                   let failed = r.value(0, "last_failed_wal") {
                    hint = "; the server last failed to archive \(failed) at \(r.value(0, "last_failed_time") ?? "?")"
                }
                throw EngineError.archiveTimeout(segment: segment.name, seconds: options.archiveTimeoutSeconds,
                                                 repository: repository.path, serverHint: hint)
            }
            usleep(delay)
            delay = min(delay * 2, 500_000)
        }
    }

    private func checkCluster() throws {
        let found = cluster.control.systemIdentifier
        let expected = repository.identity.systemIdentifier
        guard found == expected else {
            throw EngineError.clusterMismatch(what: "data directory \(cluster.path)", found: found, expected: expected,
                                              repository: repository.path)
        }
    }

    private func checkServer(_ s: ServerSettings) throws {
        guard s.versionNumber >= 120000 else {
            throw EngineError.serverNotReady("PostgreSQL \(s.versionNumber) is not supported; pgbk needs 12 or later")
        }
        if s.systemIdentifier != String(repository.identity.systemIdentifier) {
            throw EngineError.clusterMismatch(what: "the server pgbk connected to", found: UInt64(s.systemIdentifier) ?? 0,
                                              expected: repository.identity.systemIdentifier, repository: repository.path)
        }
        if FileSystem.realPath(s.dataDirectory) != FileSystem.realPath(cluster.path) {
            throw EngineError.invalidArgument("the server's data_directory is \(s.dataDirectory), not \(cluster.path) (-D/--pgdata)")
        }
        if s.inRecovery {
            throw EngineError.serverNotReady("the server is a standby (in recovery); pgbk backs up primaries only")
        }
        if s.walLevel == "minimal" {
            throw EngineError.serverNotReady("wal_level is minimal; set wal_level = replica (and restart) to take online backups")
        }
        if s.archiveMode == "off" {
            throw EngineError.serverNotReady("archive_mode is off; set archive_mode = on and archive_command = 'pgbk archive-push -B \(repository.path) %p' (and restart): a backup is only consistent with its WAL")
        }
    }
}

func formatBytes(_ bytes: UInt64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
    if unit == 0 { return "\(bytes) B" }
    let tenths = Int((value * 10).rounded())
    return "\(tenths / 10).\(tenths % 10) \(units[unit])"
}
