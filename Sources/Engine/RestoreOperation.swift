import PostgresFormat
import Repository

public struct RestoreOptions: Sendable {
    public var backupID: String?
    public var target: String
    /// Old tablespace location to new one, as pg_basebackup's -T.
    public var tablespaceMapping: [String: String] = [:]
    /// The pgbk that restore_command will call.
    public var pgbkExecutable: String

    public init(target: String, pgbkExecutable: String) {
        self.target = target
        self.pgbkExecutable = pgbkExecutable
    }
}

/// Rebuilds a data directory from a backup. Everything is checked before the first write;
/// files are verified against their checksums as they are read; global/pg_control is written
/// last, so an interrupted restore leaves a directory PostgreSQL refuses to start.
public struct RestoreOperation {
    let repository: Repository
    let options: RestoreOptions

    public init(repository: Repository, options: RestoreOptions) {
        self.repository = repository
        self.options = options
    }

    public func run() throws -> BackupInfo {
        let info = try chooseBackup()
        let entries = try repository.loadFileList(info)
        let target = FileSystem.absolute(options.target)
        let tablespaces = entries.filter { $0.kind == .symlink }.map { entry in
            (entry: entry, location: FileSystem.absolute(options.tablespaceMapping[entry.linkTarget ?? ""] ?? entry.linkTarget ?? ""))
        }
        for old in options.tablespaceMapping.keys where !tablespaces.contains(where: { $0.entry.linkTarget == old }) {
            throw EngineError.invalidArgument("--tablespace-mapping \(old): backup \(info.id) has no tablespace at that location")
        }
        try RestoreTarget.checkEmpty(target, isDataDirectory: true)
        for ts in tablespaces { try RestoreTarget.checkEmpty(ts.location, isDataDirectory: false) }
        let owner = try RestoreTarget.owner(for: target)
        Console.info("restoring backup \(info.id) into \(target)")

        var writer = RestoreWriter(repository: repository, info: info, owner: owner)
        try writer.makeDirectory(target, mode: 0o700)
        var controlFile: FileEntry?
        for entry in entries {
            let path = target + "/" + entry.path
            switch entry.kind {
            case .directory:
                if entry.path == "." { try writer.setDirectoryMode(target, entry.mode) } else { try writer.makeDirectory(path, mode: entry.mode) }
            case .symlink:
                let location = tablespaces.first { $0.entry.path == entry.path }!.location
                try writer.makeTablespace(link: path, location: location)
            case .file:
                if entry.path == "global/pg_control" { controlFile = entry; continue }
                if entry.path == "tablespace_map" && !options.tablespaceMapping.isEmpty {
                    let map = TablespaceMap(entries: tablespaces.map {
                        .init(oid: FileSystem.baseName(of: $0.entry.path), path: $0.location)
                    })
                    try writer.writeText(map.text, to: path)
                    continue
                }
                try writer.restoreFile(entry, to: path)
            }
        }

        let autoConf = target + "/postgresql.auto.conf"
        let existing = FileSystem.exists(autoConf) ? try FileSystem.readText(autoConf) : ""
        let recovery = RecoveryConfiguration(pgbkExecutable: options.pgbkExecutable, repositoryPath: repository.path)
        try FileSystem.remove(autoConf)
        try writer.writeText(recovery.apply(to: existing, backupID: info.id), to: autoConf)
        try writer.writeText("", to: target + "/recovery.signal")
        try writer.syncDirectories()

        guard let controlFile else {
            throw EngineError.corruptFile(path: repository.fileListPath(info.id), reason: "the backup has no global/pg_control")
        }
        try writer.restoreFile(controlFile, to: target + "/global/pg_control")
        try FileSystem.syncDirectory(target + "/global")
        Console.info("restore of backup \(info.id) complete: \(writer.filesWritten) files, \(formatBytes(writer.bytesWritten)); start PostgreSQL on \(target) to recover to the end of the archived WAL")
        return info
    }

    private func chooseBackup() throws -> BackupInfo {
        if let id = options.backupID {
            let info = try repository.loadBackup(id)
            guard info.isUsable else {
                throw EngineError.backupNotUsable(id: id, status: info.status.rawValue, reason: info.statusReason)
            }
            return info
        }
        let loaded = try repository.loadAll()
        for (id, error) in loaded.unreadable { Console.warning("skipping backup \(id): \(error)") }
        if let newest = loaded.backups.last(where: { $0.status == .ok && $0.mode == .full }) {
            if let newer = loaded.backups.last(where: { $0.status == .done }), newer.id > newest.id {
                Console.warning("backup \(newer.id) is newer but not validated; restoring \(newest.id) (run pgbk validate, or name it with --backup-id)")
            }
            return newest
        }
        if let done = loaded.backups.last(where: { $0.status == .done }) {
            throw EngineError.noUsableBackup("no validated (OK) backup in \(repository.path); run pgbk validate, or restore \(done.id) with --backup-id")
        }
        throw EngineError.noUsableBackup("no usable backup in \(repository.path)")
    }
}
