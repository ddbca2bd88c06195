import PostgresFormat

/// Where relation files live: `global/F`, `base/<db>/F` and `pg_tblspc/<oid>/<PG_...>/<db>/F`.
enum RelationPath {
    static func parse(_ relativePath: String) -> RelationFileName? {
        let c = relativePath.split(separator: "/")
        let inRelationDirectory = (c.count == 2 && c[0] == "global")
            || (c.count == 3 && c[0] == "base" && c[1].allSatisfy(\.isNumber))
            || (c.count == 5 && c[0] == "pg_tblspc" && c[3].allSatisfy(\.isNumber))
        guard inRelationDirectory, let name = c.last, let rel = RelationFileName(name), !rel.isTemporary else { return nil }
        return rel
    }

    /// The relation file a path holds, as WAL names it: tablespace 1664 for global/, 1663 for
    /// base/, the OID under pg_tblspc/; its fork (0 main, 1 fsm, 2 vm, 3 init) and segment.
    static func locator(_ relativePath: String) -> (locator: RelFileLocator, fork: UInt8, segment: UInt32)? {
        guard let rel = parse(relativePath) else { return nil }
        let c = relativePath.split(separator: "/")
        let spc: UInt32, db: UInt32
        switch c[0] {
        case "global": (spc, db) = (1664, 0)
        case "base": guard let d = UInt32(c[1]) else { return nil }; (spc, db) = (1663, d)
        default: guard let t = UInt32(c[1]), let d = UInt32(c[3]) else { return nil }; (spc, db) = (t, d)
        }
        let fork: UInt8 = [RelationFileName.Fork.main: 0, .fsm: 1, .vm: 2, .`init`: 3][rel.fork]!
        return (RelFileLocator(tablespace: spc, database: db, relation: rel.relfilenode), fork, rel.segment)
    }
}
