import Testing
import Foundation
import PostgresFormat
import Repository

/// The scenarios that differ between major versions, on a real server of each major this
/// machine has (PostgresInstall.matrix: 15, 16, 18): a tablespace, a full backup and a chain of
/// two incrementals, PITR by restore point (which starts a new timeline that archives into
/// the same repository), xid and time targets proved, a backup on the new timeline built on
/// the old one, retention, and archive-push/get throughout (archive_command and
/// restore_command). Restored clusters are checked with the version's own pg_amcheck (where
/// its contrib has amcheck) and pg_checksums. The version is the test's argument.
@Suite(.ownThread) struct VersionMatrixTests {
    @Test(arguments: PostgresInstall.matrix)
    func backupChainPITRTimelineAndRetention(major: Int) throws {
        let pg = try PostgresInstall.of(major)
        let s = try Scratch()
        let repo = s.path + "/repo"
        let src = try TestCluster.create(s, name: "src\(major)", repository: repo, bin: pg.bin)
        try src.appendConfig("track_commit_timestamp = on\nmax_prepared_transactions = 4\n")
        #expect(try s.pgbk(["init", "-B", repo, "-D", src.dataDir]).succeeded)
        try src.start()
        defer { src.stopIfRunning() }
        #expect(try src.scalar("SHOW server_version_num").map { Int($0)! / 10000 } == major, "\(pg)")
        let tsDir = try s.makeDirectory("ts\(major)")
        try src.execute("CREATE TABLESPACE ts LOCATION '\(tsDir)'")
        try src.execute("CREATE TABLE a (id int PRIMARY KEY, v text) TABLESPACE ts")
        try src.execute("CREATE TABLE b AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g")
        try src.execute("INSERT INTO a SELECT g, md5(g::text) FROM generate_series(1, 20000) g")
        let state = "SELECT (SELECT count(*) || ':' || sum(id) FROM a) || '/' || (SELECT count(*) || ':' || sum(id) FROM b)"
        let backup = ["backup", "-B", repo, "-D", src.dataDir, "--compress", "zstd"] + src.connectionArgs

        // Each backup validated: an incremental builds on the newest OK one.
        func backupAndValidate(_ mode: String) throws {
            let r = try s.pgbk(backup + ["-b", mode])
            #expect(r.succeeded, "\(pg) \(mode): \(r)")
            let v = try s.pgbk(["validate", "-B", repo])
            #expect(v.succeeded, "\(pg): \(v)")
        }
        try backupAndValidate("full")
        try src.execute("UPDATE a SET v = 'one' WHERE id % 50 = 0")
        try backupAndValidate("incremental")
        try src.execute("DELETE FROM b WHERE id % 7 = 0")
        try src.execute("SELECT pg_create_restore_point('matrix')")
        let atRestorePoint = try src.scalar(state)
        try src.execute("INSERT INTO a SELECT g, 'late' FROM generate_series(20001, 21000) g")
        let xid = try #require(try src.scalar("SELECT pg_current_xact_id()::text"))  // commits on its own
        let time = try #require(try src.scalar("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'"))
        // A prepared transaction that drops a table: its COMMIT PREPARED record carries
        // dropped-stats items (12 bytes each until 17, 16 in 18) before the prepared xid.
        try src.execute("CREATE TABLE dropme (x int)")
        let session = try src.connect()
        _ = try session.query("BEGIN")
        _ = try session.query("DROP TABLE dropme")
        _ = try session.query("INSERT INTO b VALUES (-1, 'prepared')")
        let prepared = try #require(try session.query("SELECT pg_current_xact_id()::text").single)
        _ = try session.query("PREPARE TRANSACTION 'matrix'")
        try src.execute("COMMIT PREPARED 'matrix'")
        try src.execute("INSERT INTO b SELECT g, 'last' FROM generate_series(30001, 30500) g")
        try backupAndValidate("incremental")
        let atEnd = try src.scalar(state)
        try src.switchWALAndWaitForArchive(repository: repo)
        let validate = try s.pgbk(["validate", "-B", repo])
        #expect(validate.succeeded, "\(pg): \(validate)")
        for target in [["--recovery-target-xid", xid], ["--recovery-target-time", time], ["--recovery-target-name", "matrix"]] {
            let proof = try s.pgbk(["validate", "-B", repo] + target)
            #expect(proof.succeeded && proof.stdout.contains("is possible"), "\(pg) \(target): \(proof)")
        }
        let preparedProof = try s.pgbk(["validate", "-B", repo, "--recovery-target-xid", prepared])
        #expect(preparedProof.succeeded && preparedProof.stdout.contains("the commit of xid \(prepared)"), "\(pg): \(preparedProof)")

        // The chain to the end of the archive, the tablespace moved elsewhere.
        let chainTarget = s.path + "/chain\(major)"
        let newTs = s.path + "/ts-moved\(major)"
        let restore = try s.pgbk(["restore", "-B", repo, "-D", chainTarget, "-T", "\(tsDir)=\(newTs)"])
        #expect(restore.succeeded && restore.stderr.contains("PostgreSQL \(major)"), "\(pg): \(restore)")
        // PostgreSQL's own verifier on the restored directory (manifest version 2 from 17 on).
        let verified = try Command.run(pg.bin + "/pg_verifybackup", ["-n", chainTarget], asPostgres: true, outputDirectory: s.path)
        #expect(verified.succeeded, "\(pg): pg_verifybackup: \(verified)")
        let chain = try TestCluster.startRestored(chainTarget, scratch: s, name: "chain\(major)", bin: pg.bin)
        #expect(try chain.scalar(state) == atEnd, "\(pg): every committed row is back")
        if pg.hasAmcheck {
            let amcheck = try chain.runClient("pg_amcheck", chain.connectionArgs + ["--all", "--install-missing", "--heapallindexed"])
            #expect(amcheck.succeeded, "\(pg): \(amcheck)")
        }
        try chain.stop()
        let checksums = try chain.runClient("pg_checksums", ["--check", "-D", chainTarget])
        #expect(checksums.succeeded, "\(pg): \(checksums)")

        // PITR to the restore point, promoted: timeline 2, archived into the same repository.
        let pitrTarget = s.path + "/pitr\(major)"
        let pitr = try s.pgbk(["restore", "-B", repo, "-D", pitrTarget, "--recovery-target-name", "matrix",
                               "--recovery-target-action", "promote", "--archive-mode", "preserve", "-T", "\(tsDir)=\(s.path)/ts-pitr\(major)"])
        #expect(pitr.succeeded, "\(pg): \(pitr)")
        let branch = try TestCluster.adopt(pitrTarget, scratch: s, name: "pitr\(major)", bin: pg.bin)
        try branch.start()
        defer { branch.stopIfRunning() }
        try branch.waitForPromotion()
        #expect(try branch.scalar(state) == atRestorePoint, "\(pg): stopped at the restore point")
        #expect(try branch.scalar("SELECT timeline_id::text FROM pg_control_checkpoint()") != "1")
        let history = "0000000" + (try #require(try branch.scalar("SELECT timeline_id::text FROM pg_control_checkpoint()"))) + ".history"
        try waitUntil("\(history) to be archived") { try Repository.open(repo).wal.find(history) != nil }
        try branch.execute("CHECKPOINT")
        try branch.execute("UPDATE b SET v = 'tl2' WHERE id < 100")
        // An incremental on the new timeline, built on the last backup of the old one before
        // the switch point.
        let onBranch = try s.pgbk(["backup", "-B", repo, "-D", pitrTarget, "-b", "incremental"] + branch.connectionArgs)
        #expect(onBranch.succeeded && onBranch.stderr.contains("on top of"), "\(pg): \(onBranch)")
        let timelines = try s.pgbk(["show", "-B", repo, "timeline"])
        #expect(timelines.succeeded && timelines.stdout.contains("latest timeline: 2"), "\(pg): \(timelines)")

        // Retention: a new full backup on timeline 2, then keep one generation.
        let full2 = try s.pgbk(["backup", "-B", repo, "-D", pitrTarget, "-b", "full"] + branch.connectionArgs)
        #expect(full2.succeeded, "\(pg): \(full2)")
        #expect(try s.pgbk(["validate", "-B", repo]).succeeded)
        let expire = try s.pgbk(["expire", "-B", repo, "--keep-data-generations", "1"])
        #expect(expire.succeeded && expire.stdout.contains("expired backup"), "\(pg): \(expire)")
        let left = try Repository.open(repo).loadAll().backups.filter(\.isUsable)
        #expect(left.count == 1 && left[0].mode == .full && left[0].timeline == 2, "\(pg): \(left.map(\.id))")
        let final = try s.pgbk(["validate", "-B", repo, "--recheck"])
        #expect(final.succeeded, "\(pg): \(final)")
    }

    /// A repository serves one major version: WAL or a backup of another is refused.
    @Test func anotherMajorVersionIsRefusedWithAWayForward() throws {
        let s = try Scratch()
        let old = try TestCluster.create(s, name: "v15", repository: nil, bin: try PostgresInstall.of(15).bin)
        let new = try TestCluster.create(s, name: "v18", repository: nil, bin: try PostgresInstall.of(18).bin)
        let repo = s.path + "/repo15"
        #expect(try s.pgbk(["init", "-B", repo, "-D", old.dataDir]).succeeded)
        let backup = try s.pgbk(["backup", "-B", repo, "-D", new.dataDir])
        #expect(backup.status != 0 && oneLine(backup) && backup.stderr.contains("PostgreSQL 18")
                && backup.stderr.contains("pgbk init"), "\(backup)")
        // A PostgreSQL 18 segment: refused for its page magic before anything else.
        try new.start()
        defer { new.stopIfRunning() }
        let name = try #require(try new.scalar("SELECT pg_walfile_name(pg_current_wal_lsn())"))
        try new.execute("SELECT pg_switch_wal()")
        let push = try s.pgbk(["archive-push", "-B", repo, new.dataDir + "/pg_wal/" + name])
        #expect(push.status != 0 && oneLine(push) && push.stderr.contains("PostgreSQL 18 WAL"), "\(push)")
    }
}
