import Testing
import Repository

/// The user guide's whole-cluster restore (`mv main main.broken`, restore into main) of a
/// cluster with a tablespace (issue 23, item 4): every directory the restore needs is checked
/// before anything is written, and the advice given works.
@Suite(.ownThread) struct WholeClusterRestoreTests {
    @Test func aTablespaceInTheWayIsNamedWithAWayThatWorksAndNothingIsWrittenFirst() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let cluster = try TestCluster.createInitialized(s, name: "main", repository: repo)
        defer { cluster.stopIfRunning() }
        let tsDir = try s.makeDirectory("ts1")
        try cluster.execute("CREATE TABLESPACE ts1 LOCATION '\(tsDir)'")
        try cluster.execute("CREATE TABLE t (n int) TABLESPACE ts1")
        try cluster.execute("INSERT INTO t SELECT generate_series(1, 1000)")
        _ = try backupAndValidate(s, repo, cluster, "full")
        try cluster.execute("INSERT INTO t VALUES (1001)")
        try cluster.switchWALAndWaitForArchive(repository: repo)
        try cluster.stop()
        try FileSystem.rename(cluster.dataDir, cluster.dataDir + ".broken")
        let version = try #require(try FileSystem.list(tsDir).first { $0.hasPrefix("PG_") })

        // The lost cluster's tablespace is still in its location: refused, with or without
        // --delta (the target is gone: there is nothing to rewrite in place).
        for extra in [[], ["--delta"]] {
            let r = try s.pgbk(["restore", "-B", repo, "-D", cluster.dataDir] + extra)
            #expect(failsWithOneError(r) && r.stderr.contains("already holds \(version)") && r.stderr.contains("mv \(tsDir) \(tsDir).old")
                    && !r.stderr.contains("add --delta"), "\(r)")
            #expect(!FileSystem.exists(cluster.dataDir))
        }
        // A location the restoring user cannot create is refused before the first write
        // (it stopped half-way with "Permission denied" before).
        let locked = try s.makeDirectory("locked", mode: 0o555)
        let r = try s.pgbk(["restore", "-B", repo, "-D", cluster.dataDir, "-T", "\(tsDir)=\(locked)/ts1"])
        #expect(failsWithOneError(r) && r.stderr.contains("cannot create it") && r.stderr.contains("install -d -o"), "\(r)")
        #expect(!FileSystem.exists(cluster.dataDir))
        let target = try s.makeDirectory("not-mine", mode: 0o555)
        let unwritable = try s.pgbk(["restore", "-B", repo, "-D", target, "-T", "\(tsDir)=\(s.path)/ts-elsewhere"])
        #expect(failsWithOneError(unwritable) && unwritable.stderr.contains("not writable"), "\(unwritable)")
        #expect(try FileSystem.list(target).isEmpty && !FileSystem.exists(s.path + "/ts-elsewhere"))

        // The advice works, and every committed row comes back.
        try FileSystem.rename(tsDir, tsDir + ".old")
        try s.makeDirectory("ts1")
        let restore = try s.pgbk(["restore", "-B", repo, "-D", cluster.dataDir])
        #expect(restore.succeeded, "\(restore)")
        let restored = try TestCluster.startRestored(cluster.dataDir, scratch: s, name: "main-restored")
        defer { restored.stopIfRunning() }
        #expect(try restored.scalar("SELECT count(*) FROM t") == "1001")
    }
}
