import Repository

/// Catalog-wide housekeeping that needs the repository lock.
public enum Catalog {
    /// A RUNNING backup found while we hold the lock has lost its writer (killed, crashed,
    /// machine restarted): it can never complete, so it becomes ERROR.
    @discardableResult
    public static func markOrphans(_ repository: Repository) throws -> [String] {
        var marked: [String] = []
        for var info in try repository.loadAll().backups where info.status == .running {
            info.status = .error
            info.statusReason = "the backup process\(info.pid.map { " (PID \($0))" } ?? "") ended before the backup completed"
            info.pid = nil
            try repository.saveBackup(info)
            Console.warning("backup \(info.id) was left RUNNING by a process that is gone; marked ERROR")
            marked.append(info.id)
        }
        return marked
    }
}
