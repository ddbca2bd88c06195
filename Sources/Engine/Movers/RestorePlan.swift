import Repository

/// Where one file's content lies in a restore chain (newest first): an entry marked
/// unchanged leads to the nearest older backup that stored it; a page delta needs every
/// older version down to a whole file (its base), or down to the first backup without the
/// file (it was created after that one). Fed one backup at a time, newest first.
struct StoredVersions: Sendable {
    struct Version: Sendable {
        /// Index into the chain (0: the backup being restored).
        let member: Int
        let entry: FileEntry
    }

    private(set) var versions: [Version] = []
    private(set) var isComplete = false

    /// `entry`: the file in backup `member` (nil: that backup does not have it); `newest`:
    /// the file in the backup being restored; `fileList`: that backup's file list, for errors.
    /// `merged`: backup `member` is a full `pgbk merge` made. An unchanged entry records its
    /// parent's entry's CRC, which for a relation stored as a page delta is the delta's; once
    /// merge has re-parented that backup onto a full holding the rebuilt relation, only the
    /// size can be compared (the content is checked against the full's own CRC when read).
    mutating func add(_ entry: FileEntry?, member: Int, newest: FileEntry, fileList: String, merged: Bool = false) throws {
        guard !isComplete else { return }
        guard let entry else {
            guard !versions.isEmpty else { throw notStored(newest, fileList) }
            isComplete = true  // older backups never had it
            return
        }
        if versions.isEmpty {
            guard entry.kind == .file || entry.kind == .pageDelta || entry.kind == .unchanged,
                  member == 0 || entry.kind != .file || (entry.size == newest.size && (merged || entry.checksum == newest.checksum)) else {
                throw notStored(newest, fileList)
            }
        } else {
            guard entry.kind == .file || entry.kind == .pageDelta || entry.kind == .unchanged else {
                throw EngineError.corruptFile(path: fileList, reason: "\(newest.path) is not a file in an older backup of the chain")
            }
        }
        if entry.kind == .unchanged { return }  // same content as further down the chain
        var kept = entry
        kept.path = newest.path  // one copy of the string, not one per backup's list
        versions.append(Version(member: member, entry: kept))
        if entry.kind == .file { isComplete = true }  // a whole file is the base
    }

    /// The chain has no older backup.
    mutating func finish(newest: FileEntry, fileList: String) throws {
        guard !isComplete else { return }
        guard !versions.isEmpty else { throw notStored(newest, fileList) }
        isComplete = true
    }

    private func notStored(_ newest: FileEntry, _ fileList: String) -> EngineError {
        .corruptFile(path: fileList, reason: "\(newest.path) is marked unchanged, but no older backup of the chain stored that content")
    }
}

/// What a restore needs of a chain's file lists: the files of the backup restored, and for
/// each the stored versions its content comes from. The older lists are read one at a time
/// and let go, keeping only what is needed: memory follows the number of files, not the
/// chain's length times it.
struct RestorePlan: Sendable {
    /// The chain, newest (the backup restored) first.
    let members: [BackupInfo]
    /// The files to restore (entries of the newest backup).
    let files: [FileEntry]
    /// Per file, its stored versions, newest first.
    let versions: [[StoredVersions.Version]]

    /// `eachEntry` calls its closure with every entry of a backup's file list.
    init(members: [BackupInfo], files: [FileEntry], repository: Repository,
         eachEntry: (BackupInfo, (FileEntry) throws -> Void) throws -> Void) throws {
        self.members = members
        self.files = files
        let newestList = repository.fileListPath(members[0].id)
        var resolvers = [StoredVersions](repeating: StoredVersions(), count: files.count)
        var pending: [String: Int] = [:]
        for (i, file) in files.enumerated() {
            try resolvers[i].add(file, member: 0, newest: file, fileList: newestList)
            if !resolvers[i].isComplete { pending[file.path] = i }
        }
        var member = 1
        while !pending.isEmpty && member < members.count {
            var seen = Set<Int>()
            let list = repository.fileListPath(members[member].id)
            try eachEntry(members[member]) { entry in
                guard let i = pending[entry.path] else { return }
                guard seen.insert(i).inserted else { throw EngineError.corruptFile(path: list, reason: "\(entry.path) is listed twice") }
                try resolvers[i].add(entry, member: member, newest: files[i], fileList: newestList, merged: members[member].mergedFrom != nil)
            }
            for (path, i) in pending {
                if !seen.contains(i) { try resolvers[i].add(nil, member: member, newest: files[i], fileList: newestList) }
                if resolvers[i].isComplete { pending[path] = nil }
            }
            member += 1
        }
        for i in pending.values { try resolvers[i].finish(newest: files[i], fileList: newestList) }
        versions = resolvers.map(\.versions)
    }
}

/// An entry of the backup restored and, for a file, the stored versions its content comes
/// from (newest first); none for a directory or a link.
struct PlannedFile: Sendable {
    let entry: FileEntry
    let versions: [StoredVersions.Version]
}

/// The entries of the backup restored, in its file list's order, each with where its
/// content lies: streamed from lists in the walk's order (StreamedChain), or from lists
/// held whole (HeldChain) where one is in another order.
protocol RestoreEntries {
    /// The next entry; nil after the last.
    mutating func next() throws -> PlannedFile?
    /// After the last: whatever of the lists is still unread is read, so that everything
    /// used has passed the lists' checks.
    mutating func finish() throws
}

/// The chain's lists held whole: the newest list, and RestorePlan's versions of its files.
struct HeldChain: RestoreEntries {
    private let entries: [FileEntry]
    private let plan: RestorePlan
    private var index = 0
    private var file = 0

    init(members: [BackupInfo], entries: [FileEntry], repository: Repository) throws {
        self.entries = entries
        plan = try RestorePlan(members: members, files: entries.filter(\.kind.isStoredContent), repository: repository,
                               eachEntry: { try repository.forEachFileListEntry($0, $1) })
    }

    mutating func next() throws -> PlannedFile? {
        guard index < entries.count else { return nil }
        let entry = entries[index]
        index += 1
        guard entry.kind.isStoredContent else { return PlannedFile(entry: entry, versions: []) }
        file += 1
        return PlannedFile(entry: entry, versions: plan.versions[file - 1])
    }

    mutating func finish() throws {}
}

extension FileEntry.Kind {
    /// A file whose content a backup stored, or points to down the chain.
    var isStoredContent: Bool { self == .file || self == .pageDelta || self == .unchanged }
}
