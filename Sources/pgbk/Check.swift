import ArgumentParser
import Engine
import Repository

/// `pgbk check`: is everything in place for backups and archiving, and are they recent?
/// Exit status as a Nagios plugin: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the server's archiving settings, archiving end to end, the repository and the age of backups and drills.",
        discussion: "One line per check. Exit status as a Nagios plugin: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
        helpNames: [.long])

    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var connection: ConnectionOptions
    @Option(name: .customLong("archive-timeout"), parsing: .unconditional, help: "Seconds to wait for the test segment to be archived (default 60; 8 with --nagios, within a plugin's 10 s).")
    var archiveTimeout: Int?
    @Flag(name: .customLong("no-archive-test"), help: "Do not switch WAL to test archiving end to end.")
    var noArchiveTest = false
    @Option(name: .customLong("backup-age-warning"), help: "WARNING when the newest OK backup ended longer ago than this (s, m, h or d; default 26h).")
    var backupAgeWarning = "26h"
    @Option(name: .customLong("backup-age-critical"), help: "CRITICAL when it ended longer ago than this (default 50h).")
    var backupAgeCritical = "50h"
    @Option(name: .customLong("drill-age-warning"), help: "WARNING when the last passed drill is older than this (default 8d).")
    var drillAgeWarning = "8d"
    @Option(name: .customLong("receive-wal-name"), help: "The application_name receive-wal streams with (default pgbk), where the repository has wal/receiving/.")
    var receiveWALName = "pgbk"
    @Option(name: .customLong("receive-lag-warning"), help: "WARNING when receive-wal's flushed position is more than this behind the server's WAL (bytes, or with K, M, G; default one WAL segment).")
    var receiveLagWarning: String?
    @Option(name: .customLong("receive-lag-critical"), help: "CRITICAL when it is more than this behind (default 1G).")
    var receiveLagCritical = "1G"
    @Flag(name: .customLong("nagios"), help: "Print one status line, as a Nagios plugin.")
    var nagios = false
    static let nagiosArchiveTimeout = 8
    @Flag(name: .long, help: "Print the checks as JSON.")
    var json = false
    @Flag(name: .customLong("all"), help: "Check every server configured on this backup host (as --server NAME each), each check named after its server.")
    var all = false

    /// Every repository (or the one --repo names): the server's own checks once, the
    /// repository's (its archive_command entry, archiving into it, its backups, gaps and
    /// drills) for each, named "repoN ..." when there are several.
    func run() throws {
        let results = all ? try everyServer() : try results()
        let worst = CheckResult.Status.worst(results.map(\.status))
        if nagios {
            Console.output(CheckReport.nagiosLine(results))
        } else if json {
            Console.output(CheckReport.json(results))
        } else {
            Console.output(CheckReport.table(results), terminator: "")
        }
        if worst != .ok { throw ExitCode(worst.rawValue) }
    }

    /// --all: each configured server's checks, as `--server NAME` gives them; a server whose
    /// checks cannot even start is one CRITICAL line of its own, and the others are checked.
    private func everyServer() throws -> [CheckResult] {
        guard repository.server == nil, repository.backupPaths.isEmpty else {
            throw EngineError.invalidArgument("--all checks every configured server: it takes neither --server nor -B")
        }
        var results: [CheckResult] = []
        for name in try ServerConfiguration.names() {
            var one = self
            one.repository.server = name
            let these = ServerConfiguration.withEnvironmentRestored { Result { try one.results() } }
            switch these {
            case .success(let checks): results += checks.map { CheckResult("\(name) \($0.name)", $0.status, $0.message) }
            case .failure(let error): results.append(CheckResult("\(name) configuration", .critical, "\(error)"))
            }
        }
        return results
    }

    private func results() throws -> [CheckResult] {
        let targets = try repository.chosenPaths()
        var results: [CheckResult] = []
        for (n, target) in targets.enumerated() {
            var these = try checks(of: target.path)
            if targets.count > 1 {
                these = these.filter { n == 0 || !Self.serverChecks.contains($0.name) }.map { r in
                    Self.serverChecks.contains(r.name) ? r : CheckResult("repo\(target.number) \(r.name)", r.status, r.message)
                }
            }
            results += these
        }
        return results
    }

    /// What belongs to the server, not to a repository: reported once.
    static let serverChecks: Set<String> = ["server", "wal_level", "archive_mode", "archiver"]

    private func checks(of path: String) throws -> [CheckResult] {
        // Opened once; a failure is the repository check's result. Its pgbk.ini may name the server.
        let opened = Result { try repository.open(path: path) }
        let config = (try? opened.get())?.config ?? RepositoryConfig(values: [:])
        var options = CheckOptions(connection: connection.parameters(config: config))
        if let archiveTimeout {
            guard archiveTimeout > 0 else { throw EngineError.invalidArgument("--archive-timeout must be at least 1 second, not \(archiveTimeout)") }
            options.archiveTimeoutSeconds = archiveTimeout
        } else if nagios {
            // Nagios gives a plugin 10 s by default; a plugin that overruns is UNKNOWN.
            options.archiveTimeoutSeconds = Self.nagiosArchiveTimeout
        }
        options.testArchiving = !noArchiveTest
        options.backupAgeWarning = try duration(backupAgeWarning, "--backup-age-warning")
        options.backupAgeCritical = try duration(backupAgeCritical, "--backup-age-critical")
        options.drillAgeWarning = try duration(drillAgeWarning, "--drill-age-warning")
        options.receiveWALName = receiveWALName
        options.receiveLagWarning = try receiveLagWarning.map { try bytes($0, "--receive-lag-warning") }
        options.receiveLagCritical = try bytes(receiveLagCritical, "--receive-lag-critical")
        return CheckOperation(repositoryPath: path, options: options, openRepository: { try opened.get() }).run()
    }

    private func bytes(_ text: String, _ option: String) throws -> Int64 {
        guard let n = ByteSize.parse(text), n >= 0 else {
            throw EngineError.invalidArgument("\(option) must be a size such as 16M, 1G or 1048576, not \(text)")
        }
        return Int64(n)
    }

    private func duration(_ text: String, _ option: String) throws -> Int64 {
        guard let seconds = HealthRules.parseDuration(text) else {
            throw EngineError.invalidArgument("\(option) must be a duration such as 26h, 2d, 90m or 3600, not \(text)")
        }
        return seconds
    }
}

/// The three forms of `check`'s answer.
enum CheckReport {
    static func table(_ results: [CheckResult]) -> String {
        let width = results.map(\.name.count).max() ?? 0
        var out = ""
        for r in results {
            out += r.status.label.padding(8) + " " + r.name.padding(width) + "  " + r.message + "\n"
        }
        let counts = [CheckResult.Status.critical, .warning, .unknown].map { s in (s, results.filter { $0.status == s }.count) }
        let bad = counts.filter { $0.1 > 0 }.map { "\($0.1) \($0.0.label)" }
        out += "check: \(CheckResult.Status.worst(results.map(\.status)).label) (\(results.count) checks\(bad.isEmpty ? "" : ": " + bad.joined(separator: ", ")))\n"
        return out
    }

    /// The plugin convention: `PGBK STATE - summary`, the failing checks first.
    static func nagiosLine(_ results: [CheckResult]) -> String {
        let worst = CheckResult.Status.worst(results.map(\.status))
        let failing = results.filter { $0.status != .ok }
        let summary = failing.isEmpty ? "\(results.count) checks passed" : failing.map { "\($0.name): \($0.message)" }.joined(separator: "; ")
        return "PGBK \(worst.label) - \(summary)"
    }

    static func json(_ results: [CheckResult]) -> String {
        let items = results.map {
            "{\"name\": \(BackupJSON.string($0.name)), \"status\": \(BackupJSON.string($0.status.label)), \"message\": \(BackupJSON.string($0.message))}"
        }
        return "{\"status\": \(BackupJSON.string(CheckResult.Status.worst(results.map(\.status)).label)), \"checks\": [" + items.joined(separator: ",\n ") + "]}"
    }
}

extension String {
    fileprivate func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(0, width - count)) }
}
