import Testing
import Foundation
import Repository

/// Issue 29, item 2: `pgbk merge` folds an incremental chain into a full of the same point,
/// from the repository alone; the merged full and the incremental re-parented onto it restore
/// exactly (pg_dump equal, pg_amcheck and pg_checksums clean) on 15 and 18; bad input
/// changes nothing; a kill at each of merge's points leaves every point restorable and a
/// rerun finishes.
@Suite(.ownThread) struct MergeTests {
    @Test(arguments: [15, 18]) func aMergedChainRestoresExactlyAndItsChildBuildsOnIt(major: Int) throws {
        let install = try PostgresInstall.of(major)
        let s = try Scratch()
        let repo = s.path + "/repo"
        let source = try TestCluster.createInitialized(s, name: "src", repository: repo, bin: install.bin)
        defer { source.stopIfRunning() }
        try source.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        try source.execute("INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000) g")
        if major == 15 {
            // Larger than a part (64 MiB): rebuilt from deltas part by part.
            try source.execute("CREATE TABLE big AS SELECT g AS id, repeat(md5(g::text), 6) AS v FROM generate_series(1, 300000) g")
        }
        let full = try backupAndValidate(s, repo, source, "full")
        try source.execute("UPDATE t SET v = 'one' WHERE id % 10 = 1")
        if major == 15 { try source.execute("UPDATE big SET v = 'changed' WHERE id % 1000 = 7") }
        let first = try backupAndValidate(s, repo, source, "incremental")
        try source.execute("CREATE TABLE n AS SELECT g AS id FROM generate_series(1, 5000) g")
        try source.execute("DELETE FROM t WHERE id > 15000")
        try source.execute("VACUUM t")
        let merged = try backupAndValidate(s, repo, source, "incremental")
        let atMerged = try dumpLines(source)
        try source.execute("UPDATE t SET v = 'three' WHERE id % 10 = 3")
        let child = try backupAndValidate(s, repo, source, "incremental")
        let atChild = try dumpLines(source)

        // Bad input: one line, non-zero, nothing changed.
        func listing() throws -> [String] { try Repository.open(repo).loadAll().backups.map { "\($0.id) \($0.status) \($0.parentID ?? "-")" } }
        let before = try listing()
        for args in [[full], ["20200101-000000I"], ["newest"], ["latest-full"]] {
            let r = try s.pgbk(["merge", "-B", repo] + args)
            #expect(failsWithOneError(r), "\(args): \(r)")
        }
        #expect(try listing() == before)

        // A stored file of the chain damaged (copied as it is): the merged full does not read
        // back, it is CORRUPT, and nothing else changes; repaired, the merge is run again.
        let damaged = repo + "/backup/\(full)/data/PG_VERSION"
        try flipByte(damaged, at: 0)
        let refused = try s.pgbk(["merge", "-B", repo, merged])
        #expect(failsWithOneError(refused) && refused.stderr.contains("PG_VERSION"), "\(refused)")
        let fullID = String(merged.dropLast()) + "F"
        #expect(try Repository.open(repo).loadBackup(fullID).status == .corrupt)
        #expect(try listing().filter { !$0.hasPrefix(fullID) } == before)
        try flipByte(damaged, at: 0)

        let merge = try s.pgbk(["merge", "-B", repo, merged])
        #expect(merge.succeeded, "\(merge)")
        let catalog = try Repository.open(repo).loadAll().backups
        func status(_ id: String) -> BackupStatus? { catalog.first { $0.id == id }?.status }
        #expect(status(fullID) == .ok && catalog.first { $0.id == fullID }?.mergedFrom == merged)
        #expect(catalog.first { $0.id == child }?.parentID == fullID)
        #expect([full, first, merged].map(status) == [.deleted, .deleted, .deleted], "\(catalog.map { "\($0.id) \($0.status)" })")
        let shown = try s.pgbk(["show", "-B", repo])
        #expect(shown.stdout.contains("FULL (merged)"), "\(shown)")
        #expect(try latestBackup(s, repo)["parent_id"] as? String == fullID)

        // The child, on the merged full, restores to its point; the merged full to its own.
        for (backup, expected, name) in [(child, atChild, "child"), (fullID, atMerged, "merged")] {
            let target = s.path + "/restored-" + name
            let restore = try s.pgbk(["restore", "-B", repo, "-D", target, "--backup-id", backup,
                                      "--recovery-target", "immediate", "--recovery-target-action", "promote"])
            #expect(restore.succeeded, "\(restore)")
            let restored = try TestCluster.startRestored(target, scratch: s, name: name, bin: install.bin)
            defer { restored.stopIfRunning() }
            #expect(try dumpLines(restored) == expected, "\(name)")
            if install.hasAmcheck {
                let amcheck = try restored.runClient("pg_amcheck", restored.connectionArgs + ["--all", "--install-missing"])
                #expect(amcheck.succeeded && amcheck.stdout.isEmpty, "\(amcheck)")
            }
            try restored.stop()
            let checksums = try restored.runClient("pg_checksums", ["--check", "-D", target])
            #expect(checksums.succeeded, "\(checksums)")
        }

        // A rerun finds the work done; a full that is already full is refused.
        let again = try s.pgbk(["merge", "-B", repo, merged])
        #expect(again.succeeded && again.stderr.contains("already holds"), "\(again)")
        #expect(failsWithOneError(try s.pgbk(["merge", "-B", repo, fullID])))
    }

    /// Killed at each of merge's points (and in the middle of retiring): after each kill the
    /// point of the incremental being merged and of its child still restore from usable
    /// chains, every OK backup reads back, and a rerun finishes the merge.
    @Test func killedAtEachMergePointEveryPointStillRestoresAndARerunFinishes() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let source = try TestCluster.createInitialized(s, name: "src", repository: repo)
        defer { source.stopIfRunning() }
        try source.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        try source.execute("INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000) g")
        _ = try backupAndValidate(s, repo, source, "full")
        func restorable(_ id: String, _ backups: [BackupInfo]) -> Bool {
            guard let b = backups.first(where: { $0.id == id }), b.isUsable else { return false }
            return (try? Repository.open(repo).chain(for: b, among: backups)) != nil
        }
        let points = ["merge-after-running", "merge-file-written@5", "merge-before-list", "merge-before-ok",
                      "merge-after-reparent", "expire-after-deleting-mark", "merge-after-retire"]
        for (n, point) in points.enumerated() {
            try source.execute("UPDATE t SET v = 'a\(n)' WHERE id % 7 = \(n)")
            let merged = try backupAndValidate(s, repo, source, "incremental")
            try source.execute("UPDATE t SET v = 'b\(n)' WHERE id % 11 = \(n)")
            let child = try backupAndValidate(s, repo, source, "incremental")
            let fullID = String(merged.dropLast()) + "F"

            let r = try s.pgbk(["merge", "-B", repo, merged], env: ["PGBK_FAULT": point])
            #expect(r.status == KillSweepTests.killedStatus, "\(point): merge was not stopped there: \(r)")
            let check = try s.pgbk(["validate", "-B", repo, "--recheck"])
            #expect(check.succeeded, "\(point): \(check)")
            let backups = try Repository.open(repo).loadAll().backups
            #expect(restorable(merged, backups) || restorable(fullID, backups), "\(point): the merged point restores")
            #expect(restorable(child, backups), "\(point): the child's point restores")

            let rerun = try s.pgbk(["merge", "-B", repo, merged])
            #expect(rerun.succeeded, "\(point): \(rerun)")
            let after = try Repository.open(repo).loadAll().backups
            #expect(after.first { $0.id == fullID }?.status == .ok, "\(point)")
            #expect(after.first { $0.id == child }?.parentID == fullID, "\(point)")
            #expect(after.first { $0.id == merged }?.status == .deleted, "\(point)")
        }
        // expire --merge (incremental forever, a window of 0 days): the newest backup, an
        // incremental, becomes a full and everything older goes.
        try source.execute("UPDATE t SET v = 'last' WHERE id % 5 = 0")
        let newest = try backupAndValidate(s, repo, source, "incremental")
        usleep(1_100_000)  // the window (0 days) then starts after the newest backup ended
        let dry = try s.pgbk(["expire", "-B", repo, "--keep-data-days", "0", "--merge", "--dry-run"])
        #expect(dry.succeeded && dry.stderr.contains("\(newest) would be merged"), "\(dry)")
        let expire = try s.pgbk(["expire", "-B", repo, "--keep-data-days", "0", "--merge"])
        #expect(expire.succeeded, "\(expire)")
        let left = try Repository.open(repo).loadAll().backups.filter(\.isUsable)
        #expect(left.map(\.id) == [String(newest.dropLast()) + "F"] && left[0].mode == .full, "\(left.map(\.id))")

        // Every OK backup reads back, and the newest restores every committed row.
        let expected = try dumpLines(source)
        let target = s.path + "/restored"
        let restore = try s.pgbk(["restore", "-B", repo, "-D", target, "--recovery-target", "immediate", "--recovery-target-action", "promote"])
        #expect(restore.succeeded, "\(restore)")
        let restored = try TestCluster.startRestored(target, scratch: s, name: "restored")
        defer { restored.stopIfRunning() }
        #expect(try dumpLines(restored) == expected)
    }
}
