import Repository

/// Catalog-wide housekeeping that needs the repository lock.
public enum Catalog {
    /// A RUNNING backup found while we hold the lock has lost its writer (killed, crashed,
    /// machine restarted): it can never complete, so it becomes ERROR.
    /// `catalog` (loaded once by the command) is kept up to date.
    @discardableResult
    public static func markOrphans(_ repository: Repository, in catalog: inout CatalogSnapshot) throws -> [String] {
        var marked: [String] = []
        for var info in catalog.backups where info.status == .running {
            info.statusReason = "the backup process\(info.pid.map { " (PID \($0))" } ?? "") ended before the backup completed"
            try markFailed(repository, &info)
            catalog.backups.update(info)
            Console.warning("backup \(info.id) was left RUNNING by a process that is gone; marked ERROR")
            marked.append(info.id)
        }
        return marked
    }

    /// An incomplete backup is useless: its data goes first (which also frees the space a
    /// full disk needs for the next step), then backup.ini records ERROR and why.
    public static func markFailed(_ repository: Repository, _ info: inout BackupInfo) throws {
        let storage = repository.storage
        try storage.removeTree(repository.dataName(info.id))
        try repository.removeBundles(info.id)
        try? storage.remove(repository.fileListName(info.id))
        try storage.syncDirectory(repository.backupName(info.id))
        info.status = .error
        info.endTime = info.endTime ?? .now()
        info.pid = nil
        try repository.saveBackup(info)
    }

    /// What killed writers left unfinished in the store (multipart uploads on S3), discarded
    /// by the commands that hold the repository lock; a failure to is a warning, not theirs.
    public static func discardAbandonedWrites(_ repository: Repository) {
        do {
            let discarded = try repository.storage.discardAbandonedWrites()
            if discarded > 0 { Console.info("aborted \(discarded) unfinished upload(s) left by killed writers") }
        } catch {
            Console.warning("could not discard unfinished uploads left by killed writers: \(error)")
        }
    }
}
