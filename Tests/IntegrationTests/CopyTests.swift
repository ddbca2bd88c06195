import Testing
import Foundation
import Repository

/// `pgbk copy` (issue 24, item 2) between directory repositories on a real cluster: a full
/// and two incrementals copied, read back OK in the target, and restored from the target
/// alone after the cluster and the source are gone; a second run copies nothing; a kill in
/// the middle leaves nothing usable half-copied and a rerun finishes; bad pairs are one-line
/// errors with nothing written.
@Suite(.ownThread) struct CopyTests {
    func backups(_ s: Scratch, _ repo: String) throws -> [[String: Any]] {
        let shown = try s.pgbk(["show", "-B", repo, "--json"])
        guard shown.succeeded else { throw CommandError(result: shown) }
        return try #require(try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [[String: Any]])
    }

    /// How many bundled files of `info` follow another in the same bundle; fails unless the
    /// bundles hold their files in the file list's order (the order restore reads them in, one
    /// window of a bundle after another), give or take the workers' interleaving: workers
    /// append as they finish, so a held-up worker's file lands places from its own (far, under
    /// load), but pairs out of order stay a small share of all pairs, where the old
    /// largest-first order left about half of them out of order.
    func bundledInListOrder(_ repo: Repository, _ info: BackupInfo) throws -> Int {
        let entries = try repo.loadFileList(info).filter { FileList.isStored($0) }
        // Members are named below the backup's data directory.
        let data = repo.dataName(info.id).count + 1
        let rank = Dictionary(uniqueKeysWithValues: entries.enumerated().map {
            (String(repo.storedName(info.id, $1, compression: info.compression).dropFirst(data)), $0)
        })
        let listName = BundleList.listName(backup: repo.backupName(info.id))
        let bundles = try BundleList.read(try repo.storage.openRead(listName), path: listName)
        var (following, pairs, outOfOrder) = (0, 0, 0)
        for members in Dictionary(grouping: bundles.members, by: { $0.value.bundle }).values {
            let ranks = try members.sorted { $0.value.offset < $1.value.offset }.map { try #require(rank[$0.key], "\($0.key)") }
            for i in ranks.indices { for j in ranks.indices where j > i { pairs += 1; if ranks[i] > ranks[j] { outOfOrder += 1 } } }
            following += ranks.count - 1
        }
        #expect(outOfOrder * 8 <= pairs, "\(outOfOrder) of \(pairs) pairs of bundled files out of the list's order")
        return following
    }

    @Test func aCopiedChainRestoresFromTheTargetAloneAndAKilledCopyIsFinishedByARerun() throws {
        let s = try Scratch()
        let (r1, r2, r3) = (s.path + "/repo1", s.path + "/repo2", s.path + "/repo3")
        let cluster = try TestCluster.createInitialized(s, name: "db", repository: r1)
        defer { cluster.stopIfRunning() }
        try cluster.execute("CREATE TABLE t (n int PRIMARY KEY, v text)")
        try cluster.execute("INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000) g")
        _ = try backupAndValidate(s, r1, cluster, "full")
        try cluster.execute("UPDATE t SET v = 'one' WHERE n % 50 = 0")
        _ = try backupAndValidate(s, r1, cluster, "incremental")
        try cluster.execute("UPDATE t SET v = 'two' WHERE n % 70 = 0")
        _ = try backupAndValidate(s, r1, cluster, "incremental")
        try cluster.execute("INSERT INTO t SELECT g, 'late' FROM generate_series(20001, 21000) g")
        try cluster.switchWALAndWaitForArchive(repository: r1)
        let fingerprint = "SELECT count(*) || ':' || md5(string_agg(n || v, ',' ORDER BY n)) FROM t"
        let expected = try cluster.scalar(fingerprint)
        for repo in [r2, r3] { #expect(try s.pgbk(["init", "-B", repo, "-D", cluster.dataDir]).succeeded) }
        let drills = try s.makeDirectory("drills")
        let drill = try s.pgbk(["drill", "-B", r1, "--scratch-dir", drills, "-U", "postgres", "--no-amcheck"])
        #expect(drill.succeeded, "\(drill)")
        let repos = ["-B", r1, "-B", r2, "-B", r3]

        let copied = try s.pgbk(["copy"] + repos + ["--from-repo", "1", "--to-repo", "2"])
        #expect(copied.succeeded && copied.stderr.contains("copied from repo1 (\(r1)) to repo2 (\(r2)): 3 backup(s)"), "\(copied)")
        #expect(try backups(s, r2).map { $0["status"] as? String } == ["OK", "OK", "OK"])
        // The drill record went with the backup it proved.
        let drilled = try s.pgbk(["show", "-B", r2, "drills"])
        #expect(copied.stderr.contains("copied 1 drill record(s)") && drilled.stdout.contains(" OK "), "\(drilled)")
        let again = try s.pgbk(["copy"] + repos + ["--from-repo", "1", "--to-repo", "2"])
        #expect(again.succeeded && again.stderr.contains("nothing to copy"), "\(again)")

        // A file damaged in repo2: validate finds it (CORRUPT), and copy replaces that backup
        // from repo1's good one (item 3's repair); repo2 then validates OK again.
        let target = try Repository.open(r2)
        let full = try #require(try target.loadAll().backups.first)
        let entry = try #require(try target.loadFileList(full).first { FileList.isStored($0) && $0.size > 100_000 })
        try flipByte(target.storedPath(full.id, entry, compression: full.compression), at: 5_000)
        let found = try s.pgbk(["validate", "-B", r2, "--recheck"])
        #expect(!found.succeeded && found.stderr.contains(entry.path), "\(found)")
        let repaired = try s.pgbk(["copy"] + repos + ["--from-repo", "1", "--to-repo", "2"])
        #expect(repaired.succeeded && repaired.stderr.contains("copied backup \(full.id)") && repaired.stderr.contains("1 backup(s)"), "\(repaired)")
        #expect(try s.pgbk(["validate", "-B", r2, "--recheck"]).succeeded)

        // Killed after a few files: nothing usable in repo3, the rerun finishes, validate agrees.
        // repo3 bundles small files: a copy fills bundles in the list's order, as a backup does.
        let bundled = ["BUNDLE_3": "on", "BUNDLE_SIZE": "1M", "BUNDLE_LIMIT": "256K"]
        let killed = try s.pgbk(["copy"] + repos + ["--from-repo", "1", "--to-repo", "3", "-j", "1"],
                                env: bundled.merging(["PGBK_FAULT": "copy-file-copied@5"]) { a, _ in a })
        #expect(killed.status == 128 + 9, "\(killed)")
        #expect(try backups(s, r3).allSatisfy { $0["status"] as? String != "OK" && $0["status"] as? String != "DONE" })
        let rerun = try s.pgbk(["copy"] + repos + ["--from-repo", "1", "--to-repo", "3"], env: bundled)
        #expect(rerun.succeeded && rerun.stderr.contains("3 backup(s)"), "\(rerun)")
        let validated = try s.pgbk(["validate", "-B", r3, "--recheck-days", "0"])
        #expect(validated.succeeded, "\(validated)")
        #expect(try backups(s, r3).map { $0["status"] as? String } == ["OK", "OK", "OK"])
        let copiedFull = try #require(try Repository.open(r3).loadAll().backups.first)
        #expect(try bundledInListOrder(try Repository.open(r3), copiedFull) > 10)

        // The cluster and repo1 gone: repo2 alone restores every row.
        try cluster.stop()
        try FileSystem.removeTree(cluster.dataDir)
        try FileSystem.removeTree(r1)
        let restore = try s.pgbk(["restore", "-B", r2, "-D", cluster.dataDir])
        #expect(restore.succeeded, "\(restore)")
        let restored = try TestCluster.startRestored(cluster.dataDir, scratch: s, name: "restored")
        defer { restored.stopIfRunning() }
        #expect(try restored.scalar(fingerprint) == expected)
        let amcheck = try restored.runClient("pg_amcheck", restored.connectionArgs + ["--all", "--install-missing", "--heapallindexed"])
        #expect(amcheck.succeeded && amcheck.stdout.isEmpty, "\(amcheck)")
    }

    /// Copy into itself, to a repository that is not there, or between two clusters'
    /// repositories: one line, nothing written.
    @Test func badPairsAreRefusedWithNothingWritten() throws {
        let s = try Scratch()
        let (r1, r2) = (s.path + "/repo1", s.path + "/repo2")
        let one = try TestCluster.create(s, name: "one", repository: nil)
        let two = try TestCluster.create(s, name: "two", repository: nil)
        #expect(try s.pgbk(["init", "-B", r1, "-D", one.dataDir]).succeeded)
        #expect(try s.pgbk(["init", "-B", r2, "-D", two.dataDir]).succeeded)
        let tree = { try Command.run("/usr/bin/find", [r2]).stdout }
        let before = try tree()
        let same = try s.pgbk(["copy", "-B", r1, "-B", r2, "--from-repo", "1", "--to-repo", "1"])
        #expect(failsWithOneError(same) && same.stderr.contains("name two different repositories"), "\(same)")
        let missing = try s.pgbk(["copy", "-B", r1, "-B", r2, "--from-repo", "1", "--to-repo", "3"])
        #expect(failsWithOneError(missing) && missing.stderr.contains("--to-repo 3: there are 2 repositories"), "\(missing)")
        let foreign = try s.pgbk(["copy", "-B", r1, "-B", r2, "--from-repo", "1", "--to-repo", "2"])
        #expect(failsWithOneError(foreign) && foreign.stderr.contains("system identifier"), "\(foreign)")
        #expect(try tree() == before)
    }
}
