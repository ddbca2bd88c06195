import Repository

/// `pgbk annotate ID KEY=VALUE...`: the backup's annotations changed (an empty value removes
/// a key) by one atomic rewrite of its backup.ini, under the repository lock, so that no
/// backup, validate or expire rewrites the same record from an older copy meanwhile.
public struct AnnotateOperation {
    let repository: Repository
    let lockTimeoutSeconds: Int

    public init(repository: Repository, lockTimeoutSeconds: Int) {
        self.repository = repository
        self.lockTimeoutSeconds = lockTimeoutSeconds
    }

    /// The backup as saved.
    public func run(backup reference: String, changes: [BackupAnnotation]) throws -> BackupInfo {
        let lock = try RepositoryLock(repository: repository, command: "annotate", timeoutSeconds: lockTimeoutSeconds)
        defer { lock.release() }
        let catalog = try repository.loadAll()
        let id = try BackupReference(reference).resolve(among: catalog.backups, in: repository.path)
        var info = try repository.loadBackup(id)
        switch info.status {
        case .running, .deleting, .deleted:
            // A RUNNING record is its writer's to rewrite; a deleted one is gone.
            throw EngineError.invalidArgument("backup \(id) is \(info.status.rawValue): only a finished backup (DONE, OK, CORRUPT or ERROR) can be annotated")
        case .done, .ok, .corrupt, .error:
            break
        }
        info.annotations = BackupAnnotation.applying(changes, to: info.annotations)
        try repository.saveBackup(info)
        return info
    }
}
