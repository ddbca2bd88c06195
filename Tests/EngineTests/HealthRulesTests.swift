import Testing
import Repository
@testable import Engine

/// `pgbk check`'s rules on synthetic observations (unit).
@Suite struct HealthRulesTests {
    @Test(arguments: [
        ("/usr/bin/pgbk archive-push -B /var/backups/pgbk %p", CheckResult.Status.ok),
        ("'/opt/pgbk/bin/pgbk' archive-push --backup-path=/var/backups/pgbk/ %p", .ok),
        ("pgbk archive-push --config /etc/pgbk.conf -B /var/backups/pgbk %p && pgbackrest archive-push %p", .ok),
        ("pgbk archive-push -B/var/backups/pgbk %p", .ok),
        ("pgbk archive-push '-B/var/backups/pgbk/' %p", .ok),
        ("pgbk archive-push -B/var/backups/other %p", .critical),
        ("pgbk archive-push %p", .warning),
        ("pgbk archive-push -B /var/backups/other %p", .critical),
        // Several repositories (issue 24): this one among them is enough.
        ("pgbk archive-push -B /var/backups/pgbk -B s3://bucket/db1 %p", .ok),
        ("pgbk archive-push -B s3://bucket/db1 -B /var/backups/pgbk/ %p", .ok),
        ("pgbk archive-push -B s3://bucket/db1 -B /var/backups/other %p", .critical),
        ("pgbk archive-get -B /var/backups/pgbk %f %p", .critical),
        ("cp %p /mnt/archive/%f", .critical),
        ("", .critical),
    ])
    func archiveCommandMustPushIntoThisRepository(_ command: String, _ expected: CheckResult.Status) {
        let result = HealthRules.archiveCommand(command, repository: "/var/backups/pgbk")
        #expect(result.status == expected, "\(command): \(result.message)")
    }

    /// Issue 22, defect 9: URLs of any scheme, with or without a trailing slash.
    /// archive_mode = off is critical unless receive-wal streams into the repository.
    @Test func archiveModeOffIsFineOnlyWithReceiveWAL() {
        #expect(HealthRules.archiveMode("off", inRecovery: false).status == .critical)
        let streamed = HealthRules.archiveMode("off", inRecovery: false, receiveWAL: true)
        #expect(streamed.status == .ok && streamed.message.contains("receive-wal"))
        #expect(HealthRules.archiveMode("on", inRecovery: false, receiveWAL: true).status == .ok)
    }

    @Test func receiveWALIsJudgedByItsStateAndLag() {
        let segment: Int64 = 16 << 20
        #expect(HealthRules.receiveWAL(nil, name: "pgbk", warningBytes: segment).status == .critical)
        func receiver(_ state: String, lag: Int64) -> HealthRules.Receiver {
            HealthRules.Receiver(state: state, syncState: "sync", lagBytes: lag, slotRetainedBytes: 8192)
        }
        let ok = HealthRules.receiveWAL(receiver("streaming", lag: 0), name: "pgbk", warningBytes: segment)
        #expect(ok.status == .ok && ok.message.contains("streaming (sync)") && ok.message.contains("its slot keeps"))
        #expect(HealthRules.receiveWAL(receiver("streaming", lag: segment + 1), name: "pgbk", warningBytes: segment).status == .warning)
        #expect(HealthRules.receiveWAL(receiver("streaming", lag: 2 << 30), name: "pgbk", warningBytes: segment).status == .critical)
        #expect(HealthRules.receiveWAL(receiver("catchup", lag: 0), name: "pgbk", warningBytes: segment).status == .critical)
        // Levels as given (check --receive-lag-warning/--receive-lag-critical).
        #expect(HealthRules.receiveWAL(receiver("streaming", lag: 1000), name: "pgbk", warningBytes: 999, criticalBytes: 5000).status == .warning)
        #expect(HealthRules.receiveWAL(receiver("streaming", lag: 5001), name: "pgbk", warningBytes: 999, criticalBytes: 5000).status == .critical)
        #expect(HealthRules.receiveWAL(receiver("streaming", lag: 999), name: "pgbk", warningBytes: 999, criticalBytes: 5000).status == .ok)
    }

    @Test func objectStoreURLsAreComparedAsURLs() {
        #expect(HealthRules.samePlace("s3://bucket/prod/", "s3://bucket/prod"))
        #expect(HealthRules.samePlace("gs://bucket/prod//", "gs://bucket/prod"))
        #expect(!HealthRules.samePlace("s3://bucket/prod", "s3://bucket/prod2"))
        #expect(HealthRules.archiveCommand("pgbk archive-push -Bs3://bucket/prod %p", repository: "s3://bucket/prod/").status == .ok)
    }

    @Test func aFailureAfterTheLastSuccessIsCritical() {
        let t = { (s: Int64) in Timestamp(seconds: 1_800_000_000 + s) }
        #expect(HealthRules.archiver(failedCount: 0, lastFailedWAL: nil, lastFailed: nil, lastArchived: t(0)).status == .ok)
        #expect(HealthRules.archiver(failedCount: 3, lastFailedWAL: "X", lastFailed: t(0), lastArchived: t(10)).status == .ok)
        let failing = HealthRules.archiver(failedCount: 3, lastFailedWAL: "000000010000000000000007", lastFailed: t(10), lastArchived: t(0))
        #expect(failing.status == .critical && failing.message.contains("000000010000000000000007"))
        #expect(HealthRules.archiver(failedCount: 1, lastFailedWAL: "X", lastFailed: t(10), lastArchived: nil).status == .critical)
    }

    @Test func theNewestOKBackupsAgeAgainstBothThresholds() {
        let now = Timestamp(seconds: 2_000_000_000)
        var backup = BackupInfo(id: "20330518-000000F", mode: .full, status: .ok, startTime: Timestamp(seconds: now.seconds - 7200))
        backup.endTime = Timestamp(seconds: now.seconds - 3600)
        #expect(HealthRules.backupAge(newestOK: backup, now: now, warning: 7200, critical: 10800).status == .ok)
        #expect(HealthRules.backupAge(newestOK: backup, now: now, warning: 1800, critical: 10800).status == .warning)
        let critical = HealthRules.backupAge(newestOK: backup, now: now, warning: 600, critical: 1800)
        #expect(critical.status == .critical && critical.message.contains("1h"), "\(critical.message)")
        #expect(HealthRules.backupAge(newestOK: nil, now: now, warning: 1, critical: 2).status == .critical)
    }

    @Test func theWorstStateWinsAndUnknownHidesNoWarning() {
        #expect(CheckResult.Status.worst([.ok, .ok]) == .ok)
        #expect(CheckResult.Status.worst([.ok, .unknown, .warning]) == .warning)
        #expect(CheckResult.Status.worst([.critical, .unknown, .warning]) == .critical)
        #expect(CheckResult.Status.worst([.ok, .unknown]) == .unknown)
        #expect(CheckResult.Status.worst([]) == .ok)
    }

    @Test func durationsAndAges() {
        #expect(HealthRules.parseDuration("26h") == 93600)
        #expect(HealthRules.parseDuration("2d") == 172_800)
        #expect(HealthRules.parseDuration("90m") == 5400)
        #expect(HealthRules.parseDuration("45") == 45)
        for bad in ["", "h", "-1h", "1w", "9999999999999999999d"] { #expect(HealthRules.parseDuration(bad) == nil, "\(bad)") }
        #expect(HealthRules.formatAge(93_600 + 120) == "1d2h")
        #expect(HealthRules.formatAge(3_660) == "1h1m")
        #expect(HealthRules.formatAge(59) == "59s")
    }

    /// wal_gaps says what it checked: presence, not content (issue 23, item 2).
    @Test func walGapsSaysItChecksPresenceOnly() {
        #expect(HealthRules.walGaps(firstGap: nil, hasOKBackup: true).message.contains("pgbk validate reads them back"))
        #expect(HealthRules.walGaps(firstGap: "000000010000000000000007", hasOKBackup: true).status == .critical)
    }

    @Test func wrongClusterOrVersionIsCritical() {
        let identity = RepositoryIdentity(systemIdentifier: 42, pgMajorVersion: "15", controlVersion: 1300, catalogVersion: 1,
                                          blockSize: 8192, walSegmentSize: 16 << 20, created: Timestamp(seconds: 0))
        #expect(HealthRules.identity(systemIdentifier: "42", versionNumber: 150_018, repository: identity).status == .ok)
        #expect(HealthRules.identity(systemIdentifier: "43", versionNumber: 150_018, repository: identity).status == .critical)
        #expect(HealthRules.identity(systemIdentifier: "42", versionNumber: 160_002, repository: identity).status == .critical)
    }

    @Test func theNewestDrillDecides() {
        let now = Timestamp(seconds: 2_000_000_000)
        func drill(_ id: String, _ result: DrillRecord.Result, endedAgo: Int64) -> DrillRecord {
            var d = DrillRecord(id: id, result: result, startTime: Timestamp(seconds: now.seconds - endedAgo - 60),
                                endTime: Timestamp(seconds: now.seconds - endedAgo), target: "the end of the archived WAL")
            d.reason = result == .failed ? "restore: WAL segment X is damaged" : nil
            return d
        }
        #expect(HealthRules.drillAge([], now: now, warning: 86400).status == .warning)
        let old = drill("20330517-000000D", .ok, endedAgo: 3 * 86400)
        let recent = drill("20330518-000000D", .ok, endedAgo: 3600)
        let failed = drill("20330518-010000D", .failed, endedAgo: 60)
        #expect(HealthRules.drillAge([old, recent], now: now, warning: 86400).status == .ok)
        #expect(HealthRules.drillAge([old], now: now, warning: 86400).status == .warning)
        let critical = HealthRules.drillAge([recent, failed, old], now: now, warning: 86400)
        #expect(critical.status == .critical && critical.message.contains("damaged"), "\(critical.message)")
    }

    @Test func aDrillRecordRoundTripsAndIsSealed() throws {
        var d = DrillRecord(id: "20330518-000000D", result: .ok, startTime: Timestamp(seconds: 1), endTime: Timestamp(seconds: 99),
                            target: "restore point \"before=drop\"")
        d.backupID = "20330517-000000F"
        d.restoreSeconds = 12.34
        d.recoveredLSN = "0/3000060"
        d.sqlCheck = "SELECT count(*) > 0 FROM t\nWHERE x = 'a'"
        let text = d.text()
        var read = try DrillRecord(text: text, path: "drill.ini")
        #expect(read.restoreSeconds == 12.3)
        read.restoreSeconds = 12.34
        #expect(read == d)
        #expect(throws: (any Error).self) { try DrillRecord(text: String(text.split(separator: "\n", omittingEmptySubsequences: false).map { $0 == "RESULT=OK" ? "RESULT=KO" : $0 }.joined(separator: "\n")), path: "x") }
        #expect(!DrillRecord.isDrillID("20330518-000000F") && !DrillRecord.isDrillID("../../etc/D"))
    }
}
