import Testing
@testable import Engine
import PostgresFormat
import Repository

/// `backup --verify-map` (issue 16, item 2): the changed-block map pgbk builds from WAL holds
/// every page the LSN scan finds changed, over a workload of pgbench, DDL, bulk COPY and
/// CREATE DATABASE with both strategies, on each major version; a map that cannot be built
/// completely is reported, never used in part.
@Suite(.ownThread) struct MapVerifyTests {
    @Test(arguments: PostgresInstall.matrix)
    func theMapFromWALHoldsEveryChangedPage(major: Int) throws {
        let pg = try PostgresInstall.of(major)
        let s = try Scratch()
        let repo = s.path + "/repo"
        let cluster = try TestCluster.createInitialized(s, name: "m\(major)", repository: repo, bin: pg.bin)
        defer { cluster.stopIfRunning() }
        // From 17 the server's own WAL summaries are a map source too; --verify-map checks both.
        let summaries = major >= 17
        if summaries {
            try cluster.execute("ALTER SYSTEM SET summarize_wal = on")
            try cluster.execute("SELECT pg_reload_conf()")
        }
        let bench = try cluster.runClient("pgbench", cluster.connectionArgs + ["-i", "-s", "2", "-q", "postgres"])
        try #require(bench.succeeded, "\(bench)")
        let tsDir = try s.makeDirectory("ts\(major)")
        try cluster.execute("CREATE TABLESPACE ts LOCATION '\(tsDir)'")
        try cluster.execute("CREATE TABLE moved AS SELECT g, md5(g::text) AS v FROM generate_series(1, 20000) g")
        try cluster.execute("CREATE TABLE churn (id int PRIMARY KEY, v text)")
        try cluster.execute("INSERT INTO churn SELECT g, md5(g::text) FROM generate_series(1, 20000) g")
        for t in ["clustered", "vacuumed", "relogged", "truncated"] {
            try cluster.execute("CREATE TABLE \(t) (id int PRIMARY KEY, v text)")
            try cluster.execute("INSERT INTO \(t) SELECT g, md5(g::text) FROM generate_series(1, 5000) g")
        }
        _ = try backupAndValidate(s, repo, cluster, "full")

        let load = try cluster.runClient("pgbench", cluster.connectionArgs + ["-n", "-c", "2", "-t", "300", "postgres"])
        #expect(load.succeeded, "\(load)")
        for sql in [
            "UPDATE churn SET v = 'u' WHERE id % 13 = 0", "DELETE FROM churn WHERE id % 17 = 0",
            "ALTER TABLE moved SET TABLESPACE ts", "CREATE TABLE fresh AS SELECT g FROM generate_series(1, 3000) g",
            "TRUNCATE truncated", "ALTER TABLE relogged SET UNLOGGED", "ALTER TABLE relogged SET LOGGED",
            "CLUSTER clustered USING clustered_pkey", "VACUUM FULL vacuumed", "REINDEX TABLE pgbench_branches",
            "COPY churn FROM PROGRAM 'seq 30001 40000 | sed \"s/$/\\tcopied/\"'", "VACUUM churn",
            // Both strategies from 15 on; 14 copies files (its only way).
            major >= 15 ? "CREATE DATABASE viawal TEMPLATE template0 STRATEGY wal_log" : "CREATE DATABASE viawal TEMPLATE template0",
            major >= 15 ? "CREATE DATABASE viacopy TEMPLATE template0 STRATEGY file_copy" : "SELECT 1",
            "DROP TABLE fresh",
        ] { try cluster.execute(sql) }
        let after = try cluster.runClient("pgbench", cluster.connectionArgs + ["-n", "-c", "2", "-t", "200", "postgres"])
        #expect(after.succeeded, "\(after)")

        let r = try s.pgbk(["backup", "-B", repo, "-D", cluster.dataDir, "-b", "incremental", "--verify-map"] + cluster.connectionArgs)
        #expect(r.succeeded, "\(pg): \(r)")
        for source in summaries ? ["summary", "wal"] : ["wal"] {
            let checked = r.stderr.split(separator: "\n").first { $0.contains("every one of the") && $0.hasSuffix("in the \(source) map") }
                .flatMap { $0.split(separator: " ").compactMap { Int($0) }.first } ?? 0
            #expect(checked > 200, "\(pg): the LSN scan's changed pages were checked against the \(source) map (\(checked)): \(r)")
        }
        #expect(try s.pgbk(["validate", "-B", repo]).succeeded, "the next incremental builds on this one")

        // Then incrementals built from the map (the default): they read only what changed,
        // and the chain restores exactly the source's data.
        for round in 0..<2 {
            let more = try cluster.runClient("pgbench", cluster.connectionArgs + ["-n", "-c", "2", "-t", "200", "postgres"])
            #expect(more.succeeded, "\(more)")
            try cluster.execute("UPDATE churn SET v = 'round \(round)' WHERE id % 29 = \(round)")
            let inc = try s.pgbk(["backup", "-B", repo, "-D", cluster.dataDir, "-b", "incremental"] + cluster.connectionArgs)
            #expect(inc.succeeded, "\(pg): \(inc)")
            #expect(try s.pgbk(["validate", "-B", repo]).succeeded)
            let info = try latestBackup(s, repo)
            let scanned = info["scanned_data_bytes"] as? Int ?? .max, total = info["total_data_bytes"] as? Int ?? 0
            #expect(info["change_source"] as? String == (summaries ? "summary" : "wal") && scanned < total / 4, "\(pg): \(info)")
        }
        let detail = try s.pgbk(["show", "-B", repo, "detail"])
        #expect(detail.stdout.contains("Changes") && detail.stdout.contains(summaries ? " summary " : " wal ")
                && detail.stdout.contains("changes: --verify-map"), "\(detail)")
        try cluster.switchWALAndWaitForArchive(repository: repo)
        let expected = try dumpLines(cluster)
        try cluster.stop()
        let target = s.path + "/restored\(major)"
        let restore = try s.pgbk(["restore", "-B", repo, "-D", target, "-T", "\(tsDir)=\(s.path)/ts-restored\(major)"])
        #expect(restore.succeeded, "\(pg): \(restore)")
        let restored = try TestCluster.startRestored(target, scratch: s, name: "r\(major)", bin: pg.bin)
        defer { restored.stopIfRunning() }
        #expect(try dumpLines(restored) == expected, "\(pg): the chain of map-based incrementals restores the source's data exactly")
        if pg.hasAmcheck {
            let amcheck = try restored.runClient("pg_amcheck", restored.connectionArgs + ["--all", "--install-missing"])
            #expect(amcheck.succeeded && amcheck.stdout.isEmpty, "\(pg): \(amcheck)")
        }
        try restored.stop()
        let checksums = try restored.runClient("pg_checksums", ["--check", "-D", target])
        #expect(checksums.succeeded, "\(pg): \(checksums)")
    }


    /// Across a timeline switch the map is read along the new timeline's history (and
    /// verified); with a segment missing from both the archive and pg_wal there is no map, and
    /// the backup reads every page and says why in backup.ini and `show detail`.
    @Test(arguments: PostgresInstall.matrix)
    func aTimelineSwitchIsFollowedAndMissingWALIsReported(major: Int) throws {
        let pg = try PostgresInstall.of(major)
        let s = try Scratch()
        let repo = s.path + "/repo"
        let cluster = try TestCluster.createInitialized(s, name: "f\(major)", repository: repo, bin: pg.bin)
        defer { cluster.stopIfRunning() }
        try cluster.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        try cluster.execute("INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000) g")
        _ = try backupAndValidate(s, repo, cluster, "full")
        try cluster.execute("UPDATE t SET v = 'one' WHERE id % 7 = 0")
        try cluster.switchWALAndWaitForArchive(repository: repo)

        // Archive recovery to the end of WAL, which always ends on a new timeline.
        try cluster.stop()
        try s.writeFile(cluster.dataDir + "/recovery.signal", "")
        try cluster.appendConfig("restore_command = '\(s.pgbk) archive-get -B \(repo) %f %p'\n")
        try cluster.start()
        try cluster.waitForPromotion()
        try #require(try cluster.scalar("SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)") == "00000002")
        // The server archives the new timeline's history after promotion, in its own time;
        // the incremental's parent is found through it.
        try waitUntil("00000002.history to be archived") { try Repository.open(repo).wal.find("00000002.history") != nil }
        try cluster.execute("UPDATE t SET v = 'two' WHERE id % 11 = 0")
        let across = try s.pgbk(["backup", "-B", repo, "-D", cluster.dataDir, "-b", "incremental", "--verify-map"] + cluster.connectionArgs)
        #expect(across.succeeded && across.stderr.contains("is in the wal map"), "\(pg): \(across)")
        #expect(try s.pgbk(["validate", "-B", repo]).succeeded)
        let parent = try latestBackup(s, repo)
        #expect(parent["timeline"] as? Int == 2 && parent["change_source_reason"] as? String == "--verify-map", "\(parent)")

        // A segment after that backup's start goes: archived, checkpointed out of pg_wal, removed.
        try cluster.execute("UPDATE t SET v = 'three' WHERE id % 13 = 0")
        let gone = try #require(try cluster.scalar("SELECT pg_walfile_name(pg_current_wal_lsn())"))
        try cluster.switchWALAndWaitForArchive(repository: repo)
        try cluster.execute("UPDATE t SET v = 'four' WHERE id % 17 = 0")
        try cluster.switchWALAndWaitForArchive(repository: repo)
        for _ in 0..<2 { try cluster.execute("CHECKPOINT") }
        #expect(!FileSystem.exists(cluster.dataDir + "/pg_wal/" + gone), "\(gone) left pg_wal")
        let archived = try #require(try Repository.open(repo).wal.find(gone))
        try FileSystem.remove(archived.path)
        let missing = try s.pgbk(["backup", "-B", repo, "-D", cluster.dataDir, "-b", "incremental", "--verify-map"] + cluster.connectionArgs)
        #expect(missing.succeeded && missing.stderr.contains("reading every page") && !missing.stderr.contains("is in the wal map"), "\(pg): \(missing)")
        let info = try latestBackup(s, repo)
        #expect(info["change_source"] as? String == "scan" && (info["change_source_reason"] as? String ?? "").contains(gone), "\(pg): \(info)")
        let detail = try s.pgbk(["show", "-B", repo, "detail"])
        #expect(detail.stdout.contains("scan!") && detail.stdout.contains(gone), "\(pg): \(detail)")
    }

    @Test func aMapIsNotBuiltFromWALThatIsNotThere() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let cluster = try TestCluster.createInitialized(s, name: "gap", repository: repo)
        defer { cluster.stopIfRunning() }
        try cluster.execute("CREATE TABLE t AS SELECT g FROM generate_series(1, 10000) g")
        let full = try backupAndValidate(s, repo, cluster, "full")
        for _ in 0..<3 {
            try cluster.execute("UPDATE t SET g = g + 1 WHERE g % 10 = 0")
            try cluster.switchWALAndWaitForArchive(repository: repo)
        }
        let current = try #require(try cluster.scalar("SELECT pg_current_wal_lsn()"))
        let end = try #require(LSN(current))
        let repository = try Repository.open(repo)
        let start = try #require(try repository.loadBackup(full).startLSN)
        let empty = try s.makeDirectory("no-pg-wal")
        let catalog = try TimelineCatalog(repository: repository)
        guard case .map(let map) = try WALChangeReader(repository: repository, catalog: catalog, pgWal: empty, pageSize: 8192)
            .read(from: start, to: end, along: 1) else {
            Issue.record("the archived WAL is complete, a map is built")
            return
        }
        #expect(map.blockCount > 0)
        // A segment in the middle goes missing: no map, and the reason names it.
        let segments = try repository.wal.listAll().filter { $0.walName.count == 24 }.sorted { $0.walName < $1.walName }
        let middle = try #require(segments.first { $0.walName > WALSegmentName(timeline: 1, containing: start, segmentSize: 16 << 20).name })
        try FileSystem.remove(middle.path)
        guard case .unavailable(let why) = try WALChangeReader(repository: try Repository.open(repo), catalog: TimelineCatalog(repository: try Repository.open(repo)),
                                                               pgWal: empty, pageSize: 8192).read(from: start, to: end, along: 1) else {
            Issue.record("a map was built without \(middle.walName)")
            return
        }
        #expect(why.contains(middle.walName), "\(why)")
    }
}
