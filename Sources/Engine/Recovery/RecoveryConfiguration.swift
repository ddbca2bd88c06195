/// The recovery settings restore writes into postgresql.auto.conf. Earlier recovery settings
/// there are removed, so a restored cluster never sees two restore_command lines.
public struct RecoveryConfiguration: Sendable, Equatable {
    public var restoreCommand: String
    /// Removes archive-get's prefetch spool once recovery is over.
    public var recoveryEndCommand: String
    public var target: RecoveryTarget
    /// For a standby: the primary it streams from (replaces an inherited primary_conninfo).
    public var primaryConninfo: String?
    /// Writes archive_mode = off (see RestoreOptions.archiveOff).
    public var archiveOff = false

    /// `pgbkArguments` are archive-get options (`--config FILE`). `fallbacks`: the other
    /// repositories of the cluster, which archive-get tries in order when the first lacks a
    /// file, holds it damaged or cannot be reached. `namingRepositories` false: the
    /// arguments name them (`--server NAME`, which takes no -B), in the server file's order.
    /// `environment`: variables archive-get needs that the server's environment lacks (where
    /// the server files are).
    public init(pgbkExecutable: String, pgbkArguments: [String] = [], repositoryPath: String, fallbacks: [String] = [],
                namingRepositories: Bool = true, environment: [String: String] = [:], target: RecoveryTarget = RecoveryTarget()) {
        let repositories = namingRepositories ? [repositoryPath] + fallbacks : []
        let variables = environment.sorted { $0.key < $1.key }.map { $0.key + "=" + shellQuote($0.value) + " " }.joined()
        restoreCommand = variables + shellQuote(pgbkExecutable) + " archive-get " + pgbkArguments.map { shellQuote($0) + " " }.joined()
            + repositories.map { "-B " + shellQuote($0) + " " }.joined() + "%f %p"
        recoveryEndCommand = shellQuote(pgbkExecutable) + " archive-get --end-of-recovery"
        self.target = target
    }

    static let marker = "# pgbk restore:"

    static func isRecoverySetting(_ line: Substring) -> Bool {
        let key = key(of: line)
        return key == "restore_command" || key == "recovery_end_command" || key.hasPrefix("recovery_target")
    }

    /// The new content of postgresql.auto.conf given its restored content.
    public func apply(to existing: String, backupID: String) -> String {
        var lines = existing.split(separator: "\n", omittingEmptySubsequences: false).filter {
            !Self.isRecoverySetting($0) && !$0.hasPrefix(Self.marker) && !(primaryConninfo != nil && Self.key(of: $0) == "primary_conninfo")
                && !(archiveOff && Self.key(of: $0) == "archive_mode")
        }
        while lines.last == "" { lines.removeLast() }
        var out = lines.joined(separator: "\n")
        if !out.isEmpty { out += "\n" }
        out += "\(Self.marker) recovery settings for backup \(backupID)\n"
        out += "restore_command = " + configQuote(restoreCommand) + "\n"
        out += "recovery_end_command = " + configQuote(recoveryEndCommand) + "\n"
        for (key, value) in target.settings { out += key + " = " + configQuote(value) + "\n" }
        if let primaryConninfo { out += "primary_conninfo = " + configQuote(primaryConninfo) + "\n" }
        if archiveOff { out += "archive_mode = 'off'\n" }
        return out
    }

    static func key(of line: Substring) -> String {
        line.drop { $0 == " " || $0 == "\t" }.prefix { $0 != "=" && $0 != " " && $0 != "\t" }.lowercased()
    }
}

/// A single shell word: '...' with embedded quotes closed, escaped and reopened.
func shellQuote(_ text: String) -> String {
    "'" + text.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
}

/// A postgresql.conf string literal: single quotes doubled.
func configQuote(_ text: String) -> String {
    "'" + text.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "''") + "'"
}
