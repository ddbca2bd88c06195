import ArgumentParser
import Engine
import PostgresFormat
import Repository

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List backups: pgbk show [ID] [detail] [--json]; pgbk show timeline; pgbk show drills [--json].",
        discussion: "pgbk show lists the backups (detail: every column; ID: one backup, with its files' page errors). pgbk show timeline lists each timeline, its archived WAL and missing segments, the recoverable window and a picture of it over time. pgbk show drills lists the recorded restore drills. --metrics prints the Prometheus metrics instead.",
        helpNames: [.long])

    @OptionGroup var repository: RepositoryOptions
    @Flag(name: .long, help: "Print a JSON array of backups.") var json = false
    @Flag(name: [.customShort("a"), .customLong("all")], help: "Include DELETED backups; with --metrics, every server configured on this backup host instead (each sample labelled server=NAME).") var all = false
    @Flag(name: .long, help: "Print Prometheus metrics (the node_exporter textfile format; see docs/monitoring.md).") var metrics = false
    @Argument(help: "A backup ID (or latest, latest-full, oldest) and/or the word 'detail'; or the word 'timeline' or 'drills'.") var words: [String] = []

    func run() throws {
        if metrics {
            guard words.isEmpty, !json else { throw EngineError.invalidArgument("--metrics takes no other argument and no --json") }
            return try printMetrics()
        }
        let repo = try repository.open()
        var detail = false
        var id: String?
        if words == ["timeline"] || words == ["timelines"] {
            let report = try TimelineReport(repository: repo)
            Console.output(TimelineTable.render(report), terminator: "")
            Console.output(TimelineTable.bars(try RecoveryPicture.read(repo, report: report)), terminator: "")
            return
        }
        if words == ["drills"] || words == ["drill"] {
            let (drills, unreadable) = try repo.loadDrills()
            Console.output(json ? DrillTable.json(drills) : DrillTable.render(drills), terminator: json ? "\n" : "")
            for (name, error) in unreadable { Console.error("drill record \(name): \(describe(error))") }
            if !unreadable.isEmpty { throw ExitCode(1) }
            return
        }
        for word in words {
            if word == "detail" { detail = true } else if id == nil { id = word } else {
                throw EngineError.invalidArgument("show takes at most one backup ID and 'detail', not \(word)")
            }
        }
        if let id {
            let backup = try repo.loadBackup(try repo.resolveBackup(id))
            Console.output(json ? "[" + BackupJSON.object(backup, repo: repository.repo ?? 1, location: repo.path,
                                                          generation: repo.identity.generation(ofSystem: backup.systemIdentifier)) + "]" : backup.ini().text(),
                           terminator: json ? "\n" : "")
            return
        }
        try listBackups(detail: detail)
    }

    /// Every repository's metrics (the one --repo names, if given); with --all, every
    /// configured server's, each sample labelled with its server.
    private func printMetrics() throws {
        if all { return Console.output(Metrics.render(try everyServersMetrics()), terminator: "") }
        let targets = try repository.chosenPaths()
        guard targets.count > 1 else {
            Console.output(Metrics.render(Metrics.families(try MetricsInput.read(try repository.open()))), terminator: "")
            return
        }
        Console.output(Metrics.render(Metrics.merge(try repositoriesMetrics(targets))), terminator: "")
    }

    /// Each repository's families after its `pgbk_repository_up`: one that cannot be opened
    /// is `pgbk_repository_up 0` and named on stderr, and the others are written all the same.
    private func repositoriesMetrics(_ targets: [(number: Int, path: String)]) throws -> [[MetricFamily]] {
        var sets: [[MetricFamily]] = []
        for (number, path) in targets {
            do {
                let repo = try repository.open(path: path)
                sets.append([Metrics.up(repo.path, true)] + Metrics.families(try MetricsInput.read(repo)))
            } catch {
                Console.error("\(RepositoryLabel.label(number, path)): \(describe(error))")
                sets.append([Metrics.up(path, false)])
            }
        }
        return sets
    }

    /// --metrics --all: one exposition for the backup host (one textfile for node_exporter);
    /// a server whose file cannot be read is `pgbk_server_configured 0`, and the others follow.
    private func everyServersMetrics() throws -> [MetricFamily] {
        guard repository.server == nil, repository.backupPaths.isEmpty, repository.repo == nil else {
            throw EngineError.invalidArgument("--metrics --all covers every configured server: it takes no --server, -B or --repo")
        }
        var sets: [[MetricFamily]] = []
        for name in try ServerConfiguration.names() {
            var one = self
            one.repository.server = name
            let these = ServerConfiguration.withEnvironmentRestored { Result { try one.repositoriesMetrics(try one.repository.chosenPaths()) } }
            switch these {
            case .success(let families):
                sets.append([Metrics.serverConfigured(name, true)] + families.map { Metrics.labelled($0, server: name) }.joined())
            case .failure(let error):
                Console.error("server \(name): \(describe(error))")
                sets.append([Metrics.serverConfigured(name, false)])
            }
        }
        return Metrics.merge(sets)
    }

    /// Every repository's backups (the one --repo names, if given), each row with its
    /// repository when there are several; a repository that cannot be read is named and
    /// the others are listed.
    private func listBackups(detail: Bool) throws {
        let targets = try repository.chosenPaths()
        var listed: [(repo: Int, info: BackupInfo, generation: Int?)] = []
        var generations = false
        var locations: [Int: String] = [:]
        var failures = 0
        for (number, path) in targets {
            let name = RepositoryLabel.label(number, path)
            do {
                let repo = try repository.open(path: path)
                locations[number] = repo.path
                var (backups, unreadable) = try repo.loadAll()
                if !all { backups = backups.filter { $0.status != .deleted } }
                listed += backups.map { (number, $0, repo.identity.generation(ofSystem: $0.systemIdentifier)) }
                generations = generations || repo.identity.generation > 1
                for (id, error) in unreadable { Console.error("backup \(id)\(targets.count > 1 ? " in " + name : ""): \(describe(error))") }
                failures += unreadable.count
                if !json { notes(backups, in: repo, name: targets.count > 1 ? " in " + name : "") }
            } catch {
                guard targets.count > 1 else { throw error }
                Console.error("\(name): \(describe(error))")
                failures += 1
            }
        }
        if json {
            Console.output("[" + listed.map { BackupJSON.object($0.info, repo: $0.repo, location: locations[$0.repo] ?? "", generation: $0.generation) }.joined(separator: ",\n ") + "]")
        } else {
            let repos = targets.count > 1 ? listed.reversed().map { "repo\($0.repo)" } : nil
            // After upgrade-repository, which cluster (and major version) each backup is of.
            let gens = generations ? listed.reversed().map { $0.generation.map { String($0) } ?? "?" } : nil
            Console.output(BackupTable.render(listed.reversed().map(\.info), detail: detail, repos: repos, generations: gens), terminator: "")
            if targets.count > 1 { Console.output(targets.map { RepositoryLabel.label($0.number, $0.path) }.joined(separator: ", ")) }
        }
        if failures > 0 { throw ExitCode(1) }
    }

    private func notes(_ backups: [BackupInfo], in repo: Repository, name: String) {
        for b in backups where b.isUsable && b.mode == .incremental {
            do { _ = try repo.chain(for: b, among: backups) } catch { Console.output("note: \(describe(error))\(name)") }
        }
        for b in backups where b.pageErrorCount > 0 {
            Console.output("note: backup \(b.id)\(name) found \(b.pageErrorCount) page(s) failing verification in the cluster")
        }
    }
}

/// pg_rman's table layout: a rule, the header, a rule, the rows; columns padded to their widest.
func renderTable(_ rows: [[String]]) -> String {
    let widths = rows[0].indices.map { c in rows.map { $0[c].count }.max() ?? 0 }
    let line = String(repeating: "=", count: widths.reduce(0, +) + 2 * widths.count)
    var out = line + "\n"
    for (i, row) in rows.enumerated() {
        out += " " + row.enumerated().map { c, cell in
            c == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[c] - cell.count)
        }.joined(separator: "  ") + "\n"
        if i == 0 { out += line + "\n" }
    }
    return out
}

enum TimelineTable {
    /// The window over time: a bar per timeline, 64 columns from the oldest archived segment
    /// or backup to now.
    static func bars(_ picture: RecoveryPicture) -> String {
        let width = 64
        let column = HealthRules.formatAge(picture.secondsPerColumn(width: width))
        var out = "\nover time, \(Timestamp(seconds: picture.from)) to \(Timestamp(seconds: picture.to)) (a column is about \(column)):\n"
        for line in picture.bars(width: width) { out += line + "\n" }
        out += "= archived WAL   F/I full/incremental backup (f/i: not OK)   ! missing WAL   [ ] recoverable window   R retention horizon\n"
        return out
    }

    static func render(_ report: TimelineReport) -> String {
        var rows = [["TLI", "Parent", "SwitchLSN", "FirstWAL", "LastWAL", "Segments", "Missing"]]
        for r in report.rows {
            rows.append([String(r.timeline), r.parent.map { String($0) } ?? "-", r.switchLSN?.description ?? "-",
                         r.firstSegment ?? "-", r.lastSegment ?? "-", String(r.segments),
                         r.missing.isEmpty ? "0" : "\(r.missing.count) (first \(r.missing[0]))"])
        }
        var out = renderTable(rows)
        out += "latest timeline: \(report.latest)\n"
        if report.judged != report.latest {
            out += "window and gaps judged along timeline \(report.judged) (the newest backup's; later timelines branched before it: another node's)\n"
        }
        var until = "the end of the archived WAL"
        if case .transactionEnd(let lsn, _, _, let time)? = report.lastTransaction {
            until = "\(formatMicros(time)) (last archived transaction, LSN \(lsn))"
        }
        if let received = report.received {
            let age = max(0, Timestamp.now().seconds - received.writtenAt)
            out += "received: up to \(received.end) in \(received.segment) (receive-wal's partial, written \(age) s ago)\n"
        }
        if let problem = report.receivedProblem { out += "received: \(problem)\n" }
        if let gap = report.firstGap {
            until = "just before WAL segment \(gap), which is missing from the archive (recovery stops there)"
            if report.firstGapDropped { until += "; archive-push dropped it (--archive-push-queue-max)" }
        }
        if let first = report.dropped.first {
            out += "DROPPED: archive-push let PostgreSQL recycle \(report.dropped.count) segment(s) unarchived (first \(first)) because the WAL waiting to be archived was over --archive-push-queue-max: take a full backup\n"
        }
        if let start = report.windowStart {
            out += "recoverable: from \(start) (oldest OK backup) to \(until)\n"
        } else {
            out += "recoverable: nothing (no OK backup)\n"
        }
        return out
    }
}

enum BackupTable {
    /// `repos`: each row's repository ("repo2"), as a first column, when there are several.
    static func render(_ backups: [BackupInfo], detail: Bool, repos: [String]? = nil, generations: [String]? = nil) -> String {
        var header = ["ID", "StartTime", "Mode", "Duration", "Size", "TLI", "Status"]
        if detail { header = ["ID", "StartTime", "EndTime", "Mode", "PG", "Parent", "StartLSN", "StopLSN", "Scanned", "Read", "Written", "Network", "Changes", "TLI", "PageErr", "Status", "Reason"] }
        var rows: [[String]] = [header]
        for b in backups {
            let duration = b.endTime.map { formatDuration($0.seconds - b.startTime.seconds) } ?? "-"
            if detail {
                rows.append([b.id, b.startTime.description, b.endTime?.description ?? "-", modeText(b),
                             String(b.pgVersionNum / 10000), b.parentID ?? "-", b.startLSN?.description ?? "-", b.stopLSN?.description ?? "-",
                             b.scannedDataBytes.map(formatSize) ?? "-", formatSize(b.readDataBytes), formatSize(b.writeBytes),
                             b.networkBytes.map(formatSize) ?? "-", b.changeSource.map { $0 == "scan" && b.changeSourceReason != nil ? "scan!" : $0 } ?? "-", String(b.timeline),
                             String(b.pageErrorCount), statusText(b), [b.statusReason, b.changeSourceReason.map { "changes: " + $0 }]
                                .compactMap { $0 }.joined(separator: "; ")])
            } else {
                rows.append([b.id, b.startTime.description, modeText(b), duration, formatSize(b.writeBytes),
                             String(b.timeline), statusText(b)])
            }
        }
        if let generations {
            rows = zip(["Gen"] + generations, rows).map { [$0.0] + $0.1 }
        }
        if let repos {
            rows = zip(["Repo"] + repos, rows).map { [$0.0] + $0.1 }
        }
        return renderTable(rows)
    }

    static func formatDuration(_ seconds: Int64) -> String {
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return "\(seconds / 60)m\(seconds % 60)s" }
        return "\(seconds / 3600)h\(seconds % 3600 / 60)m"
    }

    /// A differential is an incremental on the newest full, a merged full one `pgbk merge`
    /// made: the table says which.
    static func modeText(_ b: BackupInfo) -> String { b.differential ? "DIFFERENTIAL" : b.mergedFrom != nil ? "FULL (merged)" : b.mode.rawValue }

    static func statusText(_ b: BackupInfo) -> String { b.status.rawValue + (b.pin != nil ? " pinned" : "") }

    static func formatSize(_ bytes: UInt64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB"]
        var value = bytes
        var unit = 0
        while value >= 10 * 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
        return "\(value)\(units[unit])"
    }
}

/// The JSON form of a backup: snake_case keys, LSNs as PostgreSQL prints them, null for unset.
enum BackupJSON {
    static func object(_ b: BackupInfo, repo: Int, location: String, generation: Int? = nil) -> String {
        let fields: [(String, String)] = [
            ("repo", String(repo)),
            ("repository", string(location)),
            ("generation", generation.map { String($0) } ?? "null"),
            ("id", string(b.id)),
            ("mode", string(b.mode.rawValue)),
            ("differential", b.differential ? "true" : "false"),
            ("pinned_until", b.pin.map { string($0.iniValue) } ?? "null"),
            ("merged_from", b.mergedFrom.map(string) ?? "null"),
            ("status", string(b.status.rawValue)),
            ("status_reason", b.statusReason.map(string) ?? "null"),
            ("parent_id", b.parentID.map(string) ?? "null"),
            ("timeline", String(b.timeline)),
            ("start_lsn", b.startLSN.map { string($0.description) } ?? "null"),
            ("stop_lsn", b.stopLSN.map { string($0.description) } ?? "null"),
            ("start_wal_file", b.startWALFile.map(string) ?? "null"),
            ("stop_wal_file", b.stopWALFile.map(string) ?? "null"),
            ("start_time", string(b.startTime.description)),
            ("end_time", b.endTime.map { string($0.description) } ?? "null"),
            ("recovery_time", b.recoveryTime.map(string) ?? "null"),
            ("recovery_xid", b.recoveryXID.map { String($0) } ?? "null"),
            ("total_data_bytes", String(b.totalDataBytes)),
            ("read_data_bytes", String(b.readDataBytes)),
            ("write_bytes", String(b.writeBytes)),
            ("file_count", String(b.fileCount)),
            ("compress", string(b.compression.rawValue)),
            ("bundled", b.bundled ? "true" : "false"),
            ("block_size", String(b.blockSize)),
            ("wal_block_size", String(b.walBlockSize)),
            ("wal_segment_size", String(b.walSegmentSize)),
            ("pg_version_num", String(b.pgVersionNum)),
            ("system_identifier", string(String(b.systemIdentifier))),
            ("data_checksums", b.dataChecksums ? "true" : "false"),
            ("page_errors", String(b.pageErrorCount)),
            ("change_source", b.changeSource.map(string) ?? "null"),
            ("change_source_reason", b.changeSourceReason.map(string) ?? "null"),
            ("scanned_data_bytes", b.scannedDataBytes.map { String($0) } ?? "null"),
            ("method", string(b.method.rawValue)),
            ("network_bytes", b.networkBytes.map { String($0) } ?? "null"),
            ("annotations", "{" + b.annotations.keys.sorted().map { "\(string($0)): \(string(b.annotations[$0]!))" }.joined(separator: ", ") + "}"),
        ]
        return "{" + fields.map { "\(string($0.0)): \($0.1)" }.joined(separator: ", ") + "}"
    }

    static func string(_ text: String) -> String { JSONText.quote(text) }
}
