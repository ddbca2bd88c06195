import Repository

/// `--keep-srvlog-files N` and `--keep-srvlog-days N` (pg_rman's): which backups' copies of the
/// server log go. Walking from the newest backup, a backup's logs stay while fewer than N
/// log files are kept in newer backups, or while it ended less than N days ago; a rule not
/// given keeps nothing by itself, and with neither nothing goes. The backups themselves stay.
public enum ServerLogRetention {
    public struct Copy: Sendable, Equatable {
        public let backupID: String
        public let ended: Timestamp
        public let files: Int

        public init(backupID: String, ended: Timestamp, files: Int) {
            self.backupID = backupID
            self.ended = ended
            self.files = files
        }
    }

    public static func expire(_ copies: [Copy], keepFiles: Int?, keepDays: Int?, now: Timestamp) -> [String] {
        guard keepFiles != nil || keepDays != nil else { return [] }
        var keptFiles = 0
        var expired: [String] = []
        for copy in copies.sorted(by: { $0.backupID > $1.backupID }) {
            let byCount = keepFiles.map { keptFiles < $0 } ?? false
            let byAge = keepDays.map { copy.ended.seconds >= now.seconds - Int64($0) * 86_400 } ?? false
            if byCount || byAge {
                keptFiles += copy.files
            } else {
                expired.append(copy.backupID)
            }
        }
        return expired.sorted()
    }
}

/// Applies ServerLogRetention under the repository lock.
public struct ServerLogExpiry {
    let repository: Repository
    let dryRun: Bool
    let lockTimeoutSeconds: Int

    public init(repository: Repository, dryRun: Bool, lockTimeoutSeconds: Int) {
        self.repository = repository
        self.dryRun = dryRun
        self.lockTimeoutSeconds = lockTimeoutSeconds
    }

    /// The backups whose server logs went (or, with dryRun, would go).
    public func run(keepFiles: Int?, keepDays: Int?, now: Timestamp = .now()) throws -> [String] {
        let lock = try RepositoryLock(repository: repository, command: "expire", timeoutSeconds: lockTimeoutSeconds)
        defer { lock.release() }
        var copies: [ServerLogRetention.Copy] = []
        for info in try repository.loadAll().backups where info.status != .deleted {
            guard let list = try repository.loadServerLogList(info.id) else { continue }
            copies.append(.init(backupID: info.id, ended: info.endTime ?? info.startTime, files: list.count))
        }
        let expired = ServerLogRetention.expire(copies, keepFiles: keepFiles, keepDays: keepDays, now: now)
        if !dryRun { for id in expired { try repository.removeServerLogs(id) } }
        return expired
    }
}
