import StorageInterface
import PostgresFormat

/// What one `pgbk drill` did and found: `drill/<ID>.ini`, sealed like backup.ini. Drills are
/// kept as a record (the proof that restores work); retention never removes them.
public struct DrillRecord: Sendable, Equatable {
    public enum Result: String, Sendable { case ok = "OK", failed = "FAILED" }

    public var id: String
    public var result: Result
    public var reason: String?
    public var startTime: Timestamp
    public var endTime: Timestamp
    public var backupID: String?
    public var target: String
    public var restoreSeconds: Double?
    public var recoverySeconds: Double?
    public var recoveredLSN: String?
    public var recoveredTimeline: Int?
    /// The commit time of the last transaction recovery replayed (PostgreSQL's own answer).
    public var recoveredTime: String?
    public var amcheck: String = "not run"
    public var sqlCheck: String?
    public var sqlResult: String?
    public var host: String = ""

    public init(id: String, result: Result, startTime: Timestamp, endTime: Timestamp, target: String) {
        self.id = id
        self.result = result
        self.startTime = startTime
        self.endTime = endTime
        self.target = target
    }

    /// `YYYYMMDD-HHMMSS` followed by D.
    public static func isDrillID(_ name: String) -> Bool {
        guard name.utf8.count == 16, name.hasSuffix("D") else { return false }
        return Repository.isBackupID(String(name.dropLast()) + "F")
    }

    public func text() -> String {
        var f = IniFile()
        f["FORMAT_VERSION"] = "1"
        f["DRILL_ID"] = id
        f["RESULT"] = result.rawValue
        f["REASON"] = reason
        f["START_TIME"] = startTime.description
        f["END_TIME"] = endTime.description
        f["BACKUP_ID"] = backupID
        f["TARGET"] = target
        f["RESTORE_SECONDS"] = restoreSeconds.map { Self.seconds($0) }
        f["RECOVERY_SECONDS"] = recoverySeconds.map { Self.seconds($0) }
        f["RECOVERED_LSN"] = recoveredLSN
        f["RECOVERED_TIMELINE"] = recoveredTimeline.map { String($0) }
        f["RECOVERED_TIME"] = recoveredTime
        f["AMCHECK"] = amcheck
        f["SQL_CHECK"] = sqlCheck
        f["SQL_RESULT"] = sqlResult
        f["HOST"] = host
        return SealedText.seal(f.text(header: "# pgbk drill \(id): written by pgbk, do not edit\n"))
    }

    static func seconds(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }

    public init(text: String, path: String) throws {
        let f = try IniFile(text: try SealedText.open(text, path: path), path: path)
        func required(_ key: String) throws -> String {
            guard let v = f[key], !v.isEmpty else { throw CatalogError.corrupt(path, "missing \(key)") }
            return v
        }
        guard let version = Int(try required("FORMAT_VERSION")), version <= 1 else {
            throw CatalogError.invalid(path, "a drill record format newer than this pgbk understands; upgrade pgbk")
        }
        let id = try required("DRILL_ID")
        guard Self.isDrillID(id) else { throw CatalogError.corrupt(path, "DRILL_ID is not a drill ID") }
        guard let result = Result(rawValue: try required("RESULT")) else { throw CatalogError.corrupt(path, "unknown RESULT") }
        guard let start = Timestamp(try required("START_TIME")), let end = Timestamp(try required("END_TIME")) else {
            throw CatalogError.corrupt(path, "START_TIME or END_TIME is not a time")
        }
        self.init(id: id, result: result, startTime: start, endTime: end, target: f["TARGET"] ?? "")
        reason = f["REASON"]
        backupID = f["BACKUP_ID"]
        if let backupID, !Repository.isBackupID(backupID) { throw CatalogError.corrupt(path, "BACKUP_ID is not a backup ID") }
        restoreSeconds = f["RESTORE_SECONDS"].flatMap { Double($0) }
        recoverySeconds = f["RECOVERY_SECONDS"].flatMap { Double($0) }
        recoveredLSN = f["RECOVERED_LSN"]
        recoveredTimeline = f["RECOVERED_TIMELINE"].flatMap { Int($0) }
        recoveredTime = f["RECOVERED_TIME"]
        amcheck = f["AMCHECK"] ?? "not run"
        sqlCheck = f["SQL_CHECK"]
        sqlResult = f["SQL_RESULT"]
        host = f["HOST"] ?? ""
    }
}

extension Repository {
    public static let drillRootName = "drill"

    public func drillName(_ id: String) -> String { Self.drillRootName + "/" + id + ".ini" }

    /// Every drill, oldest first; records that cannot be read are reported, not hidden.
    public func loadDrills() throws -> (drills: [DrillRecord], unreadable: [(name: String, error: Error)]) {
        guard try storage.exists(Self.drillRootName) else { return ([], []) }
        var drills: [DrillRecord] = []
        var unreadable: [(String, Error)] = []
        for entry in try storage.list(Self.drillRootName) where entry.name.hasSuffix(".ini") {
            let id = String(entry.name.dropLast(4))
            guard DrillRecord.isDrillID(id) else { continue }
            do {
                let record = try DrillRecord(text: try storage.readText(drillName(id)), path: storage.describe(drillName(id)))
                guard record.id == id else { throw CatalogError.corrupt(storage.describe(drillName(id)), "it records drill \(record.id)") }
                drills.append(record)
            } catch {
                unreadable.append((entry.name, error))
            }
        }
        return (drills.sorted { $0.id < $1.id }, unreadable)
    }

    /// A new record, never over another (two drills in one second: the second waits).
    public func saveDrill(_ record: DrillRecord) throws -> DrillRecord {
        var record = record
        try storage.makeDirectories(Self.drillRootName)
        while true {
            do {
                try storage.writeAll(drillName(record.id), Array(record.text().utf8), noReplace: true)
                return record
            } catch StorageError.exists {
                sleepUntilNextSecond()
                record.id = Timestamp.now().compact + "D"
            }
        }
    }
}
