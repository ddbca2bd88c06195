import Repository

/// The parent backup's entries, looked up by an incremental in its walk's order: its file
/// list is read forward alongside the walk (a merge), one entry held, not the list. A first
/// pass checks the list whole (as a backup always has before it starts) and that it is in
/// that order; a list that is not (written by a backup over the replication protocol, which
/// lists in the server's order) is held whole in a FileLookup instead, as before.
final class ParentEntries {
    let info: BackupInfo
    private let reader: FileListReader?
    private var current: FileEntry?
    private let lookup: FileLookup?

    init(repository: Repository, info: BackupInfo) throws {
        self.info = info
        if try Self.isInWalkOrder(FileListReader(repository: repository, info: info)) {
            lookup = nil
            reader = try FileListReader(repository: repository, info: info)
            current = try Self.listed(reader!)
        } else {
            Console.detail("\(repository.fileListPath(info.id)) is not in the order this backup walks the data directory: read whole")
            lookup = FileLookup(try repository.loadFileList(info))
            reader = nil
        }
    }

    /// The parent's entry for `path`; paths come in the walk's order.
    func entry(for path: String) throws -> FileEntry? {
        if let lookup { return lookup[path] }
        while let entry = current, FileList.walkPrecedes(entry.path, path) { current = try Self.listed(reader!) }
        return current?.path == path ? current : nil
    }

    /// Reads the rest of the list, so that what the merge read passes the list's checks
    /// (seal, backup.ini's checksum) before the backup built on it is published.
    func finish() throws {
        try reader?.finish()
    }

    /// The list's checks, an entry at a time (CatalogPath.ListChecker, which knows the
    /// walk's order), over the whole list.
    private static func isInWalkOrder(_ reader: FileListReader) throws -> Bool {
        var checker = CatalogPath.ListChecker()
        while let entry = try reader.next() {
            if let why = checker.take(entry) { throw CatalogError.corrupt(reader.path, why) }
        }
        return !checker.needsWholeCheck
    }

    /// The next entry but the two the server gives at the end of a backup, out of the walk.
    private static func listed(_ reader: FileListReader) throws -> FileEntry? {
        while let entry = try reader.next() {
            if entry.path != "backup_label" && entry.path != "tablespace_map" { return entry }
        }
        return nil
    }
}
