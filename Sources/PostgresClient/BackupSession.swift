/// The non-exclusive backup API on one connection: start and stop must run on the same
/// session, and if the session dies the server aborts the backup by itself.
public struct BackupStartResult: Sendable {
    public let startLSN: String
}

public struct BackupStopResult: Sendable {
    public let stopLSN: String
    public let labelFile: String
    public let tablespaceMapFile: String
}

public struct ServerSettings: Sendable {
    public let versionNumber: Int
    public let dataDirectory: String
    public let walLevel: String
    public let archiveMode: String
    public let archiveCommand: String
    public let systemIdentifier: String
    public let inRecovery: Bool

    /// The same server's settings with another data directory and recovery state: the
    /// primary's archiving settings checked against the standby's files.
    public init(copying other: ServerSettings, dataDirectory: String, inRecovery: Bool) {
        versionNumber = other.versionNumber
        self.dataDirectory = dataDirectory
        walLevel = other.walLevel
        archiveMode = other.archiveMode
        archiveCommand = other.archiveCommand
        systemIdentifier = other.systemIdentifier
        self.inRecovery = inRecovery
    }

    init(versionNumber: Int, dataDirectory: String, walLevel: String, archiveMode: String, archiveCommand: String,
         systemIdentifier: String, inRecovery: Bool) {
        self.versionNumber = versionNumber
        self.dataDirectory = dataDirectory
        self.walLevel = walLevel
        self.archiveMode = archiveMode
        self.archiveCommand = archiveCommand
        self.systemIdentifier = systemIdentifier
        self.inRecovery = inRecovery
    }
}

extension Connection {
    public func serverSettings() throws -> ServerSettings {
        let r = try query("""
            SELECT current_setting('server_version_num') AS version,
                   current_setting('data_directory') AS data_directory,
                   current_setting('wal_level') AS wal_level,
                   current_setting('archive_mode') AS archive_mode,
                   current_setting('archive_command') AS archive_command,
                   (SELECT system_identifier::text FROM pg_control_system()) AS system_identifier,
                   pg_is_in_recovery()::text AS in_recovery
            """)
        return ServerSettings(
            versionNumber: Int(r.value(0, "version") ?? "") ?? 0,
            dataDirectory: r.value(0, "data_directory") ?? "",
            walLevel: r.value(0, "wal_level") ?? "",
            archiveMode: r.value(0, "archive_mode") ?? "",
            archiveCommand: r.value(0, "archive_command") ?? "",
            systemIdentifier: r.value(0, "system_identifier") ?? "",
            inRecovery: r.value(0, "in_recovery") == "true")
    }

    /// `pg_backup_start` (15+) or `pg_start_backup(..., exclusive => false)` (12-14).
    public func startBackup(label: String, fastCheckpoint: Bool) throws -> BackupStartResult {
        let fast = fastCheckpoint ? "true" : "false"
        let sql = BackupFunctions.startSQL(serverVersionNumber: serverVersionNumber)
        let r = try query(sql, [label, fast])
        guard let lsn = r.single else { throw PostgresError(kind: .query, message: "backup start returned no LSN", query: sql) }
        return BackupStartResult(startLSN: lsn)
    }

    /// Stops without waiting for archiving: pgbk waits itself, with a timeout and a clear message.
    public func stopBackup() throws -> BackupStopResult {
        let sql = BackupFunctions.stopSQL(serverVersionNumber: serverVersionNumber)
        let r = try query(sql)
        guard let lsn = r.value(0, "lsn"), let label = r.value(0, "labelfile") else {
            throw PostgresError(kind: .query, message: "backup stop returned no label", query: sql)
        }
        return BackupStopResult(stopLSN: lsn, labelFile: label, tablespaceMapFile: r.value(0, "spcmapfile") ?? "")
    }

    /// The newest transaction id and time a restore of this backup can stop at, read without
    /// assigning an xid of our own.
    public func recoveryPoint() throws -> (xid: String, time: String) {
        let r = try query("""
            SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xid,
                   to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS time
            """)
        return (r.value(0, "xid") ?? "0", r.value(0, "time") ?? "")
    }

    /// Tablespace OIDs and their locations, to map pg_tblspc links to directories.
    public func tablespaces() throws -> [(oid: String, location: String)] {
        let r = try query("SELECT oid::text, pg_tablespace_location(oid) AS location FROM pg_tablespace WHERE spcname NOT IN ('pg_default', 'pg_global')")
        return r.rows.map { ($0[0] ?? "", $0[1] ?? "") }
    }
}

/// The backup API by version: `pg_backup_start`/`pg_backup_stop` from 15; before, the same
/// non-exclusive backup through `pg_start_backup(label, fast, exclusive => false)` and
/// `pg_stop_backup(exclusive => false, wait_for_archive => false)` (exclusive mode, removed in
/// 15, is never used: it breaks on a crash mid-backup).
public enum BackupFunctions {
    public static func startSQL(serverVersionNumber: Int) -> String {
        serverVersionNumber >= 150000
            ? "SELECT pg_backup_start($1, $2::boolean)::text AS lsn"
            : "SELECT pg_start_backup($1, $2::boolean, false)::text AS lsn"
    }

    /// pgbk waits for the archive itself, with a timeout and a clear message.
    public static func stopSQL(serverVersionNumber: Int) -> String {
        serverVersionNumber >= 150000
            ? "SELECT lsn::text AS lsn, labelfile, spcmapfile FROM pg_backup_stop(false)"
            : "SELECT lsn::text AS lsn, labelfile, spcmapfile FROM pg_stop_backup(false, false)"
    }
}
