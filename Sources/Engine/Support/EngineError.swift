import PostgresFormat

/// What went wrong in a command, with the context a DBA needs, as one line.
public enum EngineError: Error, Sendable, CustomStringConvertible {
    case invalidArgument(String)
    case notADataDirectory(path: String, reason: String)
    case clusterMismatch(what: String, found: UInt64, expected: UInt64, repository: String)
    case serverNotReady(String)
    case archiveTimeout(segment: String, seconds: Int, repository: String, serverHint: String)
    case walConflict(walName: String, archived: String)
    case walFromOtherCluster(path: String, found: UInt64, expected: UInt64)
    case invalidWALFile(path: String, reason: String)
    /// `interrupted`: pgbk's marker is there, an earlier restore did not finish.
    case targetNotEmpty(path: String, entries: Int, interrupted: Bool)
    /// `delta`: the restore was to rewrite it in place (it only needs the server stopped).
    case serverRunning(path: String, pid: Int32, delta: Bool)
    case noUsableBackup(String)
    case backupNotUsable(id: String, status: String, reason: String?)
    case corruptFile(path: String, reason: String)
    case validationFailed(Int)
    /// archive-push with several repositories: `held` of `of` hold the file.
    case archiveIncomplete(file: String, held: Int, of: Int, failures: [String])

    public var description: String {
        switch self {
        case .invalidArgument(let text):
            return text
        case .notADataDirectory(let path, let reason):
            return "\(path) is not a PostgreSQL data directory: \(reason)"
        case .clusterMismatch(let what, let found, let expected, let repository):
            return "\(what) belongs to the cluster with system identifier \(found), but repository \(repository) was created for \(expected)"
        case .serverNotReady(let text):
            return text
        case .archiveTimeout(let segment, let seconds, let repository, let serverHint):
            return "WAL segment \(segment) was not archived within \(seconds) s (--archive-timeout); check that archive_mode is on and archive_command runs 'pgbk archive-push -B \(repository) %p' successfully (server log, pg_stat_archiver)\(serverHint)"
        case .walConflict(let walName, let archived):
            return "\(walName) is already archived with different content (\(archived)); the archived copy is left untouched. Is another cluster archiving into this repository?"
        case .walFromOtherCluster(let path, let found, let expected):
            return "WAL file \(path) comes from the cluster with system identifier \(found), but this repository was created for \(expected); refusing to archive it"
        case .invalidWALFile(let path, let reason):
            return "\(path): \(reason)"
        case .targetNotEmpty(let path, let entries, let interrupted):
            if interrupted {
                return "restore target \(path) holds an interrupted pgbk restore (pgbk_restore.ini); rerun the restore with --delta to finish it"
            }
            return "restore target \(path) is not empty (\(entries) entries); restore only into an empty or new directory, or add --delta to restore over a data directory of the same cluster"
        case .serverRunning(let path, let pid, let delta):
            return "a PostgreSQL server is running in \(path) (postmaster PID \(pid)); "
                + (delta ? "stop it before a --delta restore rewrites it" : "stop it and move its data away before restoring")
        case .noUsableBackup(let text):
            return text
        case .backupNotUsable(let id, let status, let reason):
            return "backup \(id) is \(status)\(reason.map { " (\($0))" } ?? ""); it cannot be restored"
        case .archiveIncomplete(let file, let held, let total, let failures):
            return "\(file) is archived in \(held) of \(total) repositories; not in \(failures.joined(separator: "; not in ")) (PostgreSQL retries, and the repositories that hold it accept the retry)"
        case .corruptFile(let path, let reason):
            return "\(path) is corrupt: \(reason)"
        case .validationFailed(let count):
            return "validation failed: \(count) backup(s) or archived WAL file(s) are damaged or unreadable (see the warnings above)"
        }
    }
}

/// An error as one line: what reaches the user, a check's message or a drill's recorded reason.
public func oneLineDescription(_ error: Error) -> String {
    String(describing: error).split(whereSeparator: \.isNewline).joined(separator: " ")
}
