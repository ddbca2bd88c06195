import Testing
import Repository

/// restore writes PostgreSQL's backup_manifest: pg_verifybackup (PostgreSQL's own verifier)
/// passes on a restored directory, a chain with a moved tablespace and a delta restore
/// included, and fails naming the file after a flipped byte (issue 15, item 6).
@Suite(.ownThread) struct BackupManifestTests {
    @Test func pgVerifybackupAcceptsARestoreAndCatchesAFlippedByte() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let cluster = try TestCluster.createInitialized(s, name: "db", repository: repo)
        defer { cluster.stopIfRunning() }
        let tsDir = try s.makeDirectory("ts")
        try cluster.execute("CREATE TABLESPACE ts LOCATION '\(tsDir)'")
        try cluster.execute("CREATE TABLE a TABLESPACE ts AS SELECT g, md5(g::text) AS v FROM generate_series(1, 20000) g")
        try cluster.execute("CREATE TABLE b AS SELECT g, md5(g::text) AS v FROM generate_series(1, 20000) g")
        _ = try backupAndValidate(s, repo, cluster, "full")
        try cluster.execute("UPDATE a SET v = 'changed' WHERE g % 50 = 0")
        try cluster.execute("UPDATE b SET v = 'changed' WHERE g % 70 = 0")
        _ = try backupAndValidate(s, repo, cluster, "incremental")
        try cluster.stop()
        func verify(_ dir: String) throws -> CommandResult { try cluster.runClient("pg_verifybackup", ["-n", dir]) }

        // The chain, its tablespace moved elsewhere (tablespace_map rewritten).
        let target = s.path + "/restored"
        let restore = try s.pgbk(["restore", "-B", repo, "-D", target, "-T", "\(tsDir)=\(s.path)/ts-moved"])
        #expect(restore.succeeded, "\(restore)")
        let verified = try verify(target)
        #expect(verified.succeeded && verified.stdout.contains("successfully verified"), "\(verified)")

        // A delta restore over the cluster itself writes one too.
        let delta = try s.pgbk(["restore", "-B", repo, "-D", cluster.dataDir, "--delta"])
        #expect(delta.succeeded, "\(delta)")
        let deltaVerified = try verify(cluster.dataDir)
        #expect(deltaVerified.succeeded, "\(deltaVerified)")

        // One flipped byte in a restored relation file: pg_verifybackup names it.
        let relation = try #require(try FileSystem.list(target + "/base").flatMap { db in
            try FileSystem.list(target + "/base/" + db).filter { $0.allSatisfy(\.isNumber) }.map { "base/\(db)/\($0)" }
        }.first { (try? FileSystem.status(target + "/" + $0).size) ?? 0 > 16384 })
        try flipByte(target + "/" + relation, at: 9000)
        let damaged = try verify(target)
        #expect(!damaged.succeeded && (damaged.stdout + damaged.stderr).contains(relation), "\(damaged)")
    }
}
