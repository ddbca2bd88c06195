import Repository

/// The parent backup's entries, looked up by an incremental in its walk's order: its file
/// list is read forward alongside the walk (FileListCursor), one entry held, not the list.
/// A first pass checks the list whole (as a backup always has before it starts) and that it
/// is in that order; a list that is not (written by a backup over the replication protocol,
/// which lists in the server's order) is held whole in a FileLookup instead, as before.
final class ParentEntries {
    let info: BackupInfo
    private let cursor: FileListCursor?
    private let lookup: FileLookup?

    init(repository: Repository, info: BackupInfo) throws {
        self.info = info
        if try repository.checkFileList(info) {
            lookup = nil
            cursor = FileListCursor(try FileListReader(repository: repository, info: info))
        } else {
            Console.detail("\(repository.fileListPath(info.id)) is not in the order this backup walks the data directory: read whole")
            lookup = FileLookup(try repository.loadFileList(info))
            cursor = nil
        }
    }

    /// The parent's entry for `path`; paths come in the walk's order. The server's two
    /// files (backup_label, tablespace_map) are never the parent's to give.
    func entry(for path: String) throws -> FileEntry? {
        if let lookup { return lookup[path] }
        return try cursor!.entry(for: path)
    }

    /// Reads the rest of the list, so that what the merge read passes the list's checks
    /// (seal, backup.ini's checksum) before the backup built on it is published.
    func finish() throws {
        try cursor?.finish()
    }
}
