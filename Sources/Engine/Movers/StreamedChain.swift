import Repository

/// The chain's file lists, all in the walk's order, merged as streams: the newest list is
/// read an entry at a time, and each older list (FileListCursor) only as far as the newest
/// entry's path, for files whose content lies down the chain. A restore of a million files
/// holds one entry of each list, not the lists.
final class StreamedChain: RestoreEntries {
    private let members: [BackupInfo]
    private let newest: FileListReader
    /// One per older member, members[1...].
    private let older: [FileListCursor]

    /// Every list must have passed ChainSurvey (whole, and in the walk's order).
    init(members: [BackupInfo], repository: Repository) throws {
        self.members = members
        newest = try FileListReader(repository: repository, info: members[0])
        older = try members.dropFirst().map { FileListCursor(try FileListReader(repository: repository, info: $0)) }
    }

    func next() throws -> PlannedFile? {
        guard let entry = try newest.next() else { return nil }
        guard entry.kind.isStoredContent else { return PlannedFile(entry: entry, versions: []) }
        var versions = StoredVersions()
        try versions.add(entry, member: 0, newest: entry, fileList: newest.path)
        var member = 1
        while !versions.isComplete && member < members.count {
            let cursor = older[member - 1]
            let found = FileListCursor.serverFiles.contains(entry.path) ? try cursor.serverFile(entry.path) : try cursor.entry(for: entry.path)
            try versions.add(found, member: member, newest: entry, fileList: newest.path, merged: members[member].mergedFrom != nil)
            member += 1
        }
        try versions.finish(newest: entry, fileList: newest.path)
        return PlannedFile(entry: entry, versions: versions.versions)
    }

    func finish() throws {
        for cursor in older { try cursor.finish() }
    }
}

/// What a restore learns of the chain's file lists before it writes anything: every list is
/// read whole and checked (CatalogPath.ListChecker); whether all are in the walk's order,
/// so that they can be merged as streams; and of the backup restored, the few entries that
/// say where its tablespaces go, the server's two files, and its totals.
struct ChainSurvey {
    let members: [BackupInfo]
    /// The newest list's links and what lies directly in each tablespace (RestoreTablespaces),
    /// and tablespace_map.
    private(set) var tablespaceEntries: [FileEntry] = []
    /// backup_label and tablespace_map, listed out of the walk's order.
    private(set) var serverFiles: [String: FileEntry] = [:]
    /// The files the contents restore (all but pg_control), for the progress meter.
    private(set) var fileCount = 0
    private(set) var byteCount: UInt64 = 0
    /// The newest list whole, where some list of the chain is not in the walk's order.
    private(set) var held: [FileEntry]?
    /// The databases the backup holds: its `base/<oid>` and tablespaces' database directories.
    private(set) var databaseOIDs: Set<UInt32> = []

    init(members: [BackupInfo], repository: Repository) throws {
        self.members = members
        let reader = try FileListReader(repository: repository, info: members[0])
        var checker = CatalogPath.ListChecker()
        let major = "PG_\(members[0].pgVersionNum / 10000)_"
        while let entry = try reader.next() {
            if let why = checker.take(entry) { throw CatalogError.corrupt(reader.path, why) }
            if RestoreTablespaces.concerns(entry, major: major) { tablespaceEntries.append(entry) }
            if FileListCursor.serverFiles.contains(entry.path) { serverFiles[entry.path] = entry }
            if entry.kind == .directory, let oid = Self.databaseDirectory(entry.path) { databaseOIDs.insert(oid) }
            // What the workers restore: pg_control is written last, apart.
            if entry.kind.isStoredContent && entry.path != "global/pg_control" { fileCount += 1; byteCount += entry.size }
        }
        var inWalkOrder = !checker.needsWholeCheck
        for member in members.dropFirst() where inWalkOrder {
            inWalkOrder = try repository.checkFileList(member)
        }
        if !inWalkOrder {
            Console.detail("a file list of the chain is not in the walk's order (a backup over the replication protocol lists in the server's): the lists are read whole")
            let entries = try repository.loadFileList(members[0])
            held = entries
            tablespaceEntries = entries.filter { RestoreTablespaces.concerns($0, major: major) }
        }
    }

    /// `base/<oid>` or `pg_tblspc/<tablespace>/<version dir>/<oid>`: that database's OID.
    static func databaseDirectory(_ path: String) -> UInt32? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 2 && parts[0] == "base" { return UInt32(parts[1]) }
        if parts.count == 4 && parts[0] == "pg_tblspc" { return UInt32(parts[3]) }
        return nil
    }

    /// The entries to restore, streamed where the lists allow.
    func entries(repository: Repository) throws -> any RestoreEntries {
        if let held { return try HeldChain(members: members, entries: held, repository: repository) }
        return try StreamedChain(members: members, repository: repository)
    }

    /// What a delta restore asks of the newest list: the kind of each path, asked in the
    /// walk's order (DeltaTarget walks the target sorted, as backups walk).
    func kinds(repository: Repository) throws -> (String) throws -> FileEntry.Kind? {
        if let held {
            let kinds = Dictionary(held.map { ($0.path, $0.kind) }) { a, _ in a }
            return { kinds[$0] }
        }
        let cursor = FileListCursor(try FileListReader(repository: repository, info: members[0]))
        let serverFiles = serverFiles
        return { path in
            if FileListCursor.serverFiles.contains(path) { return serverFiles[path]?.kind }
            return try cursor.entry(for: path)?.kind
        }
    }
}
