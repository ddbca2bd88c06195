import PostgresFormat

public enum BackupMode: String, Sendable {
    case full = "FULL"
    case incremental = "INCREMENTAL"
}

/// How a backup's files came: `copy`, read from the data directory on the database host
/// (no BACKUP_METHOD key); `protocol`, received with BASE_BACKUP over a replication connection.
public enum BackupMethod: String, Sendable {
    case copy, `protocol`
}

/// A backup's life: RUNNING while written; DONE when complete; OK or CORRUPT once validated;
/// ERROR when it failed or its writer died. Only DONE and OK are ever restored.
public enum BackupStatus: String, Sendable, CaseIterable {
    case running = "RUNNING", done = "DONE", ok = "OK", corrupt = "CORRUPT", error = "ERROR"
    case deleting = "DELETING", deleted = "DELETED"
}

/// The contents of a backup's `backup.ini`.
public struct BackupInfo: Sendable, Equatable {
    /// 2: file.list version 2 (files stored in parts). 3: small files may be in bundles
    /// (bundle.list); written only by a bundled backup. Older versions are read as before.
    public static let formatVersion = 3

    /// Its small stored files are packed into bundles (BundledStorage): FORMAT_VERSION 3,
    /// so that a pgbk that cannot read bundles refuses the backup instead of missing files.
    public var bundled = false

    public var id: String
    public var mode: BackupMode
    public var status: BackupStatus
    public var statusReason: String?
    public var parentID: String?
    public var timeline: TimelineID = 0
    public var startLSN: LSN?
    public var stopLSN: LSN?
    public var startWALFile: String?
    public var stopWALFile: String?
    public var startTime: Timestamp
    public var endTime: Timestamp?
    public var recoveryXID: UInt64?
    public var recoveryTime: String?
    public var totalDataBytes: UInt64 = 0
    public var readDataBytes: UInt64 = 0
    public var writeBytes: UInt64 = 0
    public var fileCount: Int = 0
    public var blockSize: UInt32 = 8192
    public var walBlockSize: UInt32 = 8192
    public var walSegmentSize: UInt32 = 16 << 20
    public var pgVersionNum: Int = 0
    public var systemIdentifier: UInt64 = 0
    public var dataChecksums: Bool = false
    public var compression: Compression = .none
    public var compressLevel: Int32 = 1
    public var label: String = ""
    public var fileListChecksum: UInt32?
    /// The process writing a RUNNING backup, to tell a live one from an orphan.
    public var pid: Int32?
    /// Pages that failed verification while being read (they are stored as read).
    public var pageErrorCount = 0
    public var pageErrorDetail: String?
    /// When validate last read the whole backup back (absent before it first did).
    public var verifyTime: Timestamp?
    /// For an incremental: how it found the changed pages, `wal` (a changed-block map from
    /// WAL) or `scan` (every page's LSN), and why not from WAL when it could not.
    public var changeSource: String?
    public var changeSourceReason: String?
    /// Bytes of the cluster's files the backup read (with a map, the changed pages only).
    public var scannedDataBytes: UInt64?
    /// How the files came: read from the data directory, or received over the protocol.
    public var method: BackupMethod = .copy
    /// Over the protocol: the archives' bytes received (what crossed the network).
    public var networkBytes: UInt64?
    /// An incremental taken with `-b diff`: its parent is the newest full, so that it holds
    /// every change since then (DIFFERENTIAL=yes; the mode stays INCREMENTAL).
    public var differential = false
    /// `pgbk pin`: kept by expire and delete while the pin holds.
    public var pin: BackupPin?
    /// The DBA's notes (BackupAnnotation), by key.
    public var annotations: [String: String] = [:]
    /// A full backup `pgbk merge` made: the incremental whose point it holds (its ID is that
    /// incremental's with F).
    public var mergedFrom: String?
    /// The cluster's databases when the backup began, by OID (`DATABASE.<oid>=<name>`), for
    /// `restore --db-include NAME`; empty in backups taken before pgbk recorded them.
    public var databases: [UInt32: String] = [:]

    public init(id: String, mode: BackupMode, status: BackupStatus, startTime: Timestamp) {
        self.id = id
        self.mode = mode
        self.status = status
        self.startTime = startTime
    }

    public var isUsable: Bool { status == .ok || status == .done }

    public func ini() -> IniFile {
        var f = IniFile()
        f["FORMAT_VERSION"] = bundled ? "3" : "2"
        f["BACKUP_ID"] = id
        f["BACKUP_MODE"] = mode.rawValue
        f["STATUS"] = status.rawValue
        f["STATUS_REASON"] = statusReason
        f["PARENT_BACKUP_ID"] = parentID
        f["LABEL"] = label
        f["TIMELINEID"] = String(timeline)
        f["START_LSN"] = startLSN?.description
        f["STOP_LSN"] = stopLSN?.description
        f["START_WAL_FILE"] = startWALFile
        f["STOP_WAL_FILE"] = stopWALFile
        f["START_TIME"] = startTime.description
        f["END_TIME"] = endTime?.description
        f["RECOVERY_XID"] = recoveryXID.map { String($0) }
        f["RECOVERY_TIME"] = recoveryTime
        f["TOTAL_DATA_BYTES"] = String(totalDataBytes)
        f["READ_DATA_BYTES"] = String(readDataBytes)
        f["WRITE_BYTES"] = String(writeBytes)
        f["FILE_COUNT"] = String(fileCount)
        f["BLOCK_SIZE"] = String(blockSize)
        f["XLOG_BLOCK_SIZE"] = String(walBlockSize)
        f["WAL_SEGMENT_SIZE"] = String(walSegmentSize)
        f["PG_VERSION_NUM"] = String(pgVersionNum)
        f["SYSTEM_IDENTIFIER"] = String(systemIdentifier)
        f["DATA_CHECKSUMS"] = dataChecksums ? "on" : "off"
        f["COMPRESS"] = compression.rawValue
        f["COMPRESS_LEVEL"] = String(compressLevel)
        f["FILE_LIST_CHECKSUM"] = fileListChecksum.map { "crc32c:" + CRC32C.hex($0) }
        f["PID"] = pid.map { String($0) }
        f["PAGE_ERRORS"] = String(pageErrorCount)
        f["PAGE_ERROR_DETAIL"] = pageErrorDetail
        f["VERIFY_TIME"] = verifyTime?.description
        f["CHANGE_SOURCE"] = changeSource
        f["CHANGE_SOURCE_REASON"] = changeSourceReason
        f["SCANNED_DATA_BYTES"] = scannedDataBytes.map { String($0) }
        f["BACKUP_METHOD"] = method == .copy ? nil : method.rawValue
        f["NETWORK_BYTES"] = networkBytes.map { String($0) }
        f["DIFFERENTIAL"] = differential ? "yes" : nil
        f["PINNED_UNTIL"] = pin?.iniValue
        f["MERGED_FROM"] = mergedFrom
        for oid in databases.keys.sorted() { f["DATABASE.\(oid)"] = databases[oid] }
        for key in annotations.keys.sorted() { f[BackupAnnotation.iniPrefix + key] = annotations[key] }
        return f
    }

    public func text() -> String {
        SealedText.seal(ini().text(header: "# pgbk backup \(id): written by pgbk, do not edit\n"))
    }

    public init(text: String, path: String) throws {
        let f = try IniFile(text: try SealedText.open(text, path: path), path: path)
        func required(_ key: String) throws -> String {
            guard let v = f[key], !v.isEmpty else { throw CatalogError.corrupt(path, "missing \(key)") }
            return v
        }
        func number<T: FixedWidthInteger>(_ key: String, _ type: T.Type) throws -> T {
            guard let v = T(try required(key)) else { throw CatalogError.corrupt(path, "\(key) is not a number") }
            return v
        }
        func lsn(_ key: String) throws -> LSN? {
            guard let v = f[key] else { return nil }
            guard let l = LSN(v) else { throw CatalogError.corrupt(path, "\(key) is not an LSN") }
            return l
        }
        let version = try number("FORMAT_VERSION", Int.self)
        guard version <= Self.formatVersion else {
            throw CatalogError.invalid(path, "format version \(version) is newer than this pgbk understands (\(Self.formatVersion)); upgrade pgbk")
        }
        guard let mode = BackupMode(rawValue: try required("BACKUP_MODE")) else { throw CatalogError.corrupt(path, "unknown BACKUP_MODE") }
        guard let status = BackupStatus(rawValue: try required("STATUS")) else { throw CatalogError.corrupt(path, "unknown STATUS") }
        guard let start = Timestamp(try required("START_TIME")) else { throw CatalogError.corrupt(path, "START_TIME is not a time") }
        let id = try required("BACKUP_ID")
        guard Repository.isBackupID(id) else { throw CatalogError.corrupt(path, "BACKUP_ID is not a backup ID") }
        self.init(id: id, mode: mode, status: status, startTime: start)
        bundled = version >= 3
        statusReason = f["STATUS_REASON"]
        parentID = f["PARENT_BACKUP_ID"]
        if let parentID, !Repository.isBackupID(parentID) {
            throw CatalogError.corrupt(path, "PARENT_BACKUP_ID is not a backup ID")
        }
        label = f["LABEL"] ?? ""
        timeline = try number("TIMELINEID", TimelineID.self)
        startLSN = try lsn("START_LSN")
        stopLSN = try lsn("STOP_LSN")
        startWALFile = f["START_WAL_FILE"]
        stopWALFile = f["STOP_WAL_FILE"]
        endTime = f["END_TIME"].flatMap { Timestamp($0) }
        recoveryXID = f["RECOVERY_XID"].flatMap { UInt64($0) }
        recoveryTime = f["RECOVERY_TIME"]
        totalDataBytes = try number("TOTAL_DATA_BYTES", UInt64.self)
        readDataBytes = try number("READ_DATA_BYTES", UInt64.self)
        writeBytes = try number("WRITE_BYTES", UInt64.self)
        fileCount = try number("FILE_COUNT", Int.self)
        blockSize = try number("BLOCK_SIZE", UInt32.self)
        walBlockSize = try number("XLOG_BLOCK_SIZE", UInt32.self)
        walSegmentSize = try number("WAL_SEGMENT_SIZE", UInt32.self)
        pgVersionNum = try number("PG_VERSION_NUM", Int.self)
        systemIdentifier = try number("SYSTEM_IDENTIFIER", UInt64.self)
        dataChecksums = f["DATA_CHECKSUMS"] == "on"
        guard let compression = Compression(rawValue: try required("COMPRESS")) else { throw CatalogError.corrupt(path, "unknown COMPRESS") }
        self.compression = compression
        compressLevel = Int32(f["COMPRESS_LEVEL"] ?? "") ?? 1
        if let crc = f["FILE_LIST_CHECKSUM"] {
            guard crc.hasPrefix("crc32c:"), let v = CRC32C.parseHex(crc.dropFirst(7)) else {
                throw CatalogError.corrupt(path, "FILE_LIST_CHECKSUM is not a crc32c value")
            }
            fileListChecksum = v
        }
        pid = f["PID"].flatMap { Int32($0) }
        pageErrorCount = Int(f["PAGE_ERRORS"] ?? "0") ?? 0
        pageErrorDetail = f["PAGE_ERROR_DETAIL"]
        verifyTime = f["VERIFY_TIME"].flatMap { Timestamp($0) }
        changeSource = f["CHANGE_SOURCE"]
        changeSourceReason = f["CHANGE_SOURCE_REASON"]
        scannedDataBytes = f["SCANNED_DATA_BYTES"].flatMap { UInt64($0) }
        if let text = f["BACKUP_METHOD"] {
            guard let method = BackupMethod(rawValue: text) else { throw CatalogError.corrupt(path, "unknown BACKUP_METHOD") }
            self.method = method
        }
        networkBytes = f["NETWORK_BYTES"].flatMap { UInt64($0) }
        differential = f["DIFFERENTIAL"] == "yes"
        mergedFrom = f["MERGED_FROM"]
        if let mergedFrom, !Repository.isBackupID(mergedFrom) { throw CatalogError.corrupt(path, "MERGED_FROM is not a backup ID") }
        if let text = f["PINNED_UNTIL"] {
            guard let pin = BackupPin(iniValue: text) else { throw CatalogError.corrupt(path, "PINNED_UNTIL is neither 'forever' nor a time") }
            self.pin = pin
        }
        for key in f.keys where key.hasPrefix("DATABASE.") {
            guard let oid = UInt32(key.dropFirst("DATABASE.".count)), let name = f[key], !name.isEmpty, name.utf8.count <= 255 else {
                throw CatalogError.corrupt(path, "\(key) is not a database OID with a name")
            }
            databases[oid] = name
        }
        for key in f.keys where key.hasPrefix(BackupAnnotation.iniPrefix) {
            let note = try BackupAnnotation(key: String(key.dropFirst(BackupAnnotation.iniPrefix.count)), value: f[key] ?? "", source: path)
            annotations[note.key] = note.value
        }
    }
}
