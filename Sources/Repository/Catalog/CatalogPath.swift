/// The one rule for paths that come out of the repository. A repository often sits on shared
/// storage that more people can write than the database host, so a file list is never trusted
/// to name where restore writes: every entry must stay inside the data directory, and the only
/// symbolic links are the ones PostgreSQL itself makes, `pg_tblspc/<OID>`.
public enum CatalogPath {
    /// Why `path` may not appear in a file list, or nil when it may. "." is the data directory.
    public static func problem(with path: String) -> String? {
        if path == "." { return nil }
        if path.isEmpty { return "empty path" }
        if path.hasPrefix("/") { return "absolute path" }
        if path.utf8.contains(0) { return "NUL byte in path" }
        if path.utf8.count > 4096 { return "path longer than 4096 bytes" }
        for component in path.split(separator: "/", omittingEmptySubsequences: false) {
            switch component {
            case "": return "empty path component"
            case ".", "..": return "\"\(component)\" component"
            default: if component.utf8.count > 255 { return "path component longer than 255 bytes" }
            }
        }
        return nil
    }

    /// Whether `path` is where PostgreSQL keeps a tablespace link: `pg_tblspc/` and digits.
    public static func isTablespaceLink(_ path: String) -> Bool {
        guard path.hasPrefix("pg_tblspc/") else { return false }
        let oid = path.dropFirst("pg_tblspc/".count)
        return !oid.isEmpty && oid.count <= 10 && oid.allSatisfy { $0.isASCII && $0.isNumber }
    }

    /// Why a tablespace link's target is unacceptable: PostgreSQL only makes absolute ones.
    public static func problem(withLinkTarget target: String) -> String? {
        if !target.hasPrefix("/") { return "link target is not an absolute path" }
        if target.utf8.contains(0) { return "NUL byte in link target" }
        if target.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) { return "\"..\" or \".\" in link target" }
        return nil
    }

    /// Whether `name` is PostgreSQL's own directory inside a tablespace: `PG_<major>_<catversion>`.
    public static func isTablespaceVersionDirectory(_ name: Substring) -> Bool {
        guard name.hasPrefix("PG_") else { return false }
        let parts = name.dropFirst(3).split(separator: "_", omittingEmptySubsequences: false)
        return parts.count == 2 && parts.allSatisfy { !$0.isEmpty && $0.count <= 10 && $0.allSatisfy { $0.isASCII && $0.isNumber } }
    }

    /// Why an entry below a tablespace link is unacceptable: PostgreSQL keeps everything of a
    /// tablespace in its `PG_<major>_<catversion>/` directory, so nothing else may be written
    /// through the link (a crafted list would otherwise put files anywhere the link points).
    static func problem(belowLinks links: Set<Substring>, _ path: String) -> String? {
        guard path.hasPrefix("pg_tblspc/") else { return nil }
        let components = path.split(separator: "/", maxSplits: 3)
        guard components.count >= 3, links.contains(components[1]) else { return nil }
        return isTablespaceVersionDirectory(components[2]) ? nil
            : "below a tablespace link, outside PostgreSQL's PG_<major>_<catversion> directory: \(FileList.escape(path))"
    }

    /// Checks a whole file list: each path acceptable, links only at `pg_tblspc/<OID>` with an
    /// absolute target, nothing below a link but its PG_<major>_<catversion> directory, no path
    /// twice. Returns the first problem with the entry's path.
    public static func problem(in entries: [FileEntry]) -> String? {
        var kinds: [String: FileEntry.Kind] = [:]
        let links = Set(entries.lazy.filter { $0.kind == .symlink && isTablespaceLink($0.path) }.map { $0.path.dropFirst("pg_tblspc/".count) })
        for entry in entries {
            if let why = problem(belowLinks: links, entry.path) { return why }
            if let why = problem(with: entry.path) { return "\(why): \(FileList.escape(entry.path))" }
            if entry.kind == .symlink {
                guard isTablespaceLink(entry.path) else {
                    return "symbolic link outside pg_tblspc/<OID>: \(FileList.escape(entry.path))"
                }
                if let why = problem(withLinkTarget: entry.linkTarget ?? "") { return "\(why): \(FileList.escape(entry.path))" }
            } else if entry.path == "." && entry.kind != .directory {
                return "the data directory itself is listed as a \(entry.kind.rawValue) entry"
            }
            if kinds.updateValue(entry.kind, forKey: entry.path) != nil {
                return "listed twice: \(FileList.escape(entry.path))"
            }
        }
        return nil
    }
}
