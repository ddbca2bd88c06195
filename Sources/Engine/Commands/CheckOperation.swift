import PostgresClient
import PostgresFormat
import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

public struct CheckOptions: Sendable {
    public var connection: ConnectionParameters
    /// How long the archiving test waits for its segment (pgBackRest's check waits 60 s too).
    public var archiveTimeoutSeconds = 60
    public var testArchiving = true
    public var backupAgeWarning: Int64 = 26 * 3600
    public var backupAgeCritical: Int64 = 50 * 3600
    public var drillAgeWarning: Int64 = 8 * 86400
    /// receive-wal's application_name, and how far behind the server its flushed position may
    /// be before WARNING (nil: one WAL segment) and CRITICAL.
    public var receiveWALName = "pgbk"
    public var receiveLagWarning: Int64?
    public var receiveLagCritical: Int64 = 1 << 30

    public init(connection: ConnectionParameters) { self.connection = connection }
}

/// `pgbk check`: whether backups and archiving work now, each check one line (HealthRules).
/// Never throws: whatever cannot be checked is itself a result.
public struct CheckOperation {
    let repositoryPath: String
    let openRepository: () throws -> Repository
    let options: CheckOptions

    public init(repositoryPath: String, options: CheckOptions, openRepository: @escaping () throws -> Repository) {
        self.repositoryPath = repositoryPath
        self.options = options
        self.openRepository = openRepository
    }

    public func run() -> [CheckResult] {
        var results: [CheckResult] = []
        let repository: Repository?
        do {
            let repo = try openRepository()
            try repo.checkWriter()
            let probe = ".pgbk-check.\(getpid())"
            try repo.storage.writeAll(probe, Array("pgbk check\n".utf8))
            try repo.storage.remove(probe)
            results.append(CheckResult("repository", .ok, "\(repo.path) is readable and writable"))
            repository = repo
        } catch {
            results.append(CheckResult("repository", .critical, "\(repositoryPath): \(oneLineDescription(error))"))
            repository = nil
        }

        // The server's own timeline: gaps are judged along it, never along another node's
        // branch that archived into the same repository.
        var serverTimeline: TimelineID?
        do {
            let connection = try Connection(options.connection)
            let settings = try connection.serverSettings()
            serverTimeline = TimelineID(try connection.query("SELECT timeline_id::text FROM pg_control_checkpoint()").single ?? "")
            if let repository {
                results.append(HealthRules.identity(systemIdentifier: settings.systemIdentifier, versionNumber: settings.versionNumber,
                                                    repository: repository.identity))
            }
            results.append(HealthRules.walLevel(settings.walLevel))
            let receiveWAL = try settings.archiveMode == "off" && repository.map {
                try BackupChecks.receiveWALIsStreaming(into: $0, connection: connection)
            } == true
            results.append(HealthRules.archiveMode(settings.archiveMode, inRecovery: settings.inRecovery, receiveWAL: receiveWAL))
            if !receiveWAL {
                results.append(HealthRules.archiveCommand(settings.archiveCommand, repository: repository?.path ?? repositoryPath))
            }
            results.append(try archiverStatistics(connection))
            // On the database host, where archive_command --async keeps its spool in pg_wal.
            let walDirectory = settings.dataDirectory + "/pg_wal"
            if let status = WALPushSpool(directory: WALPushSpool.defaultDirectory(forSource: walDirectory + "/x"), walDirectory: walDirectory).status() {
                results.append(HealthRules.asyncArchivePush(status, now: Timestamp.now().seconds))
            }
            if let repository, try !repository.storage.list(ReceivedPartials.directory).isEmpty {
                results.append(try receiverStatus(connection, repository: repository))
            }
            if options.testArchiving, let repository {
                results.append(archiving(connection, settings: settings, repository: repository, receiveWAL: receiveWAL))
            }
        } catch {
            results.append(CheckResult("server", .critical, oneLineDescription(error)))
        }

        if let repository {
            results.append(catalogCheck("backup_age") {
                let ok = try repository.loadAll().backups.filter { $0.status == .ok }
                return HealthRules.backupAge(newestOK: ok.last, now: .now(), warning: options.backupAgeWarning,
                                             critical: options.backupAgeCritical)
            })
            results.append(catalogCheck("wal_gaps") {
                let hasOK = try repository.loadAll().backups.contains { $0.status == .ok }
                let report = try TimelineReport(repository: repository, timeline: serverTimeline)
                return HealthRules.walGaps(firstGap: report.firstGap, dropped: report.firstGapDropped, hasOKBackup: hasOK)
            })
            if let encrypted = repository.storage as? EncryptedStorage {
                results.append(catalogCheck("encryption") { try Self.encryption(encrypted) })
            }
            results.append(catalogCheck("drill") {
                let (drills, unreadable) = try repository.loadDrills()
                if let (name, error) = unreadable.first { throw CatalogError.invalid(name, oneLineDescription(error)) }
                return HealthRules.drillAge(drills, now: .now(), warning: options.drillAgeWarning)
            })
        }
        return results
    }

    /// An encrypted repository's state: which passphrase generation opened it, and a rekey
    /// that is running or was killed (its next generation's file is there).
    static func encryption(_ storage: EncryptedStorage) throws -> CheckResult {
        if try storage.inner.exists(KeyRotation.nextName) {
            return CheckResult("encryption", .warning, "a rekey is running or did not finish (\(KeyRotation.nextName) is there): run pgbk rekey again with the same new passphrase")
        }
        return CheckResult("encryption", .ok, "aes-256-gcm, passphrase generation \(storage.keyring.generation)")
    }

    /// A check of what the repository holds; what cannot be read is itself critical.
    private func catalogCheck(_ name: String, _ body: () throws -> CheckResult) -> CheckResult {
        do { return try body() } catch { return CheckResult(name, .critical, oneLineDescription(error)) }
    }

    private func archiverStatistics(_ connection: Connection) throws -> CheckResult {
        let r = try connection.query("""
            SELECT failed_count::text AS failed, last_failed_wal,
                   to_char(last_failed_time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS failed_at,
                   to_char(last_archived_time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS archived_at
            FROM pg_stat_archiver
            """)
        return HealthRules.archiver(failedCount: Int(r.value(0, "failed") ?? "0") ?? 0, lastFailedWAL: r.value(0, "last_failed_wal"),
                                    lastFailed: r.value(0, "failed_at").flatMap { Timestamp($0) },
                                    lastArchived: r.value(0, "archived_at").flatMap { Timestamp($0) })
    }

    /// receive-wal, where the repository shows it is used (wal/receiving/): its walsender
    /// (application_name pgbk, as receive-wal connects by default, or --receive-wal-name)
    /// and its slot's hold.
    private func receiverStatus(_ connection: Connection, repository: Repository) throws -> CheckResult {
        let name = options.receiveWALName
        let r = try connection.query("""
            SELECT r.state, r.sync_state, pg_wal_lsn_diff(pg_current_wal_lsn(), r.flush_lsn)::bigint::text AS lag,
                   (SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint::text
                      FROM pg_replication_slots s WHERE s.active_pid = r.pid) AS retained
            FROM pg_stat_replication r WHERE r.application_name = $1 ORDER BY r.flush_lsn DESC NULLS LAST LIMIT 1
            """, [name])
        let receiver = r.rows.isEmpty ? nil : HealthRules.Receiver(
            state: r.value(0, "state") ?? "?", syncState: r.value(0, "sync_state") ?? "?",
            lagBytes: Int64(r.value(0, "lag") ?? "") ?? Int64.max, slotRetainedBytes: r.value(0, "retained").flatMap { Int64($0) })
        return HealthRules.receiveWAL(receiver, name: name, warningBytes: options.receiveLagWarning ?? Int64(repository.identity.walSegmentSize),
                                      criticalBytes: options.receiveLagCritical)
    }

    /// End to end, as pgBackRest's check: a restore point makes WAL, the segment holding it is
    /// switched out, and must reach the repository within the timeout.
    private func archiving(_ connection: Connection, settings: ServerSettings, repository: Repository, receiveWAL: Bool) -> CheckResult {
        if settings.inRecovery {
            return CheckResult("archiving", .warning, "this server is a standby, where WAL cannot be switched: run pgbk check against the primary to test archiving")
        }
        if settings.archiveMode == "off" && !receiveWAL {
            return CheckResult("archiving", .critical, "not tested: archive_mode is off")
        }
        let segment: String
        do {
            guard let name = try connection.query("SELECT pg_walfile_name(pg_create_restore_point('pgbk check'))").single else {
                return CheckResult("archiving", .unknown, "the server did not name the current WAL segment")
            }
            segment = name
            _ = try connection.query("SELECT pg_switch_wal()")
        } catch let error as PostgresError where error.sqlState == "42501" {
            // A backup host's role need not be a superuser (docs/user-guide.md): say what it lacks.
            return CheckResult("archiving", .critical, "could not switch WAL to test archiving: \(oneLineDescription(error)); "
                               + "GRANT EXECUTE ON FUNCTION pg_switch_wal(), pg_create_restore_point(text) TO the role, or check with --no-archive-test")
        } catch {
            return CheckResult("archiving", .critical, "could not switch WAL to test archiving: \(oneLineDescription(error))")
        }
        let started = monotonicSeconds()
        let arrived: Bool
        do {
            arrived = try poll(forSeconds: Double(options.archiveTimeoutSeconds), firstDelay: 20_000, longestDelay: 500_000) {
                try repository.wal.find(segment) != nil
            }
        } catch {
            return CheckResult("archiving", .critical, "reading the archive: \(oneLineDescription(error))")
        }
        guard arrived else {
            return CheckResult("archiving", .critical, "WAL segment \(segment) did not reach the repository within \(options.archiveTimeoutSeconds) s (--archive-timeout): archive_command fails or is too slow (see the server log and pg_stat_archiver)")
        }
        let took = monotonicSeconds() - started
        return CheckResult("archiving", .ok, "WAL segment \(segment) reached the repository \(took < 1 ? "within a second" : "in \(Int(took)) s") of the switch")
    }
}
