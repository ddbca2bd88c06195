import Testing
import Foundation
import Repository

/// `pgbk drill` on real servers: a drill that passes (to the end of the archive and to a
/// restore point) and one that fails on a damaged WAL segment, each recorded and reported by
/// show and check; the scratch cluster is gone either way (issue 15, item 3).
@Suite struct DrillTests {
    func drills(_ s: Scratch, _ repo: String) throws -> [[String: Any]] {
        let shown = try s.pgbk(["show", "-B", repo, "drills", "--json"])
        guard shown.succeeded else { throw CommandError(result: shown) }
        return try #require(try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [[String: Any]])
    }

    @Test func aDrillRestoresChecksAndRecordsAndAFailedOneIsReported() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let cluster = try TestCluster.createInitialized(s, name: "db", repository: repo)
        defer { cluster.stopIfRunning() }
        try cluster.execute("CREATE TABLE t (n int PRIMARY KEY, v text)")
        try cluster.execute("INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 1000) g")
        _ = try backupAndValidate(s, repo, cluster, "full")
        try cluster.execute("SELECT pg_create_restore_point('thousand')")
        try cluster.execute("INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1001, 1500) g")
        try cluster.switchWALAndWaitForArchive(repository: repo)
        let scratchParent = try s.makeDirectory("drills")
        let drill = ["drill", "-B", repo, "--scratch-dir", scratchParent, "-U", "postgres"]

        // To the end of the archive, with an SQL check of the rows committed after the backup.
        let passed = try s.pgbk(drill + ["--sql-check", "SELECT count(*) = 1500 FROM t"])
        #expect(passed.succeeded && passed.stderr.contains(": OK: backup "), "\(passed)")
        #expect(try FileSystem.list(scratchParent).isEmpty, "the scratch cluster is removed")
        var records = try drills(s, repo)
        #expect(records.count == 1, "\(records)")
        let first = records[0]
        #expect(first["result"] as? String == "OK" && first["amcheck"] as? String == "passed" && first["sql_result"] as? String == "t", "\(first)")
        #expect((first["restore_seconds"] as? Double ?? -1) >= 0 && (first["recovery_seconds"] as? Double ?? -1) >= 0 && first["recovered_lsn"] is String,
                "\(first)")

        // To a restore point: 1000 rows there, not 1500; a false check fails the drill.
        let point = try s.pgbk(drill + ["--recovery-target-name", "thousand", "--sql-check", "SELECT count(*) = 1000 FROM t", "--no-amcheck"])
        #expect(point.succeeded, "\(point)")
        let wrong = try s.pgbk(drill + ["--sql-check", "SELECT count(*) = 999 FROM t", "--no-amcheck"])
        #expect(failsWithOneError(wrong) && wrong.stderr.contains("SQL check: its first value is f"), "\(wrong)")

        // A damaged WAL segment the restore needs: the drill fails, says why, and is recorded.
        let segments = try Repository.open(repo).wal.listAll().filter { !$0.walName.contains(".") }
        let last = try #require(segments.max { $0.walName < $1.walName })
        try flipByte(last.path, at: 100_000)
        let failed = try s.pgbk(drill)
        #expect(failsWithOneError(failed) && failed.stderr.contains("failed: restore: ") && failed.stderr.contains(last.walName), "\(failed)")
        #expect(try FileSystem.list(scratchParent).isEmpty)
        records = try drills(s, repo)
        #expect(records.map { $0["result"] as? String } == ["OK", "OK", "FAILED", "FAILED"], "\(records)")
        #expect((records.last?["reason"] as? String)?.contains(last.walName) == true, "\(records)")
        let table = try s.pgbk(["show", "-B", repo, "drills"])
        #expect(table.succeeded && table.stdout.contains("FAILED") && table.stdout.contains("passed"), "\(table)")

        // check reports the failed drill (the archive is damaged too).
        let check = try s.pgbk(["check", "-B", repo, "--no-archive-test"] + cluster.connectionArgs)
        #expect(check.status == 2 && check.stdout.contains("CRITICAL drill"), "\(check)")
    }

    @Test func aDrillRefusesToRunAsRoot() throws {
        guard Command.isRoot else { return }
        let s = try Scratch()
        let r = try s.pgbk(["drill", "-B", s.path + "/nowhere"], asCurrentUser: true)
        #expect(!r.succeeded && oneLine(r) && r.stderr.contains("root"), "\(r)")
    }
}
