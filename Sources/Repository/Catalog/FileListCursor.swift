/// A file list in the walk's order (FileList.walkPrecedes) looked up path by path, the paths
/// asked in that same order: a merge with another walk (a data directory's, or a newer
/// backup's list) that holds one entry, not the list. The two files the server gives at the
/// end of a backup (backup_label, tablespace_map), listed last and out of that order, are
/// kept aside as the reader passes them and looked up with `serverFile`.
public final class FileListCursor {
    public static let serverFiles: Set<String> = ["backup_label", "tablespace_map"]

    private let reader: FileListReader
    private var current: FileEntry?
    private var started = false
    private var fromServer: [String: FileEntry] = [:]
    private var asked: String?
    private var drained = false

    public var path: String { reader.path }

    /// `reader`'s list must be in the walk's order (CatalogPath.ListChecker says whether).
    public init(_ reader: FileListReader) {
        self.reader = reader
    }

    /// The entry for `path`, or nil if the list has none; each call's path follows the last's.
    /// A path out of that order would find nothing it should: that is refused.
    public func entry(for path: String) throws -> FileEntry? {
        if drained || asked.map({ !FileList.walkPrecedes($0, path) }) == true {
            throw CatalogError.corrupt(reader.path, "\(FileList.escape(path)) looked up out of the list's order")
        }
        asked = path
        if !started { started = true; current = try listed() }
        while let entry = current, FileList.walkPrecedes(entry.path, path) { current = try listed() }
        return current?.path == path ? current : nil
    }

    /// backup_label's or tablespace_map's entry: the rest of the list is read first.
    public func serverFile(_ name: String) throws -> FileEntry? {
        try finish()
        return fromServer[name]
    }

    /// Reads the rest of the list, so that what was looked up passes the list's checks
    /// (seal, backup.ini's checksum).
    public func finish() throws {
        started = true
        drained = true
        while try listed() != nil {}
        current = nil
    }

    private func listed() throws -> FileEntry? {
        while let entry = try reader.next() {
            guard Self.serverFiles.contains(entry.path) else { return entry }
            fromServer[entry.path] = entry
        }
        return nil
    }
}
