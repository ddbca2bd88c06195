import Testing
import Foundation
import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// A backup host with several servers (issue 26): each configured in a file of its own,
/// every command taking --server NAME, and `pgbk cron` keeping receive-wal running,
/// validating and expiring, concurrently with itself, one server's failure not stopping
/// the others.
@Suite(.ownThread) struct CronTests {
    @Test func cronKeepsEachServerAndOneFailureStopsNoOther() throws {
        let s = try Scratch()
        let servers = try s.makeDirectory("servers", mode: 0o755)
        let env = ["PGBK_SERVERS_DIR": servers, "PGBK_LOG_PATH": s.path + "/log"]
        let streamed = try TestCluster.create(s, name: "streamed", repository: nil)
        try streamed.appendConfig("archive_mode = off\nmax_wal_senders = 10\n")
        let archived = try TestCluster.create(s, name: "archived", repository: s.path + "/repo-archived")
        try streamed.start()
        defer { streamed.stopIfRunning() }
        try archived.start()
        defer { archived.stopIfRunning() }
        func serverFile(_ name: String, _ cluster: TestCluster, repo: String, extra: String = "") throws {
            try s.writeFile(servers + "/\(name).conf", "BACKUP_PATH=\(repo)\nPGHOST=\(cluster.socketDir)\nPGPORT=\(cluster.port)\nPGUSER=postgres\n" + extra)
        }
        try serverFile("streamed", streamed, repo: s.path + "/repo-streamed", extra: "RECEIVE_WAL=on\nSLOT=pgbk\n")
        try serverFile("archived", archived, repo: s.path + "/repo-archived")
        try serverFile("broken", archived, repo: s.path + "/no-such-repo")
        for name in ["streamed", "archived"] {
            let made = try s.pgbk(["init", "--server", name], env: env)
            // Its hint names the server, and no -B (which --server does not take).
            #expect(made.succeeded && made.stderr.contains("pgbk backup --method protocol --server \(name), and receive WAL with pgbk receive-wal --server \(name)\n"), "\(made)")
        }
        var receiverPID: Int32?
        defer { if let receiverPID { signal(receiverPID, SIGTERM, ifRunning: "receive-wal") } }

        // The first run starts receive-wal; the broken server fails its actions, and only them.
        let first = try s.pgbk(["cron"], env: env)
        receiverPID = first.stderr.firstMatch(of: /receive-wal: started \(pid (\d+)/).flatMap { Int32($0.1) }
        #expect(first.status != 0 && receiverPID != nil, "\(first)")
        #expect(first.stderr.contains("cron: archived: validate: ok") && first.stderr.contains("cron: broken: validate failed")
                && first.stderr.contains("1 of") == false && first.stderr.contains("action(s) failed"), "\(first)")
        try waitUntilStreaming(streamed)
        // The server file's SLOT, made by receive-wal --server and streamed from.
        #expect(try streamed.scalar("SELECT active FROM pg_replication_slots WHERE slot_name = 'pgbk'") == "t")

        for name in ["streamed", "archived"] {
            let backup = try s.pgbk(["backup", "--server", name, "--archive-timeout", "60"], env: env)
            #expect(backup.succeeded && backup.stderr.contains("over the replication protocol"), "\(name): \(backup)")
        }
        try FileSystem.remove(servers + "/broken.conf")
        // A cron killed after its first action (the first server's validate) leaves the
        // other's backup DONE, and the next cron finishes the work.
        let killed = try s.pgbk(["cron"], env: env.merging(["PGBK_FAULT": "cron-after-action"]) { $1 })
        #expect(!killed.succeeded && killed.stderr.contains("cron: archived: validate: ok"), "\(killed)")
        #expect(try Repository.open(s.path + "/repo-streamed").loadAll().backups.map(\.status) == [.done])
        // Two at once: one works, the other finds it working or finds nothing left to do.
        let crons = try (0..<2).map { _ in
            try Command.spawn(s.pgbk, ["cron"], env: env, asPostgres: true, outputDirectory: s.path)
        }
        let results = crons.map { $0.wait() }
        #expect(results.allSatisfy { $0.succeeded }, "\(results)")
        #expect(results.allSatisfy { !$0.stderr.contains("receive-wal: started") }, "\(results)")
        #expect(try streamed.scalar("SELECT count(*) FROM pg_stat_replication WHERE application_name = 'pgbk'") == "1")
        for name in ["streamed", "archived"] {
            let backups = try Repository.open(s.path + "/repo-\(name)").loadAll().backups
            #expect(backups.count == 1 && backups.allSatisfy { $0.status == .ok }, "\(name): \(backups.map(\.status))")
        }

        // A restore on the backup host: its restore_command names the server, and where the
        // server files are, without -B (which --server does not take); the copy recovers.
        let restored = s.path + "/restored"
        let restore = try s.pgbk(["restore", "--server", "streamed", "-D", restored], env: env)
        #expect(restore.succeeded, "\(restore)")
        let settings = try FileSystem.readText(restored + "/postgresql.auto.conf")
        #expect(settings.contains("restore_command = 'PGBK_SERVERS_DIR=''\(servers)'' ") && settings.contains("archive-get ''--server'' ''streamed'' %f %p'"), "\(settings)")
        let copy = try TestCluster.startRestored(restored, scratch: s, name: "restored")
        copy.stopIfRunning()

        // check --all: every server's checks, each named after its server; a server whose
        // file is wrong is one CRITICAL line of its own.
        try serverFile("broken", archived, repo: s.path + "/no-such-repo")
        let checked = try s.pgbk(["check", "--all", "--no-archive-test"], env: env)
        #expect(checked.status == 2 && checked.stdout.contains("archived cluster") && checked.stdout.contains("streamed cluster")
                && checked.stdout.contains("broken repository"), "\(checked)")
        #expect(checked.stdout.split(separator: "\n").filter { $0.hasPrefix("CRITICAL") }.allSatisfy { $0.contains("broken") }, "\(checked)")

        // A server not configured, and a name that is a path: one line, nothing done.
        for name in ["nope", "../servers/archived"] {
            let bad = try s.pgbk(["backup", "--server", name], env: env)
            #expect(failsWithOneError(bad) && bad.stderr.contains(name.hasPrefix(".") ? "letters, digits" : "not configured"), "\(bad)")
        }
    }

    /// WAL bookkeeping: a whole segment a killed receive-wal had not yet stored (killed
    /// between finishing it and storing it) is stored by the next cron, even when the
    /// database server is down and receive-wal cannot start: that is when it is needed.
    @Test func aStoppedReceiversSegmentIsStoredWhileTheServerIsDown() throws {
        let s = try Scratch()
        let servers = try s.makeDirectory("servers", mode: 0o755)
        let env = ["PGBK_SERVERS_DIR": servers, "PGBK_LOG_PATH": s.path + "/log"]
        let repo = s.path + "/repo"
        let cluster = try TestCluster.create(s, name: "db", repository: nil)
        try cluster.appendConfig("archive_mode = off\nmax_wal_senders = 10\n")
        try cluster.start()
        defer { cluster.stopIfRunning() }
        try s.writeFile(servers + "/db.conf", "BACKUP_PATH=\(repo)\nPGHOST=\(cluster.socketDir)\nPGPORT=\(cluster.port)\nPGUSER=postgres\nRECEIVE_WAL=on\nSLOT=pgbk\n")
        try #require(try s.pgbk(["init", "--server", "db"], env: env).succeeded)
        let started = try s.pgbk(["cron"], env: env)
        let pid = try #require(started.stderr.firstMatch(of: /receive-wal: started \(pid (\d+)/).flatMap { Int32($0.1) }, "\(started)")
        try waitUntilStreaming(cluster)
        _ = try cluster.scalar("CREATE TABLE t AS SELECT generate_series(1, 1000) i")
        let segment = try #require(try cluster.scalar("SELECT pg_walfile_name(pg_current_wal_lsn())"))
        _ = try waitUntilFlushed(cluster)
        #expect(signal(pid, SIGKILL, ifRunning: "receive-wal"), "receive-wal \(pid) was not running")
        _ = try cluster.scalar("SELECT pg_switch_wal()")
        _ = try cluster.scalar("CHECKPOINT")
        // The receiver's state had it been killed after closing the segment, before storing it.
        let receiving = repo + "/wal/receiving"
        try? FileSystem.remove(receiving + "/" + segment + ".partial")
        try copyFile(from: cluster.dataDir + "/pg_wal/" + segment, to: receiving + "/" + segment, mode: 0o600)
        try s.chownToPostgres(receiving + "/" + segment)
        try cluster.stop()

        let cron = try s.pgbk(["cron"], env: env)
        #expect(!cron.succeeded && cron.stderr.contains("cron: db: receive-wal failed: receive-wal stopped at once"), "\(cron)")
        #expect(try Repository.open(repo).wal.find(segment) != nil, "\(cron)")
        #expect(!FileSystem.exists(receiving + "/" + segment))
        let log = try FileSystem.readText(s.path + "/log/receive-wal-db.log", limit: 1 << 20)
        #expect(log.contains("stored 1 whole segment(s) a stopped receive-wal left"), "\(log)")
    }
}
