import PostgresFormat
import Repository

/// The target of `restore --delta`: a data directory of the backup's own cluster (an old
/// primary after a failover, a standby that fell behind) or one a restore left unfinished.
/// What the backup does not have is removed; files are then compared with the backup's and
/// rewritten where they differ (RestoreWriter.delta).
struct DeltaTarget {
    let path: String

    /// nil when `path` is missing or empty: a plain restore does. Refuses a directory with a
    /// running server, one of another cluster and anything that is not a data directory.
    static func check(_ path: String, systemIdentifier expected: UInt64, repository: String) throws -> DeltaTarget? {
        guard FileSystem.exists(path) else { return nil }
        guard FileSystem.isDirectory(path) else {
            throw EngineError.invalidArgument("restore target \(path) exists and is not a directory")
        }
        if let pid = RestoreTarget.livePostmaster(in: path) { throw EngineError.serverRunning(path: path, pid: pid, delta: true) }
        if try FileSystem.list(path).isEmpty { return nil }
        // pg_control, whenever present, says whose directory this is: a marker is only what an
        // interrupted restore leaves (with pg_control removed), and anyone could plant one.
        let found: UInt64
        let control = path + "/global/pg_control"
        if !FileSystem.exists(control), let marked = try RestoreMarker.systemIdentifier(in: path) {
            found = marked
        } else {
            guard FileSystem.exists(path + "/PG_VERSION"), FileSystem.exists(control) else {
                throw EngineError.notADataDirectory(path: path, reason: "it has no PG_VERSION and global/pg_control, and no unfinished pgbk restore; --delta restores only over a data directory of the backup's cluster")
            }
            do {
                found = try ControlFile(bytes: try FileSystem.readAll(control, limit: 64 << 10), path: control).systemIdentifier
            } catch {
                throw EngineError.notADataDirectory(path: path, reason: "\(error); --delta cannot tell which cluster it belongs to (move it away and restore without --delta)")
            }
        }
        guard found == expected else {
            throw EngineError.clusterMismatch(what: "restore target \(path)", found: found, expected: expected, repository: repository)
        }
        return DeltaTarget(path: path)
    }

    /// Whether the target's tablespace link `link` (`pg_tblspc/OID`) leads to `location`:
    /// that location then holds this cluster's files, which the delta restore updates.
    func hasTablespace(link: String, at location: String) -> Bool {
        guard let linked = FileSystem.realPath(path + "/" + link) else { return false }
        return linked == FileSystem.realPath(location)
    }

    /// Removes what the backup does not have (or has as another kind of thing), and pg_control
    /// first, so that the directory does not start until the restore writes the backup's.
    /// Links are removed, never followed, except a tablespace link that `hasTablespace` and
    /// pg_wal moved elsewhere; inside a tablespace location only the backup's version
    /// directory is touched. Returns the number of entries removed.
    /// WAL segments in pg_wal for which `keepWAL` says yes (those the archive lacks: a
    /// crashed server's last WAL) are kept for recovery, never removed; they are counted in
    /// `keptWAL`.
    /// `kindOf` gives the backup's kind of thing at a path, asked in the walk's order
    /// (FileList.walkPrecedes): each directory is read sorted, and entered as it comes, so
    /// that a list in that order is merged with the target, not held (ChainSurvey.kinds).
    func removeExtraneous(kindOf kinds: (String) throws -> FileEntry.Kind?, tablespaces: [String: String],
                          keepWAL: (String) -> Bool = { _ in false }) throws -> (removed: Int, keptWAL: [String]) {
        try FileSystem.remove(path + "/global/pg_control")
        if FileSystem.isDirectory(path + "/global") { try FileSystem.syncDirectory(path + "/global") }
        var kept: [String] = []
        let removed = try clean("", kinds: kinds, tablespaces: tablespaces) { rel in
            let name = FileSystem.baseName(of: rel)
            guard rel == "pg_wal/" + name, name.count == 24, name.allSatisfy(\.isHexDigit), keepWAL(name) else { return false }
            kept.append(name)
            return true
        }
        return (removed, kept.sorted())
    }

    private func clean(_ relative: String, kinds: (String) throws -> FileEntry.Kind?, tablespaces: [String: String],
                       keep: (String) -> Bool) throws -> Int {
        let absolute = relative.isEmpty ? path : path + "/" + relative
        let components = relative.split(separator: "/")
        let isTablespaceRoot = components.count == 2 && components[0] == "pg_tblspc"
        var removed = 0
        for name in try FileSystem.list(absolute) {
            let rel = relative.isEmpty ? name : relative + "/" + name
            let abs = absolute + "/" + name
            if relative.isEmpty && name == RestoreMarker.name { continue }
            let expected = try kinds(rel)
            if isTablespaceRoot && expected == nil { continue }  // another cluster's, or another version's
            let status = try FileSystem.status(abs)
            switch (status.kind, expected) {
            case (.directory, .directory?):
                removed += try clean(rel, kinds: kinds, tablespaces: tablespaces, keep: keep)
            case (.regular, .file?), (.regular, .pageDelta?), (.regular, .unchanged?):
                continue
            case (.symlink, .symlink?) where tablespaces[rel].map { hasTablespace(link: rel, at: $0) } == true:
                removed += try clean(rel, kinds: kinds, tablespaces: tablespaces, keep: keep)
            case (.symlink, .directory?) where rel == "pg_wal" && FileSystem.isDirectory(abs):
                removed += try clean(rel, kinds: kinds, tablespaces: tablespaces, keep: keep)
            case (.regular, nil) where keep(rel):
                continue
            default:
                try FileSystem.removeTree(abs)
                removed += 1
            }
        }
        if removed > 0 { try FileSystem.syncDirectory(absolute) }
        return removed
    }
}

/// The file a restore keeps in the data directory until it is complete: which cluster and
/// backup it is writing. pg_control is written last, so an unfinished restore has none; this
/// file lets `restore --delta` recognise the directory as the cluster's and finish the job.
enum RestoreMarker {
    static let name = "pgbk_restore.ini"
    /// backup_manifest while the restore writes it (a delta restore's cleaning removes it).
    static let manifestName = "pgbk_restore.manifest"

    static func write(in target: String, systemIdentifier: UInt64, backupID: String) throws {
        var marker = IniFile()
        marker["system_identifier"] = String(systemIdentifier)
        marker["backup"] = backupID
        try AtomicFile.write(target + "/" + name, text: marker.text(
            header: "# pgbk restore in progress: this directory is incomplete until it finishes (rerun it with --delta)\n"))
    }

    /// The system identifier an unfinished restore recorded, or nil if there is none.
    static func systemIdentifier(in target: String) throws -> UInt64? {
        let file = target + "/" + name
        guard FileSystem.exists(file) else { return nil }
        guard let value = try IniFile(text: try FileSystem.readText(file, limit: 4096), path: file)["system_identifier"].flatMap({ UInt64($0) }) else {
            throw EngineError.corruptFile(path: file, reason: "no system_identifier line; move the directory away and restore without --delta")
        }
        return value
    }

    static func remove(in target: String) throws {
        try FileSystem.remove(target + "/" + name)
        try FileSystem.syncDirectory(target)
    }
}
