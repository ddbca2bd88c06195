import PostgresClient
import PostgresFormat
import Repository
import TarStream

/// Reads BASE_BACKUP's archives member by member into a backup's stored files and its file
/// list, in a local backup's order: the data directory's entries in pre-order, each
/// tablespace's (which the server sends first) right after its `pg_tblspc/<OID>` link.
struct ArchiveReceiver {
    let repository: Repository
    private var store: ReceivedFileStore
    private let totalBytes: UInt64
    private var dataRoot: String { repository.dataName(store.info.id) }

    init(repository: Repository, info: BackupInfo, cluster: RemoteCluster, parent: BackupFileCopier.ParentFiles?, totalBytes: UInt64) {
        self.repository = repository
        store = ReceivedFileStore(repository: repository, info: info, cluster: cluster, parent: parent)
        self.totalBytes = totalBytes
    }

    mutating func receiveAll(_ archives: BaseBackupArchives) throws -> (entries: [FileEntry], outcome: FileOutcome, directories: [String]) {
        let meter = ProgressMeter.start("backup", totalBytes: totalBytes, totalFiles: 0)
        defer { meter?.finish() }
        var base: [FileEntry] = [FileEntry(kind: .directory, path: ".", mode: 0o700, mtime: Timestamp.now().seconds)]
        var spaces: [String: [FileEntry]] = [:]
        var directories = [dataRoot]
        var total = FileOutcome()
        while let archive = try archives.nextArchive() {
            let prefix = archive.tablespace?.oid.map { "pg_tblspc/\($0)/" } ?? ""
            var entries: [FileEntry] = []
            if !prefix.isEmpty {
                let root = dataRoot + "/" + prefix.dropLast()
                try repository.storage.makeDirectories(root)
                directories.append(root)
            }
            while let member = try archive.reader.next() {
                let path = prefix + member.path
                // What a local backup leaves out the server may send: a standby's
                // standby.signal would make every restore a standby. The server's own
                // backup_label is the backup's.
                if prefix.isEmpty, BackupExclusions.topLevelFiles.contains(path), path != "backup_label" { continue }
                if let problem = CatalogPath.problem(with: path) {
                    throw EngineError.serverNotReady("\(archive.name) holds \(FileList.escape(path)), which pgbk will not store: \(problem)")
                }
                switch member.kind {
                case .directory, .symlink:
                    // A tablespace link's contents are stored below a real directory of the same name.
                    let stored = dataRoot + "/" + path
                    try repository.storage.makeDirectories(stored)
                    directories.append(stored)
                    entries.append(FileEntry(kind: member.kind == .symlink ? .symlink : .directory, path: path, mode: member.mode,
                                             mtime: member.mtime, linkTarget: member.linkTarget))
                case .file:
                    let outcome = try IncrementalFileHeader.relationPath(of: path).map {
                        try store.storeIncremental(path: $0, size: member.size, mode: member.mode, mtime: member.mtime, from: archive.reader)
                    } ?? store.store(path: path, size: member.size, mode: member.mode, mtime: member.mtime, from: archive.reader)
                    try FaultInjection.point("backup-file-copied")
                    meter?.add(bytes: member.size, files: 1)
                    total.add(outcome)
                    if let entry = outcome.entry { entries.append(entry) }
                }
            }
            if let oid = archive.tablespace?.oid { spaces[String(oid)] = entries } else { base += entries }
        }
        var ordered: [FileEntry] = []
        ordered.reserveCapacity(base.count + spaces.values.reduce(0) { $0 + $1.count })
        for entry in base {
            ordered.append(entry)
            if entry.kind == .symlink, CatalogPath.isTablespaceLink(entry.path) {
                ordered += spaces.removeValue(forKey: String(entry.path.dropFirst("pg_tblspc/".count))) ?? []
            }
        }
        if let orphan = spaces.keys.sorted().first {
            throw EngineError.serverNotReady("BASE_BACKUP sent tablespace \(orphan)'s archive but no pg_tblspc/\(orphan) link in the data directory's")
        }
        total.pageErrors.sort { ($0.path, $0.block) < ($1.path, $1.block) }
        return (ordered, total, directories)
    }

    /// The backup_label that came in the archive, parsed and checked against the start
    /// position BASE_BACKUP reported; pg_control checked against the cluster.
    func checkedLabel(start: LSN, timeline: TimelineID) throws -> BackupLabel {
        guard let labelBytes = store.captured["backup_label"] else {
            throw EngineError.serverNotReady("BASE_BACKUP's archive held no backup_label")
        }
        guard let controlBytes = store.captured["global/pg_control"] else {
            throw EngineError.serverNotReady("BASE_BACKUP's archive held no global/pg_control")
        }
        try store.cluster.check(control: try ControlFile(bytes: controlBytes, path: "global/pg_control from BASE_BACKUP"))
        let label = try BackupLabel(text: String(decoding: labelBytes, as: UTF8.self))
        guard label.startLSN == start, label.startTimeline == timeline else {
            throw EngineError.serverNotReady("the backup label (start \(label.startLSN) on timeline \(label.startTimeline)) does not match what BASE_BACKUP reported (\(start) on timeline \(timeline))")
        }
        return label
    }
}
