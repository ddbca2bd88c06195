import PostgresFormat
import Repository

/// One line of `pgbk check`: a name, one of the Nagios plugin states, and what to do.
public struct CheckResult: Sendable, Equatable {
    /// Raw values are the Nagios plugin exit codes.
    public enum Status: Int32, Sendable {
        case ok = 0, warning = 1, critical = 2, unknown = 3

        public var label: String { ["OK", "WARNING", "CRITICAL", "UNKNOWN"][Int(rawValue)] }

        /// The order in which states win when several checks are summed up: an unknown
        /// check does not hide a warning, and nothing hides a critical one.
        var severity: Int { [0, 2, 3, 1][Int(rawValue)] }

        public static func worst(_ all: [Status]) -> Status {
            all.max { $0.severity < $1.severity } ?? .ok
        }
    }

    public let name: String
    public let status: Status
    public let message: String

    public init(_ name: String, _ status: Status, _ message: String) {
        self.name = name
        self.status = status
        self.message = message
    }
}

/// The rules of `pgbk check`, as plain functions of what was observed, so that each is
/// tested on its own without a server.
public enum HealthRules {
    public static func walLevel(_ level: String) -> CheckResult {
        level == "minimal"
            ? CheckResult("wal_level", .critical, "wal_level is minimal: set wal_level = replica (and restart), or no online backup is possible")
            : CheckResult("wal_level", .ok, "wal_level is \(level)")
    }

    /// `receiveWAL`: pgbk receive-wal streams into the repository, which then needs no
    /// archive_command (as Barman allows).
    public static func archiveMode(_ mode: String, inRecovery: Bool, receiveWAL: Bool = false) -> CheckResult {
        switch mode {
        case "off" where receiveWAL:
            return CheckResult("archive_mode", .ok, "archive_mode is off; WAL reaches the repository through pgbk receive-wal")
        case "off":
            return CheckResult("archive_mode", .critical, "archive_mode is off: set archive_mode = on (and restart), or no WAL reaches the repository")
        case "on" where inRecovery:
            return CheckResult("archive_mode", .warning, "archive_mode is on, but this server is a standby, which archives only with archive_mode = always (the primary archives)")
        default:
            return CheckResult("archive_mode", .ok, "archive_mode is \(mode)")
        }
    }

    /// Whether archive_command runs `pgbk archive-push` into `repository` (by one of its -B,
    /// or without any, through its configuration file's BACKUP_PATH, which cannot be seen
    /// from here).
    public static func archiveCommand(_ command: String, repository: String) -> CheckResult {
        let words = command.split(whereSeparator: { $0 == " " || $0 == "\t" }).map { $0.trimmingQuotes }
        guard let pgbk = words.firstIndex(where: { $0 == "pgbk" || $0.hasSuffix("/pgbk") }),
              let push = words[pgbk...].firstIndex(of: "archive-push") else {
            return CheckResult("archive_command", .critical, "archive_command does not run pgbk archive-push: set archive_command = 'pgbk archive-push -B \(repository) %p'")
        }
        // Every -B: with several repositories, archive-push stores into each.
        var targets: [String] = []
        var i = push + 1
        while i < words.count, words[i] != "&&", words[i] != ";", words[i] != "||" {
            if words[i] == "-B" || words[i] == "--backup-path", i + 1 < words.count { targets.append(words[i + 1]); i += 1 }
            else if words[i].hasPrefix("--backup-path=") { targets.append(String(words[i].dropFirst("--backup-path=".count))) }
            // getopt's attached form, as the CLI takes it: -B/srv/repo.
            else if words[i].hasPrefix("-B") && words[i].count > 2 { targets.append(words[i].dropFirst(2).trimmingQuotes) }
            i += 1
        }
        guard !targets.isEmpty else {
            return CheckResult("archive_command", .warning, "archive_command runs pgbk archive-push without -B: make sure its BACKUP_PATH is \(repository)")
        }
        guard targets.contains(where: { samePlace($0, repository) }) else {
            return CheckResult("archive_command", .critical, "archive_command pushes into \(targets.joined(separator: " and ")), not into this repository \(repository)")
        }
        return CheckResult("archive_command", .ok, "archive_command runs pgbk archive-push into this repository")
    }

    /// Two repository locations: URLs (any scheme: s3:// today) compared without trailing
    /// slashes, paths after resolving links and relative parts.
    static func samePlace(_ a: String, _ b: String) -> Bool {
        func normal(_ s: String) -> String {
            if s.contains("://") {
                var url = Substring(s)
                while url.hasSuffix("/") && !url.hasSuffix("://") { url = url.dropLast() }
                return String(url)
            }
            return FileSystem.realPath(s) ?? FileSystem.absolute(s)
        }
        return normal(a) == normal(b)
    }

    /// pg_stat_archiver: a failure newer than the last success means archiving is failing now.
    public static func archiver(failedCount: Int, lastFailedWAL: String?, lastFailed: Timestamp?, lastArchived: Timestamp?) -> CheckResult {
        guard failedCount > 0, let lastFailed else {
            return CheckResult("archiver", .ok, "pg_stat_archiver: no failures")
        }
        if let lastArchived, lastArchived >= lastFailed {
            return CheckResult("archiver", .ok, "pg_stat_archiver: \(failedCount) failure(s) in the past, the last one (\(lastFailedWAL ?? "?") at \(lastFailed)) was followed by successes")
        }
        return CheckResult("archiver", .critical, "pg_stat_archiver: archiving \(lastFailedWAL ?? "?") failed at \(lastFailed) and nothing was archived since: see the server log for archive_command's error")
    }

    /// Asynchronous archive-push's background pgbk: a failure it met on a file still waiting
    /// is a WARNING (the archive_command call for that file pushes it itself, and
    /// pg_stat_archiver shows whether that failed too).
    public static func asyncArchivePush(_ status: WALPushSpool.Status, now: Int64) -> CheckResult {
        let state = status.running ? "running" : "not running (it starts with the next archive_command call)"
        var waiting = "\(status.waiting) file(s) ready to archive"
        if let oldest = status.oldestWaitingSince, status.waiting > 0 { waiting += ", the oldest for \(max(0, now - oldest)) s" }
        if let first = status.droppedUnrecorded.first {
            return CheckResult("archive_push_async", .critical, "archive-push dropped \(status.droppedUnrecorded.count) segment(s) unarchived (first \(first), --archive-push-queue-max) and could not record it in the repository yet: the archive has a gap; \(waiting)")
        }
        if let first = status.failures.first {
            return CheckResult("archive_push_async", .warning, "background archive-push \(state), \(waiting); it failed on \(first)"
                               + (status.failures.count > 1 ? " (and \(status.failures.count - 1) more)" : ""))
        }
        return CheckResult("archive_push_async", .ok, "background archive-push \(state), \(waiting)")
    }

    /// receive-wal's walsender, as pg_stat_replication shows it: connected and streaming, and
    /// how far behind the server's WAL its flushed position is (WARNING past `warningBytes`,
    /// one segment by default; CRITICAL past `criticalBytes`: that much committed WAL is not
    /// yet in the repository).
    public struct Receiver: Sendable {
        public var state: String
        public var syncState: String
        public var lagBytes: Int64
        public var slotRetainedBytes: Int64?

        public init(state: String, syncState: String, lagBytes: Int64, slotRetainedBytes: Int64?) {
            self.state = state
            self.syncState = syncState
            self.lagBytes = lagBytes
            self.slotRetainedBytes = slotRetainedBytes
        }
    }

    public static func receiveWAL(_ receiver: Receiver?, name: String, warningBytes: Int64, criticalBytes: Int64 = 1 << 30) -> CheckResult {
        guard let receiver else {
            return CheckResult("receive_wal", .critical, "no pgbk receive-wal is connected (no walsender for application_name \(name)): WAL is not streamed into the repository")
        }
        let slot = receiver.slotRetainedBytes.map { "; its slot keeps \(formatBytes(UInt64(max(0, $0)))) of WAL on the server" } ?? ""
        let text = "receive-wal is \(receiver.state) (\(receiver.syncState)), \(formatBytes(UInt64(max(0, receiver.lagBytes)))) behind the server's WAL\(slot)"
        if receiver.state != "streaming" || receiver.lagBytes > criticalBytes { return CheckResult("receive_wal", .critical, text) }
        if receiver.lagBytes > warningBytes { return CheckResult("receive_wal", .warning, text) }
        return CheckResult("receive_wal", .ok, text)
    }

    public static func identity(systemIdentifier: String, versionNumber: Int, repository: RepositoryIdentity) -> CheckResult {
        if systemIdentifier != String(repository.systemIdentifier) {
            return CheckResult("cluster", .critical, "the server's system identifier is \(systemIdentifier), the repository's \(repository.systemIdentifier): it belongs to another cluster")
        }
        if String(versionNumber / 10000) != repository.pgMajorVersion {
            return CheckResult("cluster", .critical, "the server is PostgreSQL \(versionNumber / 10000), the repository holds PostgreSQL \(repository.pgMajorVersion) backups: create a new repository for it")
        }
        return CheckResult("cluster", .ok, "system identifier \(systemIdentifier) and PostgreSQL \(repository.pgMajorVersion) match the repository")
    }

    /// The newest OK backup's age (from its end) against the thresholds, in seconds.
    public static func backupAge(newestOK: BackupInfo?, now: Timestamp, warning: Int64, critical: Int64) -> CheckResult {
        guard let backup = newestOK else {
            return CheckResult("backup_age", .critical, "no OK backup: take one (pgbk backup) and validate it (pgbk validate)")
        }
        let age = now.seconds - (backup.endTime ?? backup.startTime).seconds
        let text = "the newest OK backup, \(backup.id), ended \(formatAge(age)) ago"
        if age > critical { return CheckResult("backup_age", .critical, text + ", more than \(formatAge(critical)): is the backup cron job running?") }
        if age > warning { return CheckResult("backup_age", .warning, text + ", more than \(formatAge(warning))") }
        return CheckResult("backup_age", .ok, text)
    }

    public static func walGaps(firstGap: String?, dropped: Bool = false, hasOKBackup: Bool) -> CheckResult {
        if let firstGap {
            let cause = dropped ? " (archive-push dropped it: the WAL waiting to be archived was over --archive-push-queue-max)" : ""
            return CheckResult("wal_gaps", .critical, "WAL segment \(firstGap) is missing from the archive\(cause): recovery from the oldest OK backup stops there; take a new full backup")
        }
        return CheckResult("wal_gaps", .ok, hasOKBackup ? "every WAL segment from the oldest OK backup on is in the archive (present: pgbk validate reads them back)" : "no OK backup to check the archived WAL from")
    }

    /// The newest drill decides: failed is critical; passed longer ago than `warning`, or
    /// never drilled at all, is a warning (PostgreSQL's documentation: keep testing restores).
    public static func drillAge(_ drills: [DrillRecord], now: Timestamp, warning: Int64) -> CheckResult {
        guard let last = drills.max(by: { $0.id < $1.id }) else {
            return CheckResult("drill", .warning, "no restore drill recorded: schedule pgbk drill (a restore that was never tried is a hope, not a backup)")
        }
        if last.result == .failed {
            return CheckResult("drill", .critical, "the last drill, \(last.id), failed: \(last.reason ?? "see pgbk show drills")")
        }
        let age = now.seconds - last.endTime.seconds
        let text = "the last drill, \(last.id), passed \(formatAge(age)) ago (backup \(last.backupID ?? "?"), restore \(Int((last.restoreSeconds ?? 0).rounded())) s, recovery \(Int((last.recoverySeconds ?? 0).rounded())) s)"
        return age > warning ? CheckResult("drill", .warning, text + ", more than \(formatAge(warning))") : CheckResult("drill", .ok, text)
    }

    /// "3d4h", "2h5m", "40s": an age as a DBA reads it.
    public static func formatAge(_ seconds: Int64) -> String {
        let s = max(0, seconds)
        if s >= 86400 { return "\(s / 86400)d\(s % 86400 / 3600 > 0 ? "\(s % 86400 / 3600)h" : "")" }
        if s >= 3600 { return "\(s / 3600)h\(s % 3600 / 60 > 0 ? "\(s % 3600 / 60)m" : "")" }
        if s >= 60 { return "\(s / 60)m" }
        return "\(s)s"
    }

    /// "26h", "2d", "90m", "45s" or a number of seconds; nil for anything else.
    public static func parseDuration(_ text: String) -> Int64? {
        var digits = Substring(text)
        var unit: Int64 = 1
        if let last = digits.last, let scale = ["s": Int64(1), "m": 60, "h": 3600, "d": 86400][String(last)] {
            unit = scale
            digits = digits.dropLast()
        }
        guard let n = Int64(digits), n >= 0 else { return nil }
        let total = n.multipliedReportingOverflow(by: unit)
        return total.overflow ? nil : total.partialValue
    }
}

extension Substring {
    fileprivate var trimmingQuotes: String {
        var s = self
        while let first = s.first, first == "'" || first == "\"" { s = s.dropFirst() }
        while let last = s.last, last == "'" || last == "\"" { s = s.dropLast() }
        return String(s)
    }
}
