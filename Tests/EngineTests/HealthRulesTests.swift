import Testing
import Repository
@testable import Engine

/// `pgbk check`'s rules on synthetic observations (unit).
@Suite struct HealthRulesTests {
    @Test(arguments: [
        ("/usr/bin/pgbk archive-push -B /var/backups/pgbk %p", CheckResult.Status.ok),
        ("'/opt/pgbk/bin/pgbk' archive-push --backup-path=/var/backups/pgbk/ %p", .ok),
        ("pgbk archive-push --config /etc/pgbk.conf -B /var/backups/pgbk %p && pgbackrest archive-push %p", .ok),
        ("pgbk archive-push %p", .warning),
        ("pgbk archive-push -B /var/backups/other %p", .critical),
        ("pgbk archive-get -B /var/backups/pgbk %f %p", .critical),
        ("cp %p /mnt/archive/%f", .critical),
        ("", .critical),
    ])
    func archiveCommandMustPushIntoThisRepository(_ command: String, _ expected: CheckResult.Status) {
        let result = HealthRules.archiveCommand(command, repository: "/var/backups/pgbk")
        #expect(result.status == expected, "\(command): \(result.message)")
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

    @Test func wrongClusterOrVersionIsCritical() {
        let identity = RepositoryIdentity(systemIdentifier: 42, pgMajorVersion: "15", controlVersion: 1300, catalogVersion: 1,
                                          blockSize: 8192, walSegmentSize: 16 << 20, created: Timestamp(seconds: 0))
        #expect(HealthRules.identity(systemIdentifier: "42", versionNumber: 150_018, repository: identity).status == .ok)
        #expect(HealthRules.identity(systemIdentifier: "43", versionNumber: 150_018, repository: identity).status == .critical)
        #expect(HealthRules.identity(systemIdentifier: "42", versionNumber: 160_002, repository: identity).status == .critical)
    }
}
