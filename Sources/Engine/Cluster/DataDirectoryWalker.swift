import PostgresFormat
import Repository

/// One thing found in the data directory (or a tablespace) that the backup will record.
public struct SourceEntry: Sendable {
    public let relativePath: String
    public let kind: FileEntry.Kind
    public let status: FileStatus
    public let linkTarget: String?

    /// Made when needed: a walk of 100,000 files keeps one path per file, not two.
    public func absolutePath(in dataDirectory: String) -> String {
        relativePath == "." ? dataDirectory : dataDirectory + "/" + relativePath
    }
}

/// Lists what a base backup contains, in pre-order (a directory before its contents), with
/// the exclusions applied. Tablespace links are recorded as links and their cluster
/// directories walked as `pg_tblspc/<oid>/PG_.../...`.
public struct DataDirectoryWalker {
    public let cluster: DataDirectory

    public init(cluster: DataDirectory) { self.cluster = cluster }

    public func walk() throws -> [SourceEntry] {
        var entries: [SourceEntry] = []
        try forEach { entries.append($0) }
        return entries
    }

    /// Each entry in turn, in the walk's order (FileList.walkPrecedes), holding no more than
    /// the names of the directories on the way down.
    public func forEach(_ body: (SourceEntry) throws -> Void) throws {
        let rootStatus = try FileSystem.status(cluster.path, followLinks: true)
        try body(SourceEntry(relativePath: ".", kind: .directory, status: rootStatus, linkTarget: nil))
        try walkDirectory(absolute: cluster.path, relative: "", body)
    }

    private func walkDirectory(absolute: String, relative: String, _ body: (SourceEntry) throws -> Void) throws {
        let names: [String]
        do { names = try FileSystem.list(absolute) } catch let e as SystemError where e.isNotFound { return }
        let components = relative.split(separator: "/")
        let isTop = relative.isEmpty
        let excludedRelations = isDatabaseDirectory(components) ? BackupExclusions.excludedRelationFiles(in: names) : []
        let isTablespaceRoot = components.count == 2 && components[0] == "pg_tblspc"

        for name in names {
            if BackupExclusions.isExcludedAnywhere(name) || excludedRelations.contains(name) { continue }
            if isTop && BackupExclusions.topLevelFiles.contains(name) { continue }
            // Inside a tablespace, only this cluster's version directory belongs to us.
            if isTablespaceRoot && name != cluster.tablespaceVersionDirectory { continue }
            let abs = absolute + "/" + name
            let rel = relative.isEmpty ? name : relative + "/" + name
            guard var status = try statusIfPresent(abs) else { continue }

            if status.kind == .symlink {
                if components == ["pg_tblspc"] {
                    let target = try FileSystem.readLink(abs)
                    try body(SourceEntry(relativePath: rel, kind: .symlink,
                                               status: status, linkTarget: target))
                    try walkDirectory(absolute: abs, relative: rel, body)
                    continue
                }
                // Any other link (pg_wal elsewhere, a linked config file): back up what it points to.
                guard let followed = try statusIfPresent(abs, followLinks: true) else { continue }
                status = followed
            }

            switch status.kind {
            case .directory:
                try body(SourceEntry(relativePath: rel, kind: .directory, status: status, linkTarget: nil))
                if isTop && BackupExclusions.directoriesWithoutContents.contains(name) {
                    // Recovery needs pg_wal/archive_status to exist, and from 17 the WAL
                    // summarizer pg_wal/summaries (both empty, as pg_basebackup leaves them).
                    if name == "pg_wal" {
                        for sub in ["archive_status"] + (cluster.major.hasWALSummaries ? ["summaries"] : []) {
                            try body(SourceEntry(relativePath: "pg_wal/" + sub,
                                                       kind: .directory, status: status, linkTarget: nil))
                        }
                    }
                    continue
                }
                try walkDirectory(absolute: abs, relative: rel, body)
            case .regular:
                try body(SourceEntry(relativePath: rel, kind: .file, status: status, linkTarget: nil))
            case .symlink, .other:
                continue  // sockets, FIFOs: nothing to back up
            }
        }
    }

    /// `base/<oid>` or `pg_tblspc/<oid>/PG_.../<oid>`: where relation files live.
    private func isDatabaseDirectory(_ c: [Substring]) -> Bool {
        (c.count == 2 && c[0] == "base") || (c.count == 4 && c[0] == "pg_tblspc")
    }

    /// Files come and go while the server runs: a file dropped mid-walk is simply not in the backup.
    private func statusIfPresent(_ path: String, followLinks: Bool = false) throws -> FileStatus? {
        do { return try FileSystem.status(path, followLinks: followLinks) } catch let e as SystemError where e.isNotFound { return nil }
    }
}
