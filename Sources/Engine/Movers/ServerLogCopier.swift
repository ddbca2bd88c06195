import PostgresClient
import PostgresFormat
import Repository

/// `backup -s/--with-serverlog` (pg_rman's): the server's log files copied with the backup into
/// `backup/<ID>/srvlog/`, listed in `srvlog.list`, checked by validate like any stored file
/// and kept by a retention of their own (`--keep-srvlog-files/-days`). They are for reading
/// what the server said around a backup, not restored with the data.
struct ServerLogCopier {
    let repository: Repository
    let backupID: String
    let compression: Compression
    let level: Int32

    /// The directory given (-S), else the server's log_directory, relative to its data
    /// directory unless absolute. Debian logs through pg_ctlcluster to /var/log/postgresql,
    /// outside log_directory: there -S names it.
    static func directory(given: String?, connection: Connection, dataDirectory: String) throws -> String {
        if let given { return FileSystem.absolute(given) }
        let r = try connection.query("SELECT current_setting('log_directory') AS dir, current_setting('logging_collector') AS collector")
        guard let dir = r.value(0, "dir"), !dir.isEmpty else {
            throw EngineError.invalidArgument("the server has no log_directory: give -S/--srvlog-path")
        }
        let path = dir.hasPrefix("/") ? dir : dataDirectory + "/" + dir
        guard FileSystem.isDirectory(path) else {
            throw EngineError.invalidArgument("the server's log directory \(path) does not exist (logging_collector is \(r.value(0, "collector") ?? "?")): give -S/--srvlog-path, e.g. /var/log/postgresql")
        }
        return path
    }

    /// Copies every regular file under `directory` (links are not followed); returns the entries.
    func copyAll(from directory: String) throws -> [FileEntry] {
        var copier = FileCopier(storage: repository.storage, compression: compression, level: level)
        var entries: [FileEntry] = []
        func walk(_ relative: String) throws {
            let absolute = relative.isEmpty ? directory : directory + "/" + relative
            try repository.storage.makeDirectories(repository.serverLogRootName(backupID) + (relative.isEmpty ? "" : "/" + relative))
            for name in try FileSystem.list(absolute) {
                let rel = relative.isEmpty ? name : relative + "/" + name
                guard let status = try? FileSystem.status(absolute + "/" + name) else { continue }  // rotated away meanwhile
                if status.kind == .directory { try walk(rel); continue }
                guard status.kind == .regular else { continue }
                let stored = repository.serverLogName(backupID, path: rel, compression: compression)
                guard let summary = try copier.copy(from: absolute + "/" + name, to: stored, limit: status.size) else { continue }
                entries.append(FileEntry(kind: .file, path: rel, mode: status.mode, size: summary.size, mtime: status.mtime,
                                         checksum: summary.checksum, storedSize: summary.storedSize))
            }
        }
        try walk("")
        try repository.saveServerLogList(backupID, entries)
        return entries
    }
}
