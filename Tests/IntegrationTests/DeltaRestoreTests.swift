import Testing
import Repository

/// `restore --delta` on real servers: a stopped cluster that moved on (and was damaged) is
/// brought back to a backup by rewriting only what differs; a kill in the middle is finished
/// by a rerun; directories it must not touch are refused untouched (issue 14, item 4).
@Suite(.ownThread) struct DeltaRestoreTests {
    /// A backed-up cluster with rows 1 (archived) and 2 (committed, in a segment never
    /// archived), stopped as by a crash; and that segment's name.
    func crashWithAnUnarchivedCommit(_ s: Scratch, _ repo: String, name: String) throws -> (TestCluster, String) {
        let cluster = try TestCluster.createInitialized(s, name: name, repository: repo)
        do {
            try cluster.execute("CREATE TABLE t (n int)")
            _ = try backupAndValidate(s, repo, cluster, "full")
            try cluster.execute("INSERT INTO t VALUES (1)")
            try cluster.switchWALAndWaitForArchive(repository: repo)
            try cluster.execute("INSERT INTO t VALUES (2)")
            let unarchived = try #require(try cluster.scalar("SELECT pg_walfile_name(pg_current_wal_lsn())"))
            try cluster.stop(mode: "immediate")
            #expect(try Repository.open(repo).wal.find(unarchived) == nil)
            return (cluster, unarchived)
        } catch {
            cluster.stopIfRunning()
            throw error
        }
    }

    /// Issue 23, item 1: after a crash (immediate stop) pg_wal holds WAL the archive never
    /// got; a delta restore keeps it for recovery and says so, and the committed row is back.
    /// Before, the restore removed it and the row was lost.
    @Test func aCrashedClustersUnarchivedWALSurvivesADeltaRestore() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let (cluster, unarchived) = try crashWithAnUnarchivedCommit(s, repo, name: "crashed")
        defer { cluster.stopIfRunning() }

        let r = try s.pgbk(["restore", "-B", repo, "-D", cluster.dataDir, "--delta"])
        #expect(r.succeeded && r.stderr.contains("kept 1 WAL segment(s) in pg_wal that the archive lacks (\(unarchived)"), "\(r)")
        let restored = try TestCluster.startRestored(cluster.dataDir, scratch: s, name: "crashed-restored")
        defer { restored.stopIfRunning() }
        #expect(try restored.scalar("SELECT string_agg(n::text, ',' ORDER BY n) FROM t") == "1,2", "the committed row is back")
    }

    /// The runbook's plain path: the crashed directory moved aside, a restore into an empty
    /// one names the unarchived segment beside it and the command that gives it to recovery.
    @Test func aPlainRestoreNamesTheUnarchivedWALOfTheDirectoryMovedAside() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let (cluster, unarchived) = try crashWithAnUnarchivedCommit(s, repo, name: "main")
        defer { cluster.stopIfRunning() }
        let broken = cluster.dataDir + ".broken"
        try FileSystem.rename(cluster.dataDir, broken)

        let r = try s.pgbk(["restore", "-B", repo, "-D", cluster.dataDir])
        let advice = try #require(r.stderr.split(separator: "\n").first { $0.contains("\(broken)/pg_wal holds 1 WAL segment(s)") }.map(String.init), "\(r)")
        #expect(r.succeeded && advice.contains(unarchived) && advice.contains("cp -p \(broken)/pg_wal/\(unarchived) \(cluster.dataDir)/pg_wal/"), "\(r)")
        // Following the advice brings the committed row back.
        let copy = try Command.run("/bin/cp", ["-p", broken + "/pg_wal/" + unarchived, cluster.dataDir + "/pg_wal/"])
        #expect(copy.succeeded, "\(copy)")
        let restored = try TestCluster.startRestored(cluster.dataDir, scratch: s, name: "main-restored")
        defer { restored.stopIfRunning() }
        #expect(try restored.scalar("SELECT string_agg(n::text, ',' ORDER BY n) FROM t") == "1,2", "the committed row is back")
    }

    @Test func aClusterThatMovedOnIsRestoredInPlaceAndAKilledRunIsFinishedByARerun() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let cluster = try TestCluster.createInitialized(s, name: "node", repository: repo)
        defer { cluster.stopIfRunning() }
        let tsDir = try s.makeDirectory("ts")
        try cluster.execute("CREATE TABLESPACE ts LOCATION '\(tsDir)'")
        try cluster.execute("CREATE TABLE kept (n int, v text) TABLESPACE ts")
        try cluster.execute("INSERT INTO kept SELECT g, md5(g::text) FROM generate_series(1, 50000) g")
        let pgbench = { (args: [String]) throws in
            let r = try cluster.runClient("pgbench", cluster.connectionArgs + args + ["postgres"])
            guard r.succeeded else { throw CommandError(result: r) }
        }
        try pgbench(["-i", "-s", "3", "-q"])
        _ = try backupAndValidate(s, repo, cluster, "full")
        try pgbench(["-n", "-c", "2", "-t", "300"])
        _ = try backupAndValidate(s, repo, cluster, "incremental")
        let accountsFile = try #require(try cluster.scalar("SELECT pg_relation_filepath('pgbench_accounts')"))
        // The cluster moves on after the backup (archived: recovery brings the restored files
        // there again), then stops; its files are damaged and mixed up.
        try pgbench(["-n", "-c", "2", "-t", "300"])
        try cluster.execute("UPDATE kept SET v = 'changed' WHERE n % 97 = 0")
        let fingerprint = "SELECT count(*) || ':' || md5(string_agg(n || v, ',' ORDER BY n)) FROM kept"
        let keptFingerprint = try cluster.scalar(fingerprint)
        try cluster.switchWALAndWaitForArchive(repository: repo)
        try cluster.stop()
        let data = cluster.dataDir
        try flipByte(data + "/" + accountsFile, at: 8192 * 3 + 500)
        try s.writeFile(data + "/base/stray", "not PostgreSQL's")
        let junk = try s.makeDirectory("node/junk")
        try s.writeFile(junk + "/file", "x")
        let outside = try s.makeDirectory("outside")
        try s.writeFile(outside + "/precious", "outside the target")
        try FileSystem.makeSymlink(data + "/escape", target: outside)
        let foreignVersion = try s.makeDirectory("ts/PG_99_999999999")  // another cluster's, in the same location
        try s.writeFile(foreignVersion + "/keep", "not ours")

        // Killed halfway: pg_control is gone, so nothing can start on the half-restored directory.
        let args = ["restore", "-B", repo, "-D", data, "--delta", "-j", "2"]
        let killed = try s.pgbk(args, env: ["PGBK_FAULT": "restore-unit-written@5"])
        #expect(killed.status == 128 + 9, "\(killed)")
        #expect(!FileSystem.exists(data + "/global/pg_control") && FileSystem.exists(data + "/pgbk_restore.ini"))
        // Without --delta the directory is named for what it is (issue 23, item 11).
        let plain = try s.pgbk(args.filter { $0 != "--delta" })
        #expect(failsWithOneError(plain) && plain.stderr.contains("holds an interrupted pgbk restore") && plain.stderr.contains("--delta"), "\(plain)")
        let r = try s.pgbk(args)
        #expect(r.succeeded, "\(r)")
        #expect(!FileSystem.exists(data + "/pgbk_restore.ini"))
        // Most files are the backup's already; far less is written than the cluster holds.
        let summary = try #require(r.stderr.split(separator: "\n").last { $0.contains("complete: ") }.map(String.init))
        let counts = summary.split(separator: "complete: ").last!.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        #expect(counts.count >= 2 && counts[1] > counts[0] / 2, "most files already matched: \(summary)")
        #expect(summary.contains("already matched the backup"), "\(summary)")
        for gone in ["/base/stray", "/junk", "/escape"] { #expect(!FileSystem.exists(data + gone), "\(gone)") }
        #expect(try FileSystem.readText(outside + "/precious") == "outside the target")
        #expect(try FileSystem.readText(foreignVersion + "/keep") == "not ours")

        let restored = try TestCluster.startRestored(data, scratch: s, name: "restored")
        defer { restored.stopIfRunning() }
        try expectPgbenchConsistent(restored, "delta restore")
        #expect(try restored.scalar(fingerprint) == keptFingerprint, "the tablespace's table")
        try restored.stop()
        let checksums = try restored.runClient("pg_checksums", ["--check", "-D", data])
        #expect(checksums.succeeded, "\(checksums)")
    }

    @Test func directoriesItMustNotTouchAreRefusedUntouched() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let cluster = try TestCluster.createInitialized(s, name: "node", repository: repo)
        defer { cluster.stopIfRunning() }
        try cluster.execute("CREATE TABLE t AS SELECT g AS n FROM generate_series(1, 1000) g")
        _ = try backupAndValidate(s, repo, cluster, "full")
        func refused(_ target: String, _ words: [String]) throws {
            let before = try snapshot(target)
            let r = try s.pgbk(["restore", "-B", repo, "-D", target, "--delta"])
            #expect(!r.succeeded && oneLine(r) && words.allSatisfy { r.stderr.contains($0) }, "\(target): \(r)")
            #expect(try snapshot(target) == before, "\(target) was changed")
        }
        // Another cluster's data directory.
        let other = try TestCluster.create(s, name: "other", repository: nil)
        try refused(other.dataDir, ["system identifier", "restore target"])
        // The cluster itself, running.
        // (--delta only needs it stopped: "move its data away" was wrong for it; issue 23, item 11.)
        try refused(cluster.dataDir, ["running", "postmaster", "stop it before a --delta restore"])
        #expect(try cluster.scalar("SELECT count(*) FROM t") == "1000")
        // Something that is not a data directory.
        let notes = try s.makeDirectory("notes")
        try s.writeFile(notes + "/todo.txt", "mine")
        try refused(notes, ["not a PostgreSQL data directory"])
        // Without --delta, a non-empty directory is refused with a pointer to it.
        let plain = try s.pgbk(["restore", "-B", repo, "-D", notes])
        #expect(!plain.succeeded && oneLine(plain) && plain.stderr.contains("--delta"), "\(plain)")

        // A second restore into a directory a restore is writing into fails at once.
        let busy = s.path + "/busy"
        let first = try s.spawnPgbkStopped(["restore", "-B", repo, "-D", busy], at: "restore-unit-written")
        let second = try s.pgbk(["restore", "-B", repo, "-D", busy, "--delta"])
        #expect(failsWithOneError(second) && second.stderr.contains("another pgbk restore is writing into"), "\(second)")
        first.resume()
        let firstResult = first.wait()
        #expect(firstResult.succeeded, "\(firstResult)")

        // A plain restore killed halfway is finished by --delta: its marker vouches for the directory.
        let target = s.path + "/interrupted"
        let killed = try s.pgbk(["restore", "-B", repo, "-D", target, "-j", "2"], env: ["PGBK_FAULT": "restore-unit-written@3"])
        #expect(killed.status == 128 + 9, "\(killed)")
        let finished = try s.pgbk(["restore", "-B", repo, "-D", target, "--delta"])
        #expect(finished.succeeded, "\(finished)")
        let restored = try TestCluster.startRestored(target, scratch: s, name: "finished")
        defer { restored.stopIfRunning() }
        #expect(try restored.scalar("SELECT count(*) FROM t") == "1000")
    }
}
