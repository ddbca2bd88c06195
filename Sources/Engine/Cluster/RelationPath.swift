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
}
