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
        let (info, chainInfos) = try chooseBackup()
        let chain = try chainInfos.map { member in
            ChainMember(info: member, files: Dictionary(try repository.loadFileList(member).map { ($0.path, $0) }) { a, _ in a })
        }
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
        Console.info("restoring backup \(info.id)\(chain.count > 1 ? " (chain of \(chain.count): \(chain.map(\.info.id).joined(separator: " <- ")))" : "") into \(target)")

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
            case .pageDelta:
                try writer.assembleRelation(entry, to: path, chain: chain)
            case .unchanged:
                try restoreUnchanged(entry, to: path, chain: chain, writer: &writer)
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

    /// An entry whose content is the same as in the parent: restored from the nearest older
    /// member that stored it, whole or as a page delta.
    private func restoreUnchanged(_ entry: FileEntry, to path: String, chain: [ChainMember], writer: inout RestoreWriter) throws {
        for (index, member) in chain.enumerated().dropFirst() {
            guard let stored = member.files[entry.path] else { break }
            switch stored.kind {
            case .unchanged:
                continue
            case .file:
                guard stored.checksum == entry.checksum && stored.size == entry.size else { break }
                try writer.restoreFile(stored, to: path, from: member.info)
                return
            case .pageDelta:
                try writer.assembleRelation(stored, to: path, chain: Array(chain[index...]))
                return
            case .directory, .symlink:
                break
            }
            break
        }
        throw EngineError.corruptFile(path: repository.fileListPath(chain[0].info.id),
                                      reason: "\(entry.path) is marked unchanged, but no older backup of the chain stored that content")
    }

    /// The backup to restore and its chain (newest first). Without --backup-id: the newest OK
    /// backup whose chain is intact.
    private func chooseBackup() throws -> (BackupInfo, [BackupInfo]) {
        let loaded = try repository.loadAll()
        if let id = options.backupID {
            let info = try repository.loadBackup(id)
            guard info.isUsable else {
                throw EngineError.backupNotUsable(id: id, status: info.status.rawValue, reason: info.statusReason)
            }
            return (info, try repository.chain(for: info, among: loaded.backups))
        }
        for (id, error) in loaded.unreadable { Console.warning("skipping backup \(id): \(error)") }
        for candidate in loaded.backups.reversed() where candidate.status == .ok {
            do {
                let chain = try repository.chain(for: candidate, among: loaded.backups)
                if let newer = loaded.backups.last(where: { $0.status == .done }), newer.id > candidate.id {
                    Console.warning("backup \(newer.id) is newer but not validated; restoring \(candidate.id) (run pgbk validate, or name it with --backup-id)")
                }
                return (candidate, chain)
            } catch {
                Console.warning("skipping backup \(candidate.id): \(error)")
            }
        }
        if let done = loaded.backups.last(where: { $0.status == .done }) {
            throw EngineError.noUsableBackup("no validated (OK) backup in \(repository.path); run pgbk validate, or restore \(done.id) with --backup-id")
        }
        throw EngineError.noUsableBackup("no usable backup in \(repository.path)")
    }
}
