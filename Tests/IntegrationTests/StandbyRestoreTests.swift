import Testing
import Repository

/// `restore --as-standby`: a node rebuilt from the repository joins as a replica, fed by
/// streaming from the primary it is told of and by restore_command (issue 14, item 3).
@Suite(.ownThread) struct StandbyRestoreTests {
    @Test func aRestoredStandbyStreamsFromThePrimaryAndNeverPrintsThePassword() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let primary = try TestCluster.createInitialized(s, name: "primary", repository: repo)
        defer { primary.stopIfRunning() }
        try primary.execute("CREATE TABLE t (n int PRIMARY KEY)")
        let backup = try s.pgbk(["backup", "-B", repo, "-D", primary.dataDir] + primary.connectionArgs)
        #expect(backup.succeeded, "\(backup)")
        #expect(try s.pgbk(["validate", "-B", repo]).succeeded)
        try primary.execute("INSERT INTO t SELECT generate_series(1, 10)")
        try primary.switchWALAndWaitForArchive(repository: repo)

        let target = try s.makeDirectory("standby")
        let secret = "not-a-real-password-4711"
        let conninfo = "host=\(primary.socketDir) port=\(primary.port) user=postgres application_name=rebuilt password=\(secret)"
        let r = try s.pgbk(["restore", "-B", repo, "-D", target, "--as-standby", "--primary-conninfo", conninfo])
        #expect(r.succeeded, "\(r)")
        #expect(!(r.stdout + r.stderr).contains(secret), "the password is never printed")
        #expect(r.stderr.contains("~/.pgpass") && r.stderr.contains("runs as a standby"), "\(r)")
        #expect(FileSystem.exists(target + "/standby.signal") && !FileSystem.exists(target + "/recovery.signal"))
        let autoConf = try FileSystem.readText(target + "/postgresql.auto.conf")
        #expect(autoConf.split(separator: "\n").filter { $0.hasPrefix("primary_conninfo") }.count == 1)
        #expect(!(try FileSystem.readText(repo + "/backup/" + (try Repository.open(repo).backupIDs().last!) + "/backup.ini")).contains(secret))

        let standby = try TestCluster.adopt(target, scratch: s, name: "standby")
        try standby.appendConfig("archive_mode = off\nhot_standby = on\n")
        defer { standby.stopIfRunning() }
        try standby.start()
        #expect(try standby.scalar("SELECT pg_is_in_recovery()::text") == "true")
        try waitUntil("the standby to replay the archived rows") { try standby.scalar("SELECT count(*) FROM t") == "10" }
        // Rows committed now arrive by streaming, not by archive.
        try primary.execute("INSERT INTO t SELECT generate_series(11, 20)")
        try waitUntil("the standby to stream the new rows") { try standby.scalar("SELECT count(*) FROM t") == "20" }
        try waitUntil("the standby to stream") { try standby.scalar("SELECT status FROM pg_stat_wal_receiver") == "streaming" }
        #expect(try primary.scalar("SELECT application_name FROM pg_stat_replication") == "rebuilt")
    }

    @Test func standbyOptionsAreCheckedBeforeAnythingIsWritten() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let cluster = try TestCluster.create(s, name: "c", repository: repo)
        #expect(try s.pgbk(["init", "-B", repo, "-D", cluster.dataDir]).succeeded)
        let target = s.path + "/never"
        let noStandby = try s.pgbk(["restore", "-B", repo, "-D", target, "--primary-conninfo", "host=/tmp"])
        #expect(!noStandby.succeeded && oneLine(noStandby) && noStandby.stderr.contains("--as-standby"), "\(noStandby)")
        let withTarget = try s.pgbk(["restore", "-B", repo, "-D", target, "--as-standby", "--recovery-target-time", "2026-11-30 12:00:00+00"])
        #expect(!withTarget.succeeded && oneLine(withTarget) && withTarget.stderr.contains("--recovery-target"), "\(withTarget)")
        #expect(!FileSystem.exists(target))
    }
}
