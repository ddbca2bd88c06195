/// What a user may write wherever a backup ID is taken: the ID itself, or a word naming one
/// among the repository's usable (OK or DONE) backups, as pgBackRest's `--set=latest` and
/// pg_probackup's shortcuts do.
public enum BackupReference: Sendable, Equatable {
    case id(String)
    /// The newest usable backup, of any kind.
    case latest
    /// The newest usable full backup.
    case latestFull
    /// The oldest usable backup.
    case oldest

    public static let words = ["latest", "latest-full", "oldest"]

    /// A shortcut word or a well-formed ID; anything else is refused naming what was given.
    public init(_ text: String) throws {
        switch text {
        case "latest": self = .latest
        case "latest-full": self = .latestFull
        case "oldest": self = .oldest
        default:
            guard Repository.isBackupID(text) else {
                throw CatalogError.invalid(FileList.escape(text), "not a backup ID (YYYYMMDD-HHMMSS followed by F or I, as pgbk show lists them) nor one of \(Self.words.joined(separator: ", "))")
            }
            self = .id(text)
        }
    }

    /// The ID this names among `backups` (in ID order, as `Repository.loadAll` gives them).
    public func resolve(among backups: [BackupInfo], in repository: String) throws -> String {
        let usable = backups.filter(\.isUsable).sorted { $0.id < $1.id }
        let found: BackupInfo?
        switch self {
        case .id(let id): return id
        case .latest: found = usable.last
        case .latestFull: found = usable.last { $0.mode == .full }
        case .oldest: found = usable.first
        }
        guard let found else {
            throw CatalogError.invalid(repository, "no usable (OK or DONE) \(self == .latestFull ? "full " : "")backup for '\(word)'")
        }
        return found.id
    }

    private var word: String {
        switch self {
        case .id(let id): return id
        case .latest: return "latest"
        case .latestFull: return "latest-full"
        case .oldest: return "oldest"
        }
    }
}

extension Repository {
    /// `text` (an ID or a shortcut word) as the ID of one of this repository's backups.
    public func resolveBackup(_ text: String) throws -> String {
        let reference = try BackupReference(text)
        if case .id(let id) = reference { return id }
        return try reference.resolve(among: try loadAll().backups, in: path)
    }
}
