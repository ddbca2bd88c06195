import Repository

/// `restore --db-include` / `--db-exclude` (pgBackRest's selective restore): which databases'
/// relation files are restored as empty sparse files of their recorded size, so that the
/// server starts and recovers while the other databases come back exact. Pure: the backup's
/// databases in, the zeroed ones out. postgres, template0, template1 (and any database whose
/// OID is below FirstNormalObjectId) are always restored.
public struct DatabaseSelection: Sendable, Equatable {
    public var include: [String] = []
    public var exclude: [String] = []

    public init(include: [String] = [], exclude: [String] = []) {
        self.include = include
        self.exclude = exclude
    }

    public var isEmpty: Bool { include.isEmpty && exclude.isEmpty }

    /// PostgreSQL's FirstNormalObjectId: OIDs below it are the system's own.
    static let firstNormalOID: UInt32 = 16384
    static let systemNames: Set<String> = ["postgres", "template0", "template1"]

    /// The OIDs to restore empty. `present`: the database directories the backup holds;
    /// `names`: the databases it recorded by OID (empty for backups before pgbk recorded
    /// them: only OIDs can be named then). Throws, naming the database, for one the backup
    /// lacks, a system database excluded, or one both included and excluded.
    public func zeroed(present: Set<UInt32>, names: [UInt32: String], backup: String) throws -> Set<UInt32> {
        func isSystem(_ oid: UInt32) -> Bool { oid < Self.firstNormalOID || names[oid].map(Self.systemNames.contains) == true }
        func resolve(_ given: String, _ option: String) throws -> UInt32 {
            if let oid = names.first(where: { $0.value == given })?.key, present.contains(oid) { return oid }
            if let oid = UInt32(given), present.contains(oid) { return oid }
            let known = present.sorted().map { oid in names[oid].map { "\($0) (\(oid))" } ?? String(oid) }.joined(separator: ", ")
            let hint = names.isEmpty ? "; this backup predates pgbk's record of database names: give OIDs" : ""
            throw EngineError.invalidArgument("\(option) \(given): backup \(backup) has no such database (it has \(known))\(hint)")
        }
        let included = Set(try include.map { try resolve($0, "--db-include") })
        let excluded = Set(try exclude.map { try resolve($0, "--db-exclude") })
        if let both = included.intersection(excluded).first {
            throw EngineError.invalidArgument("database \(names[both] ?? String(both)) is both in --db-include and --db-exclude")
        }
        if let system = excluded.first(where: isSystem) {
            throw EngineError.invalidArgument("--db-exclude \(names[system] ?? String(system)): postgres and the template databases are always restored")
        }
        let user = present.filter { !isSystem($0) }
        return include.isEmpty ? excluded : user.subtracting(included).union(excluded)
    }

    /// The database a path of the data directory belongs to, when it is a file of one:
    /// `base/<oid>/...` or `pg_tblspc/<tablespace>/<version dir>/<oid>/...`. PG_VERSION is
    /// the database directory's own mark, kept so that the directory is still a database's.
    static func database(of path: String) -> UInt32? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        let index: Int
        if parts.count >= 3 && parts[0] == "base" { index = 1 } else if parts.count >= 5 && parts[0] == "pg_tblspc" { index = 3 } else { return nil }
        guard parts.last != "PG_VERSION" else { return nil }
        return UInt32(parts[index])
    }
}
