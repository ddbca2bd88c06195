/// A backup's copies of the server's log files (`backup -s`): `srvlog/<path>` stored like data
/// files, listed in `srvlog.list` (the file.list format, sealed). Absent when the backup has none.
extension Repository {
    public func serverLogListName(_ id: String) -> String { backupName(id) + "/srvlog.list" }
    public func serverLogRootName(_ id: String) -> String { backupName(id) + "/srvlog" }

    public func serverLogName(_ id: String, path: String, compression: Compression) -> String {
        serverLogRootName(id) + "/" + path + compression.fileSuffix
    }

    /// nil when the backup has no server logs (or they were expired).
    public func loadServerLogList(_ id: String) throws -> [FileEntry]? {
        try Self.checkBackupID(id)
        guard try storage.exists(serverLogListName(id)) else { return nil }
        return try FileList.decode(try storage.readText(serverLogListName(id)), path: storage.describe(serverLogListName(id)))
    }

    public func saveServerLogList(_ id: String, _ entries: [FileEntry]) throws {
        try storage.writeAll(serverLogListName(id), Array(FileList.encode(entries).utf8))
    }

    /// The list first: a crash in the middle leaves files no list names, which the next
    /// removal (or purge) takes.
    public func removeServerLogs(_ id: String) throws {
        try Self.checkBackupID(id)
        try storage.remove(serverLogListName(id))
        try storage.removeTree(serverLogRootName(id))
    }
}
