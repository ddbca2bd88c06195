import PostgresFormat
import Repository

/// One Prometheus metric family: a gauge with its help text and samples.
public struct MetricFamily: Sendable, Equatable {
    public struct Sample: Sendable, Equatable {
        public let labels: [(String, String)]
        public let value: Double

        public static func == (a: Sample, b: Sample) -> Bool {
            a.value == b.value && a.labels.map { $0.0 + "=" + $0.1 } == b.labels.map { $0.0 + "=" + $0.1 }
        }
    }

    public let name: String
    public let help: String
    public let samples: [Sample]
}

/// What `show --metrics` knows about a repository at one moment, read once.
public struct MetricsInput: Sendable {
    public var repository: String
    public var now: Timestamp
    public var backups: [BackupInfo]
    public var unreadableBackups: Int
    public var archivedWAL: [ArchivedWAL]
    /// The recoverable window: from the oldest OK backup's recovery point (seconds since 1970)
    /// to the last archived transaction's commit.
    public var windowStart: Double?
    public var windowEnd: Double?
    /// Segments missing between the first and last archived of each timeline; and whether
    /// one of them is on the way from the oldest OK backup to the end (the window ends there).
    /// nil when the archive could not be read: then the gauges are left out, never written as
    /// 0, so that an alert on them cannot stay green on what nobody knows.
    public var missingSegments: Int?
    public var gapInWindow: Bool?
    public var drills: [DrillRecord]
    /// Parts of the repository that could not be read (reported, not hidden).
    /// Segments archive-push dropped (--archive-push-queue-max) that the archive lacks.
    public var droppedSegments: Int?
    public var readErrors = 0
    /// When receive-wal last wrote the segment it is receiving (wal/receiving/); nil when it
    /// is not used.
    public var receivedAt: Int64?
    /// Where the whole records in receive-wal's partial end (ReceivedPartials), as a byte position.
    public var receivedLSN: LSN?

    public init(repository: String, now: Timestamp, backups: [BackupInfo], unreadableBackups: Int, archivedWAL: [ArchivedWAL],
                windowStart: Double?, windowEnd: Double?, missingSegments: Int?, gapInWindow: Bool?, drills: [DrillRecord]) {
        self.repository = repository
        self.now = now
        self.backups = backups
        self.unreadableBackups = unreadableBackups
        self.archivedWAL = archivedWAL
        self.windowStart = windowStart
        self.windowEnd = windowEnd
        self.missingSegments = missingSegments
        self.gapInWindow = gapInWindow
        self.drills = drills
    }
}

/// The metrics of `pgbk show --metrics`, in the node_exporter textfile-collector format
/// (docs/monitoring.md lists each). Times are Unix timestamps, as Prometheus prefers (an
/// alert computes `time() - metric`); ages at the moment of writing are given as well for
/// dashboards that read the file directly.
public enum Metrics {
    public static func families(_ input: MetricsInput) -> [MetricFamily] {
        let repo = ("repository", input.repository)
        var out: [MetricFamily] = []
        func gauge(_ name: String, _ help: String, _ samples: [([(String, String)], Double)]) {
            out.append(MetricFamily(name: "pgbk_" + name, help: help,
                                    samples: samples.map { MetricFamily.Sample(labels: [repo] + $0.0, value: $0.1) }))
        }
        let now = Double(input.now.seconds)
        gauge("metrics_timestamp_seconds", "When these metrics were written.", [([], now)])
        gauge("metrics_read_errors", "Parts of the repository that could not be read while writing these metrics.",
              [([], Double(input.readErrors))])
        gauge("backups", "Backups by status.", BackupStatus.allCases.map { status in
            ([("status", status.rawValue)], Double(input.backups.filter { $0.status == status }.count))
        } + [([("status", "UNREADABLE")], Double(input.unreadableBackups))])

        var last: [([(String, String)], BackupInfo)] = []
        for mode in [BackupMode.full, .incremental] {
            if let b = input.backups.last(where: { $0.status == .ok && $0.mode == mode }) { last.append(([("mode", mode.rawValue.lowercased())], b)) }
        }
        func ended(_ b: BackupInfo) -> Double { Double((b.endTime ?? b.startTime).seconds) }
        gauge("backup_last_ok_end_timestamp_seconds", "End time of the newest OK backup, by mode.", last.map { ($0.0, ended($0.1)) })
        gauge("backup_last_ok_age_seconds", "Age of the newest OK backup when the metrics were written, by mode.",
              last.map { ($0.0, now - ended($0.1)) })
        gauge("backup_last_ok_duration_seconds", "How long the newest OK backup took, by mode.",
              last.map { ($0.0, ended($0.1) - Double($0.1.startTime.seconds)) })
        gauge("backup_last_ok_size_bytes", "Bytes the newest OK backup stored in the repository (after compression), by mode.",
              last.map { ($0.0, Double($0.1.writeBytes)) })
        gauge("backup_last_ok_data_bytes", "Bytes of the cluster the newest OK backup covered, by mode.",
              last.map { ($0.0, Double($0.1.totalDataBytes)) })

        let segments = input.archivedWAL.filter { $0.walName.count == 24 && $0.walName.allSatisfy(\.isHexDigit) }
        if let newest = segments.max(by: { $0.walName.suffix(16) == $1.walName.suffix(16) ? $0.walName < $1.walName : $0.walName.suffix(16) < $1.walName.suffix(16) }) {
            gauge("wal_last_archived_info", "The newest archived WAL segment (by position), as a label.", [([("segment", newest.walName)], 1)])
            gauge("wal_last_archived_timestamp_seconds", "When the newest archived WAL segment was stored.", [([], Double(newest.mtime))])
            gauge("wal_last_archived_age_seconds", "Age of the newest archived WAL segment when the metrics were written.",
                  [([], now - Double(newest.mtime))])
        }
        gauge("wal_archived_segments", "Archived WAL segments.", [([], Double(segments.count))])
        if let received = input.receivedAt {
            gauge("receive_wal_last_write_timestamp_seconds", "When pgbk receive-wal last wrote WAL into the repository.", [([], Double(received))])
            gauge("receive_wal_last_write_age_seconds", "Age of receive-wal's last write when the metrics were written (an idle server writes little WAL; alert together with pg_stat_replication).",
                  [([], now - Double(received))])
        }
        if let lsn = input.receivedLSN {
            gauge("receive_wal_received_lsn_bytes", "Where the WAL receive-wal has stored ends, as a byte position (compare with the server's pg_current_wal_lsn() - '0/0').",
                  [([], Double(lsn.value))])
        }
        if let missing = input.missingSegments {
            gauge("wal_missing_segments", "Segments missing between the first and the last archived one of each timeline.",
                  [([], Double(missing))])
        }
        if let dropped = input.droppedSegments {
            gauge("wal_dropped_segments", "Segments archive-push let PostgreSQL recycle unarchived (--archive-push-queue-max): each is a gap.",
                  [([], Double(dropped))])
        }
        if let gap = input.gapInWindow {
            gauge("wal_gap_in_window", "1 when a segment is missing on the way from the oldest OK backup to the end of the archive.",
                  [([], gap ? 1 : 0)])
        }
        if let start = input.windowStart {
            gauge("recovery_window_start_timestamp_seconds", "The earliest moment a restore can reach (the oldest OK backup's end).", [([], start)])
        }
        if let end = input.windowEnd {
            gauge("recovery_window_end_timestamp_seconds", "The latest moment a restore can reach (the last archived transaction).", [([], end)])
        }

        if let drill = input.drills.max(by: { $0.id < $1.id }) {
            gauge("drill_last_success", "1 when the newest drill passed, 0 when it failed.", [([], drill.result == .ok ? 1 : 0)])
            gauge("drill_last_timestamp_seconds", "When the newest drill ended.", [([], Double(drill.endTime.seconds))])
            if let restore = drill.restoreSeconds {
                gauge("drill_last_restore_seconds", "How long the newest drill's restore took.", [([], restore)])
            }
            if let recovery = drill.recoverySeconds {
                gauge("drill_last_recovery_seconds", "How long the newest drill's recovery took.", [([], recovery)])
            }
        }
        if let good = input.drills.filter({ $0.result == .ok }).max(by: { $0.id < $1.id }) {
            gauge("drill_last_ok_timestamp_seconds", "When the newest passed drill ended.", [([], Double(good.endTime.seconds))])
        }
        return out.filter { !$0.samples.isEmpty }
    }

    /// Several repositories' families as one exposition: each family once, with the samples
    /// of every repository (each sample carries its `repository` label).
    public static func merge(_ sets: [[MetricFamily]]) -> [MetricFamily] {
        var order: [String] = []
        var merged: [String: MetricFamily] = [:]
        for family in sets.joined() {
            if let seen = merged[family.name] {
                merged[family.name] = MetricFamily(name: family.name, help: seen.help, samples: seen.samples + family.samples)
            } else {
                order.append(family.name)
                merged[family.name] = family
            }
        }
        return order.compactMap { merged[$0] }
    }

    /// `pgbk_repository_up`: 1 for a repository whose metrics follow, 0 for one that could
    /// not be opened (its other metrics are then absent, never 0).
    public static func up(_ repository: String, _ reachable: Bool) -> MetricFamily {
        MetricFamily(name: "pgbk_repository_up", help: "1 when the repository could be opened and its metrics follow, 0 when it could not.",
                     samples: [MetricFamily.Sample(labels: [("repository", repository)], value: reachable ? 1 : 0)])
    }

    /// `pgbk_server_configured` (show --metrics --all): 1 for a server of the backup host
    /// whose file was read and whose repositories' metrics follow, 0 for one whose was not.
    public static func serverConfigured(_ server: String, _ read: Bool) -> MetricFamily {
        MetricFamily(name: "pgbk_server_configured", help: "1 when the backup host's server file could be read and its repositories' metrics follow, 0 when it could not.",
                     samples: [MetricFamily.Sample(labels: [("server", server)], value: read ? 1 : 0)])
    }

    /// The families with a `server` label first on every sample: one backup host's servers
    /// in one exposition.
    public static func labelled(_ families: [MetricFamily], server: String) -> [MetricFamily] {
        families.map { family in
            MetricFamily(name: family.name, help: family.help,
                         samples: family.samples.map { MetricFamily.Sample(labels: [("server", server)] + $0.labels, value: $0.value) })
        }
    }

    /// The text exposition format, version 0.0.4.
    public static func render(_ families: [MetricFamily]) -> String {
        var out = ""
        for family in families {
            out += "# HELP \(family.name) \(family.help)\n# TYPE \(family.name) gauge\n"
            for sample in family.samples {
                let labels = sample.labels.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ",")
                out += "\(family.name){\(labels)} \(number(sample.value))\n"
            }
        }
        return out
    }

    static func escape(_ value: String) -> String {
        var out = ""
        for c in value {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }

    static func number(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}

extension MetricsInput {
    /// Reads what the metrics need; a part that cannot be read counts in `readErrors`.
    public static func read(_ repository: Repository, now: Timestamp = .now()) throws -> MetricsInput {
        let (backups, unreadable) = try repository.loadAll()
        var errors = 0
        let wal: [ArchivedWAL]
        do { wal = try repository.wal.listAll() } catch { wal = []; errors += 1 }
        var report: TimelineReport?
        do { report = try TimelineReport(repository: repository) } catch { errors += 1 }
        let drills: [DrillRecord]
        do {
            let loaded = try repository.loadDrills()
            drills = loaded.drills
            errors += loaded.unreadable.count
        } catch { drills = []; errors += 1 }
        var input = MetricsInput(repository: repository.path, now: now, backups: backups, unreadableBackups: unreadable.count,
                                 archivedWAL: wal, windowStart: report?.windowStartMicros.map { Double($0) / 1e6 },
                                 windowEnd: report?.windowEndMicros.map { Double($0) / 1e6 }, missingSegments: report?.rows.reduce(0) { $0 + $1.missing.count },
                                 gapInWindow: report.map { $0.firstGap != nil }, drills: drills)
        if report?.receivedProblem != nil { errors += 1 }
        input.readErrors = errors
        input.droppedSegments = report?.dropped.count
        input.receivedAt = receivedAt(repository)
        input.receivedLSN = report?.received?.end
        return input
    }

    /// When receive-wal last wrote (or, on object storage, replaced) the partial it is receiving.
    static func receivedAt(_ repository: Repository) -> Int64? {
        (try? repository.receiving.list())?.map(\.mtime).max()
    }
}
