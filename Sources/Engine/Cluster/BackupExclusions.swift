import PostgresFormat

/// What a base backup leaves out, from PostgreSQL's documentation ("Backing Up the Data
/// Directory") and pg_basebackup's own lists.
public enum BackupExclusions {
    /// Top-level directories kept empty: their contents are rebuilt or meaningless after restore.
    public static let directoriesWithoutContents: Set<String> = [
        "pg_wal", "pg_replslot", "pg_dynshmem", "pg_notify", "pg_serial", "pg_snapshots",
        "pg_stat_tmp", "pg_subtrans",
    ]

    /// Top-level files never copied. backup_label and tablespace_map come from pg_backup_stop;
    /// restore writes its own recovery.signal.
    public static let topLevelFiles: Set<String> = [
        "postmaster.pid", "postmaster.opts", "backup_label", "backup_label.old", "tablespace_map",
        "backup_manifest", "postgresql.auto.conf.tmp", "current_logfiles.tmp", "recovery.signal",
        "standby.signal",
    ]

    /// Whether a name is excluded wherever it appears.
    public static func isExcludedAnywhere(_ name: String) -> Bool {
        name == "pg_internal.init" || name.hasPrefix("pgsql_tmp")
    }

    /// Relation files to skip inside one database directory: temporary relations, and every
    /// fork but `_init` of unlogged relations (they are reset from `_init` at startup).
    public static func excludedRelationFiles(in names: [String]) -> Set<String> {
        var unlogged = Set<UInt32>()
        for name in names {
            if let rel = RelationFileName(name), rel.fork == .`init`, !rel.isTemporary { unlogged.insert(rel.relfilenode) }
        }
        var excluded = Set<String>()
        for name in names {
            guard let rel = RelationFileName(name) else { continue }
            if rel.isTemporary || (unlogged.contains(rel.relfilenode) && rel.fork != .`init`) {
                excluded.insert(name)
            }
        }
        return excluded
    }
}
