import Testing
import Foundation
import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `pgbk drill` on real servers: a drill that passes (to the end of the archive and to a
/// restore point) and one that fails on a damaged WAL segment, each recorded and reported by
/// show and check; the scratch cluster is gone either way (issue 15, item 3).
@Suite(.ownThread) struct DrillTests {
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
        // A tablespace in use by the cluster: the drill maps it under its scratch directory
        // (it failed on the location in use before, and wrote into an empty one and left it).
        let tsDir = try s.makeDirectory("ts")
        try cluster.execute("CREATE TABLESPACE ts LOCATION '\(tsDir)'")
        try cluster.execute("CREATE TABLE in_ts TABLESPACE ts AS SELECT generate_series(1, 100) AS n")
        let tsContents = try FileSystem.list(tsDir)
        _ = try backupAndValidate(s, repo, cluster, "full")
        try cluster.execute("SELECT pg_create_restore_point('thousand')")
        try cluster.execute("INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1001, 1500) g")
        try cluster.switchWALAndWaitForArchive(repository: repo)
        let scratchParent = try s.makeDirectory("drills")
        let drill = ["drill", "-B", repo, "--scratch-dir", scratchParent, "-U", "postgres"]

        // To the end of the archive, with an SQL check of the rows committed after the backup.
        let passed = try s.pgbk(drill + ["--sql-check", "SELECT count(*) = 1500 AND (SELECT count(*) FROM in_ts) = 100 FROM t"])
        #expect(passed.succeeded && passed.stderr.contains(": OK: backup ") && passed.stderr.contains("/tablespaces/"), "\(passed)")
        #expect(try FileSystem.list(scratchParent).isEmpty, "the scratch cluster is removed")
        #expect(try FileSystem.list(tsDir) == tsContents, "nothing written into the tablespace's own location")
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

    /// Issue 22, defects 5, 6 and 20: whatever ends a drill (a role that does not exist, a
    /// check that hangs, SIGTERM, kill -9), no PostgreSQL is left running and no copy left on
    /// disk, and a record says what happened; run from a directory postgres cannot enter, a
    /// good drill passes. Before, the first left its server running on a deleted directory,
    /// the second hung, the third and fourth left server and copy behind with no record, and
    /// pg_amcheck's "could not change directory" made the good drill FAILED.
    @Test func aDrillCleansUpWhateverEndsIt() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let cluster = try TestCluster.createInitialized(s, name: "db", repository: repo)
        defer { cluster.stopIfRunning() }
        try cluster.execute("CREATE TABLE t AS SELECT g AS n FROM generate_series(1, 1000) g")
        _ = try backupAndValidate(s, repo, cluster, "full")
        let scratchParent = try s.makeDirectory("drills")
        let drill = ["drill", "-B", repo, "--scratch-dir", scratchParent]

        // From a directory only root may enter: children run in the drill's own.
        let closed = try s.makeDirectory("closed")
        chmod(closed, 0o700)
        if Command.isRoot { chown(closed, 0, 0) }
        let fromClosed = try s.pgbk(drill + ["-U", "postgres"], directory: closed)
        #expect(fromClosed.succeeded && fromClosed.stderr.contains("pg_amcheck: passed"), "\(fromClosed)")

        // A role that does not exist fails after the server is up: it is stopped anyway.
        let wrongUser = try s.pgbk(drill + ["-U", "nosuchrole"])
        #expect(failsWithOneError(wrongUser) && wrongUser.stderr.contains("nosuchrole"), "\(wrongUser)")
        #expect(try FileSystem.list(scratchParent).isEmpty, "the scratch copy is removed")
        #expect(try postmastersUnder(scratchParent).isEmpty, "no server is left running")

        // A check that hangs is cut off by --sql-check-timeout.
        let hung = try s.pgbk(drill + ["-U", "postgres", "--no-amcheck", "--sql-check", "SELECT pg_sleep(60) IS NOT NULL",
                                      "--sql-check-timeout", "1"])
        #expect(failsWithOneError(hung) && hung.stderr.contains("statement timeout"), "\(hung)")

        // SIGTERM while the check runs: server stopped, copy removed, drill recorded.
        let long = drill + ["-U", "postgres", "--no-amcheck", "--sql-check", "SELECT pg_sleep(60) IS NOT NULL"]
        let terminated = try s.spawnPgbkDirect(long)
        let postmaster = try waitForRecoveredDrill(terminated, scratchParent)
        kill(terminated.pid, SIGTERM)
        let ended = terminated.wait()
        #expect(ended.status == 128 + SIGTERM, "\(ended)")
        #expect(!ScratchServerProbe.isRunning(postmaster), "the drill's server is stopped")
        #expect(try FileSystem.list(scratchParent).isEmpty, "the scratch copy is removed")
        #expect((try drills(s, repo).last?["reason"] as? String)?.contains("interrupted by signal 15") == true)

        // kill -9 runs no handler: the next drill stops what was left and records it.
        let killed = try s.spawnPgbkDirect(long)
        let orphan = try waitForRecoveredDrill(killed, scratchParent)
        kill(killed.pid, SIGKILL)
        _ = killed.wait()
        #expect(ScratchServerProbe.isRunning(orphan), "a killed drill leaves its server (what the next one cleans up)")
        let next = try s.pgbk(drill + ["-U", "postgres", "--no-amcheck"])
        #expect(next.succeeded && next.stderr.contains("left by drill"), "\(next)")
        #expect(try !ScratchServerProbe.isRunning(orphan) && FileSystem.list(scratchParent).isEmpty)
        let reasons = try drills(s, repo).compactMap { $0["reason"] as? String }
        #expect(reasons.contains { $0.contains("ended without cleaning up") }, "\(reasons)")
    }

    /// Issue 23, item 6: a drill waits for the repository lock like the other commands
    /// (--lock-timeout, LOCK_TIMEOUT), and one that could not run is no failed drill.
    @Test func aDrillWaitsForTheLockAndOneThatCannotRunIsNoFailedDrill() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let cluster = try TestCluster.createInitialized(s, name: "db", repository: repo)
        defer { cluster.stopIfRunning() }
        _ = try backupAndValidate(s, repo, cluster, "full")
        let scratchParent = try s.makeDirectory("drills")
        let drill = ["drill", "-B", repo, "--scratch-dir", scratchParent, "-U", "postgres", "--no-amcheck"]
        let backup = try s.spawnPgbkStopped(["backup", "-B", repo, "-D", cluster.dataDir] + cluster.connectionArgs, at: "backup-before-done")
        let busy = try s.pgbk(drill)
        #expect(failsWithOneError(busy) && busy.stderr.contains("locked by another pgbk"), "\(busy)")
        #expect(try drills(s, repo).isEmpty, "a drill that could not run is not recorded as failed")
        #expect(try FileSystem.list(scratchParent).isEmpty)
        let waiting = try s.spawnPgbkDirect(drill + ["--lock-timeout", "120"])
        backup.resume()
        #expect(backup.wait().succeeded)
        let waited = waiting.wait()
        #expect(waited.succeeded && waited.stderr.contains(": OK: backup "), "\(waited)")
        #expect(try drills(s, repo).map { $0["result"] as? String } == ["OK"])
    }

    /// The postmaster of the drill `process` runs, once the drill has said it recovered.
    func waitForRecoveredDrill(_ process: SpawnedProcess, _ scratchParent: String) throws -> pid_t {
        try waitUntil("the drill to recover its cluster") { (try? FileSystem.readText(process.errPath))?.contains("recovered to") == true }
        let pids = try postmastersUnder(scratchParent)
        return try #require(pids.first, "a postmaster under \(scratchParent)")
    }

    /// PostgreSQL processes working below `parent`: a server's working directory is its data
    /// directory, and stays so (marked deleted) when the directory is removed under it, which
    /// a postmaster.pid file could not show.
    func postmastersUnder(_ parent: String) throws -> [pid_t] {
        try FileSystem.list("/proc").compactMap { name -> pid_t? in
            guard let pid = pid_t(name), let cwd = try? FileSystem.readLink("/proc/\(name)/cwd"),
                  cwd.hasPrefix(parent + "/"), ScratchServerProbe.isRunning(pid) else { return nil }
            return pid
        }.sorted()
    }

    @Test func aDrillRefusesToRunAsRoot() throws {
        guard Command.isRoot else { return }
        let s = try Scratch()
        let r = try s.pgbk(["drill", "-B", s.path + "/nowhere"], asCurrentUser: true)
        #expect(!r.succeeded && oneLine(r) && r.stderr.contains("root"), "\(r)")
    }
}

/// Whether a process runs (not gone, not a zombie nobody reaped).
enum ScratchServerProbe {
    static func isRunning(_ pid: pid_t) -> Bool {
        guard let stat = try? FileSystem.readText("/proc/\(pid)/stat") else { return false }
        return stat.split(separator: ")").last?.split(separator: " ").first != "Z"
    }
}
