import PostgresFormat
import Repository

/// Chooses the parent of an incremental backup: the newest OK backup (`-b diff`: the newest
/// OK full, as pgBackRest's type=diff; `--parent ID`: that one) whose chain back to a
/// full backup is intact, from the same major version, on the current timeline or on an
/// ancestor timeline before the point where the current history left it, and ending before
/// the new backup starts.
public enum ParentSelector {
    /// Which OK backups may be the parent, newest first.
    public enum Rule: Sendable, Equatable {
        case newest
        /// A differential backup: every change since the last full.
        case newestFull
        /// `--parent ID`, already resolved from a shortcut word.
        case named(String)
    }

    public struct Situation: Sendable {
        public var timeline: TimelineID
        public var history: TimelineHistory?
        public var startLSN: LSN
        public var pgMajor: Int

        public init(timeline: TimelineID, history: TimelineHistory?, startLSN: LSN, pgMajor: Int) {
            self.timeline = timeline
            self.history = history
            self.startLSN = startLSN
            self.pgMajor = pgMajor
        }
    }

    /// The parent, or why there is none (naming the newest candidate's problem).
    /// `unreadable` names backups whose backup.ini cannot be read: one newer than the parent
    /// found might have been the right parent, so pgbk refuses rather than silently build on
    /// an older one.
    public static func select(from backups: [BackupInfo], unreadable: [String] = [], repository: Repository,
                              situation: Situation, rule: Rule = .newest) -> Result<BackupInfo, EngineError> {
        if case .named(let id) = rule {
            guard let named = backups.first(where: { $0.id == id }) else {
                return .failure(.invalidArgument("--parent \(id): no such backup in \(repository.path)"))
            }
            guard named.status == .ok else {
                return .failure(.invalidArgument("--parent \(id) is \(named.status.rawValue): only an OK (validated) backup can be a parent; run pgbk validate \(id)"))
            }
            return unsuitable(named, backups: backups, repository: repository, situation: situation)
                .map { .failure(.invalidArgument("--parent \(id) cannot be the parent: \($0)")) } ?? .success(named)
        }
        var reasons: [String] = []
        for candidate in backups.reversed() where candidate.status == .ok && (rule != .newestFull || candidate.mode == .full) {
            if let reason = unsuitable(candidate, backups: backups, repository: repository, situation: situation) {
                reasons.append("\(candidate.id): \(reason)")
                continue
            }
            if let newer = unreadable.filter({ $0 > candidate.id }).max() {
                return .failure(.noUsableBackup("backup \(newer) is newer than the parent \(candidate.id) pgbk would choose, but its backup.ini cannot be read (\(repository.backupInfoPath(newer))); repair or delete it, take a full backup, or use -F/--full-backup-on-error"))
            }
            return .success(candidate)
        }
        let kind = rule == .newestFull ? "full " : ""
        let why = reasons.isEmpty ? "there is no OK (validated) \(kind)backup" : reasons.prefix(3).joined(separator: "; ")
        return .failure(.noUsableBackup("no usable parent for \(rule == .newestFull ? "a differential" : "an incremental") backup (\(why)); take a full backup, or use -F/--full-backup-on-error"))
    }

    static func unsuitable(_ b: BackupInfo, backups: [BackupInfo], repository: Repository, situation: Situation) -> String? {
        guard let stop = b.stopLSN else { return "no stop LSN" }
        if b.pgVersionNum / 10000 != situation.pgMajor {
            return "taken on PostgreSQL \(b.pgVersionNum / 10000), the server is \(situation.pgMajor)"
        }
        do { _ = try repository.chain(for: b, among: backups) } catch { return "\(error)" }
        if b.timeline != situation.timeline {
            guard let history = situation.history else {
                return "on timeline \(b.timeline), and the history of timeline \(situation.timeline) is not in the archive"
            }
            guard history.contains(stop, on: b.timeline) else {
                return "on timeline \(b.timeline), which is not an ancestor of timeline \(situation.timeline) at \(stop)"
            }
        }
        if stop > situation.startLSN {
            return "it ends at \(stop), after the new backup's start \(situation.startLSN) (was the cluster reset or restored?)"
        }
        return nil
    }
}
