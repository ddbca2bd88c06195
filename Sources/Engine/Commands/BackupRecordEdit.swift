import Repository

/// A change to a finished backup's record (`pgbk annotate`, `pin`, `unpin`): one atomic
/// rewrite of its backup.ini under the exclusive repository lock, so that no backup,
/// validate or expire rewrites the same record from an older copy meanwhile.
public struct BackupRecordEdit {
    let repository: Repository
    let lockTimeoutSeconds: Int
    let command: String

    public init(repository: Repository, command: String, lockTimeoutSeconds: Int) {
        self.repository = repository
        self.command = command
        self.lockTimeoutSeconds = lockTimeoutSeconds
    }

    /// The backup `reference` names (an ID or a shortcut word), changed by `change` if its
    /// status is among `allowed`, as saved.
    public func run(backup reference: String, allowed: Set<BackupStatus>, _ change: (inout BackupInfo) -> Void) throws -> BackupInfo {
        let lock = try RepositoryLock(repository: repository, command: command, timeoutSeconds: lockTimeoutSeconds)
        defer { lock.release() }
        let catalog = try repository.loadAll()
        let id = try BackupReference(reference).resolve(among: catalog.backups, in: repository.path)
        var info = try repository.loadBackup(id)
        guard allowed.contains(info.status) else {
            let names = BackupStatus.allCases.filter(allowed.contains).map(\.rawValue).joined(separator: ", ")
            throw EngineError.invalidArgument("backup \(id) is \(info.status.rawValue): \(command) takes a backup that is \(names)")
        }
        change(&info)
        try repository.saveBackup(info)
        return info
    }

    /// A RUNNING record is its writer's to rewrite; a deleted one is gone.
    public static let finished: Set<BackupStatus> = [.done, .ok, .corrupt, .error]
}
