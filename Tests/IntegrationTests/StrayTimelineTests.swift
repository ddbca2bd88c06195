import Testing
import Foundation
import Repository

/// Issue 22, defect 15: a PITR copy started with production's settings archived its new
/// timeline into production's repository. Restores then followed the copy's timeline from the
/// oldest backup, and check and the metrics judged the copy's branch while production's own
/// timeline had a gap. Now a restored copy does not archive unless told to; check judges the
/// server's own timeline, the metrics production's (the newest backup's); and a restore that
/// follows another branch says what it passes over.
@Suite(.ownThread) struct StrayTimelineTests {
    @Test func aCopyThatArchivesIntoProductionsRepositoryMisleadsNothing() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let production = try createJournalCluster(s, repo: repo)
        defer { production.stopIfRunning() }
        let journal = Journal(cluster: production)
        _ = try backupAndValidate(s, repo, production, "full")
        try journal.write(1...10)
        try production.execute("SELECT pg_create_restore_point('before-newer-backups')")
        try journal.write(11...20)
        try production.switchWALAndWaitForArchive(repository: repo)
        _ = try backupAndValidate(s, repo, production, "full")
        let newest = try backupAndValidate(s, repo, production, "incremental")

        // By default the restored copy does not archive, and says so.
        let quiet = try s.makeDirectory("quiet")
        let q = try s.pgbk(["restore", "-B", repo, "-D", quiet, "--recovery-target-name", "before-newer-backups"])
        #expect(q.succeeded && q.stderr.contains("archive_mode = off is set"), "\(q)")
        #expect(try FileSystem.readText(quiet + "/postgresql.auto.conf").contains("archive_mode = 'off'"))

        // The old behaviour, asked for: the copy keeps production's archive_command, is
        // promoted on timeline 2 and archives into production's repository.
        let copyDir = try s.makeDirectory("copy")
        let r = try s.pgbk(["restore", "-B", repo, "-D", copyDir, "--recovery-target-name", "before-newer-backups",
                            "--recovery-target-action", "promote", "--archive-mode", "preserve"])
        #expect(r.succeeded && !r.stderr.contains("archive_mode = off"), "\(r)")
        let copy = try TestCluster.adopt(copyDir, scratch: s, name: "copy")
        defer { copy.stopIfRunning() }
        try copy.start()
        try copy.waitForPromotion()
        try copy.execute("INSERT INTO journal VALUES (1000)")
        try copy.switchWALAndWaitForArchive(repository: repo)
        try copy.stop()
        #expect(try Repository.open(repo).wal.find("00000002.history") != nil, "the copy archived its timeline")

        // Production goes on, and loses one segment in the middle of its own timeline.
        try journal.write(21...25)
        let lost = try #require(try production.scalar("SELECT pg_walfile_name(pg_current_wal_lsn())"))
        try production.switchWALAndWaitForArchive(repository: repo)
        try journal.write(26...30)
        try production.switchWALAndWaitForArchive(repository: repo)
        let archived = try #require(try Repository.open(repo).wal.find(lost))
        try FileSystem.remove(archived.path)

        let check = try s.pgbk(["check", "-B", repo, "--no-archive-test"] + production.connectionArgs)
        #expect(check.status == 2 && check.stdout.contains("CRITICAL wal_gaps") && check.stdout.contains(lost), "\(check)")
        let metrics = try s.pgbk(["show", "-B", repo, "--metrics"])
        #expect(metrics.stdout.contains("pgbk_wal_gap_in_window{repository=\"\(repo)\"} 1"), "\(metrics)")

        // A default restore follows the latest timeline (the copy's) and says what it passes over.
        let followed = try s.makeDirectory("followed")
        let d = try s.pgbk(["restore", "-B", repo, "-D", followed])
        #expect(d.stderr.contains("on timeline 2 is possible") && d.stderr.contains("recovery along timeline 2 passes over"), "\(d)")
        #expect(d.stderr.contains("passes over") && d.stderr.contains("2 newer backup(s) on timeline(s) 1 (newest \(newest))") && d.stderr.contains("--recovery-target-timeline 1"), "\(d)")
    }
}
