import Testing
import Foundation
import Repository

/// File-level fallback (issue 24, item 3): a stored file damaged in the repository a restore
/// uses is taken from another repository that holds the same backup with the same checksum,
/// and the restore says so and completes; with no good copy anywhere it stops naming the
/// file, leaving a target PostgreSQL will not start; validate names where a good copy is,
/// and copy puts it back.
@Suite(.ownThread) struct FileFallbackTests {
    @Test func aDamagedFileIsTakenFromTheOtherRepositorysCopy() throws {
        let s = try Scratch()
        let (r1, r2) = (s.path + "/repo1", s.path + "/repo2")
        let cluster = try TestCluster.createInitialized(s, name: "db", repository: r1)
        defer { cluster.stopIfRunning() }
        try cluster.execute("CREATE TABLE t (n int PRIMARY KEY, v text)")
        try cluster.execute("INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 30000) g")
        _ = try backupAndValidate(s, r1, cluster, "full")
        try cluster.execute("UPDATE t SET v = 'changed' WHERE n % 40 = 0")
        try cluster.execute("CREATE TABLE small AS SELECT g AS n FROM generate_series(1, 3000) g")
        let incremental = try backupAndValidate(s, r1, cluster, "incremental")
        try cluster.switchWALAndWaitForArchive(repository: r1)
        let fingerprint = "SELECT (SELECT count(*) || ':' || md5(string_agg(n || v, ',' ORDER BY n)) FROM t) || '/' || (SELECT sum(n) FROM small)"
        let expected = try cluster.scalar(fingerprint)
        #expect(try s.pgbk(["init", "-B", r2, "-D", cluster.dataDir]).succeeded)
        let repos = ["-B", r1, "-B", r2]
        #expect(try s.pgbk(["copy"] + repos + ["--from-repo", "1", "--to-repo", "2"]).succeeded)
        try cluster.stop()

        // In repo1's incremental: the changed table's page delta (rebuilt down the chain) and
        // a new table's whole file (copied as it is).
        let one = try Repository.open(r1), two = try Repository.open(r2)
        let info = try one.loadBackup(incremental)
        let entries = try one.loadFileList(info)
        let delta = try #require(entries.filter { $0.kind == .pageDelta }.max { $0.storedSize < $1.storedSize })
        let whole = try #require(entries.first { $0.kind == .file && $0.path.hasPrefix("base/") && $0.size >= 65_536 })
        let damaged = [delta, whole].map { one.storedPath(incremental, $0, compression: info.compression) }
        for path in damaged { try flipByte(path, at: 200) }

        let restoredDir = s.path + "/restored"
        let restore = try s.pgbk(["restore"] + repos + ["-D", restoredDir])
        #expect(restore.succeeded, "\(restore)")
        for entry in [delta, whole] {
            #expect(restore.stderr.contains("restored \(entry.path) from repo2 (\(r2)) instead"), "\(restore)")
        }
        #expect(restore.stderr.contains("pgbk copy --from-repo 2 --to-repo 1 --backup-id \(incremental)"), "\(restore)")
        let restored = try TestCluster.startRestored(restoredDir, scratch: s, name: "restored")
        #expect(try restored.scalar(fingerprint) == expected)
        let amcheck = try restored.runClient("pg_amcheck", restored.connectionArgs + ["--all", "--install-missing", "--heapallindexed"])
        #expect(amcheck.succeeded && amcheck.stdout.isEmpty, "\(amcheck)")
        restored.stopIfRunning()

        // The same file damaged in repo2 too: no good copy anywhere; the restore stops naming
        // it, and what it wrote never starts (no pg_control).
        let secondCopy = two.storedPath(incremental, delta, compression: info.compression)
        try flipByte(secondCopy, at: 300)
        let refusedDir = s.path + "/refused"
        let refused = try s.pgbk(["restore"] + repos + ["-D", refusedDir])
        #expect(failsWithOneError(refused) && refused.stderr.contains(delta.path)
                && refused.stderr.contains("no other repository has a good copy"), "\(refused)")
        #expect(!FileSystem.exists(refusedDir + "/global/pg_control"))
        // copy reads each file against the catalog as it passes: the damaged one is never
        // stored in the target, and the backup there is CORRUPT, not OK.
        let r3 = s.path + "/repo3"
        #expect(try s.pgbk(["init", "-B", r3, "-D", cluster.dataDir]).succeeded)
        let spread = try s.pgbk(["copy"] + repos + ["-B", r3, "--from-repo", "2", "--to-repo", "3"])
        #expect(failsWithOneError(spread) && spread.stderr.contains(delta.path), "\(spread)")
        let three = try Repository.open(r3)
        #expect(try three.loadBackup(incremental).status == .corrupt)
        #expect(!FileSystem.exists(three.storedPath(incremental, delta, compression: info.compression)))
        try flipByte(secondCopy, at: 300)  // repo2's copy good again

        // validate names both files and where the good copy is; copy puts the backup back.
        let found = try s.pgbk(["validate"] + repos + ["--repo", "1", "--recheck"])
        #expect(!found.succeeded, "\(found)")
        for entry in [delta, whole] {
            #expect(found.stderr.split(separator: "\n").contains {
                $0.contains(entry.path) && $0.contains("a good copy is in repo2 (\(r2))")
            }, "\(found)")
        }
        let repaired = try s.pgbk(["copy"] + repos + ["--from-repo", "2", "--to-repo", "1", "--backup-id", incremental])
        #expect(repaired.succeeded && repaired.stderr.contains("copied backup \(incremental)"), "\(repaired)")
        let clean = try s.pgbk(["validate"] + repos + ["--repo", "1", "--recheck"])
        #expect(clean.succeeded, "\(clean)")
    }
}
