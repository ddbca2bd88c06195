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

    /// Checks a whole file list: each path acceptable, links only at `pg_tblspc/<OID>` with an
    /// absolute target, nothing below a link but its PG_<major>_<catversion> directory, no path
    /// twice. Returns the first problem found, with the entry's path.
    public static func problem(in entries: [FileEntry]) -> String? {
        var checker = ListChecker()
        for entry in entries { if let why = checker.take(entry) { return why } }
        guard checker.needsWholeCheck else { return nil }
        var seen = Set<String>()
        for entry in entries where !seen.insert(entry.path).inserted { return "listed twice: \(FileList.escape(entry.path))" }
        return nil
    }

    /// The same checks an entry at a time, for a list read as a stream. A list in the walk's
    /// order (FileList.walkPrecedes; what backups of a data directory write) cannot hold a path
    /// twice without it showing as two in a row; for one in another order `needsWholeCheck`
    /// says that only the whole list can tell.
    public struct ListChecker {
        private var previous: String?
        private var links = Set<Substring>()
        /// Entries below `pg_tblspc/<x>/` outside a version directory: damage if <x> is a link,
        /// wherever in the list the link comes. None in a list a backup wrote.
        private var belowTablespaceDirectories: [(oid: Substring, path: String)] = []
        /// The server's two files, listed last, out of the walk's order.
        private var fromServer = Set<String>()
        public private(set) var needsWholeCheck = false

        public init() {}

        public mutating func take(_ entry: FileEntry) -> String? {
            if let why = problem(with: entry.path) { return "\(why): \(FileList.escape(entry.path))" }
            if entry.kind == .symlink {
                guard isTablespaceLink(entry.path) else {
                    return "symbolic link outside pg_tblspc/<OID>: \(FileList.escape(entry.path))"
                }
                if let why = problem(withLinkTarget: entry.linkTarget ?? "") { return "\(why): \(FileList.escape(entry.path))" }
                let oid = entry.path.dropFirst("pg_tblspc/".count)
                links.insert(oid)
                if let below = belowTablespaceDirectories.first(where: { $0.oid == oid }) { return problemBelowLink(below.path) }
            } else if entry.path == "." && entry.kind != .directory {
                return "the data directory itself is listed as a \(entry.kind.rawValue) entry"
            }
            if entry.path.hasPrefix("pg_tblspc/") {
                let components = entry.path.split(separator: "/", maxSplits: 3)
                if components.count >= 3 && !isTablespaceVersionDirectory(components[2]) {
                    if links.contains(components[1]) { return problemBelowLink(entry.path) }
                    belowTablespaceDirectories.append((components[1], entry.path))
                }
            }
            if entry.path == "backup_label" || entry.path == "tablespace_map" {
                return fromServer.insert(entry.path).inserted ? nil : "listed twice: \(FileList.escape(entry.path))"
            }
            if let previous, !needsWholeCheck, !FileList.walkPrecedes(previous, entry.path) {
                if previous == entry.path { return "listed twice: \(FileList.escape(entry.path))" }
                needsWholeCheck = true
            }
            previous = entry.path
            return nil
        }

        /// PostgreSQL keeps everything of a tablespace in its `PG_<major>_<catversion>/`
        /// directory, so nothing else may be written through the link (a crafted list would
        /// otherwise put files anywhere the link points).
        private func problemBelowLink(_ path: String) -> String {
            "below a tablespace link, outside PostgreSQL's PG_<major>_<catversion> directory: \(FileList.escape(path))"
        }
    }
}
