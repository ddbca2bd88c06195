import PostgresFormat
import Repository

/// Where a restore puts each tablespace. A file list is not trusted to choose: a link's
/// location must be one the backup's own `tablespace_map` (what pg_backup_stop returned)
/// names for that OID, or be mapped with -T; everything below a link must lie in PostgreSQL's
/// `PG_<major>_...` directory of the backup's major version; and every location is printed
/// before anything is written.
struct RestoreTablespaces {
    struct Placement {
        let entry: FileEntry
        let location: String
        /// The backup's `PG_<major>_<catversion>` directory in it (nil: the tablespace is empty).
        let versionDirectory: String?
        var oid: String { FileSystem.baseName(of: entry.path) }
        var isMoved: Bool { location != entry.linkTarget }
    }

    let placements: [Placement]

    /// `under`: where tablespaces not mapped with -T go, each as `<under>/<OID>` (a drill's
    /// scratch directory), instead of their original locations.
    init(entries: [FileEntry], info: BackupInfo, mapping: [String: String], under: String? = nil, repository: Repository) throws {
        let links = entries.filter { $0.kind == .symlink }
        for old in mapping.keys where !links.contains(where: { $0.linkTarget == old }) {
            throw EngineError.invalidArgument("--tablespace-mapping \(old): backup \(info.id) has no tablespace at that location")
        }
        guard !links.isEmpty else { placements = []; return }
        let named = try Self.backupMap(entries: entries, info: info, repository: repository)
        let major = "PG_\(info.pgVersionNum / 10000)_"
        var placements: [Placement] = []
        for link in links {
            let oid = FileSystem.baseName(of: link.path)
            let old = link.linkTarget ?? ""
            if mapping[old] == nil && !named.contains(where: { $0.oid == oid && $0.path == old }) {
                throw CatalogError.corrupt(repository.fileListPath(info.id),
                                           "tablespace \(oid) links to \(old), which the backup's tablespace_map does not name for it: refusing to write there; map it with -T \(old)=DIR if it is right")
            }
            if let stray = entries.first(where: { $0.path.hasPrefix(link.path + "/") && !$0.path.dropFirst(link.path.count + 1).hasPrefix(major) }) {
                throw CatalogError.corrupt(repository.fileListPath(info.id),
                                           "\(stray.path) is not in tablespace \(oid)'s \(major)... directory of PostgreSQL \(info.pgVersionNum / 10000)")
            }
            let version = entries.first { $0.path.hasPrefix(link.path + "/") }
                .map { String($0.path.dropFirst(link.path.count + 1).prefix { $0 != "/" }) }
            let location = mapping[old] ?? under.map { $0 + "/" + oid } ?? old
            placements.append(Placement(entry: link, location: FileSystem.absolute(location), versionDirectory: version))
        }
        self.placements = placements
    }

    /// Whether `entry` is one of the few this type reads (a restore of many files passes
    /// only those): a link, tablespace_map, what lies directly in a tablespace (its version
    /// directory), and anything in one outside the `major` version's directory (damage).
    static func concerns(_ entry: FileEntry, major: String) -> Bool {
        if entry.kind == .symlink || entry.path == "tablespace_map" { return true }
        guard entry.path.hasPrefix("pg_tblspc/") else { return false }
        let components = entry.path.split(separator: "/", maxSplits: 3)
        return components.count == 3 || (components.count > 3 && !components[2].hasPrefix(major))
    }

    /// Says where each tablespace goes, before anything is written.
    func announce() {
        for p in placements {
            let oid = FileSystem.baseName(of: p.entry.path)
            let moved = p.isMoved ? " (was \(p.entry.linkTarget ?? "?"))" : ""
            Console.info("tablespace \(oid) will be restored into \(p.location)\(moved)")
        }
    }

    func location(of link: String) -> String? { placements.first { $0.entry.path == link }?.location }

    /// The backup's tablespace_map, read back from the repository against its checksum.
    private static func backupMap(entries: [FileEntry], info: BackupInfo, repository: Repository) throws -> [TablespaceMap.Entry] {
        guard let entry = entries.first(where: { $0.path == "tablespace_map" && $0.kind == .file }) else { return [] }
        let reader = try repository.storedFileReader(info.id, entry, compression: info.compression)
        defer { reader.close() }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while bytes.count <= 1 << 20, case let n = try reader.read(into: &chunk), n > 0 { bytes += chunk[0..<n] }
        guard bytes.count <= 1 << 20, reader.checksum == entry.checksum else {
            throw CatalogError.corrupt(reader.path, "tablespace_map does not match its checksum in the file list")
        }
        do { return try TablespaceMap(text: String(decoding: bytes, as: UTF8.self)).entries } catch {
            throw CatalogError.corrupt(reader.path, "\(error)")
        }
    }
}
