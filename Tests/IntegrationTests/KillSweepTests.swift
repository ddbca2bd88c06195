import Testing
import Foundation
import PostgresFormat
import Repository

/// pgbk killed (SIGKILL, through its PGBK_FAULT injection points) at every point where a
/// crash could matter, each kill followed by the next command of the kind; at the end, every
/// OK backup reads back intact, the archive is intact, and the newest backup restores every
/// committed row on a running server.
@Suite(.ownThread, .serialized) struct KillSweepTests {
    static let killedStatus: Int32 = 128 + 9

    @Test func killedAtEveryInjectionPointNothingPassesAsUsableThatIsNot() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let cluster = try TestCluster.createInitialized(s, name: "sweep", repository: repo)
        defer { cluster.stopIfRunning() }
        let backupArgs = ["backup", "-B", repo, "-D", cluster.dataDir] + cluster.connectionArgs
        func killed(_ args: [String], at point: String) throws -> CommandResult {
            let r = try s.pgbk(args, env: ["PGBK_FAULT": point])
            #expect(r.status == Self.killedStatus, "\(point): pgbk was not stopped there: \(r)")
            return r
        }
        func newest() throws -> BackupInfo { try #require(try Repository.open(repo).loadAll().backups.last) }

        try cluster.execute("CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g")
        #expect(try s.pgbk(backupArgs).succeeded)
        #expect(try s.pgbk(["validate", "-B", repo]).succeeded)

        // Backups: killed while copying, after pg_backup_stop, before and after the manifest.
        for point in ["backup-file-copied@3", "backup-after-stop", "backup-before-manifest", "backup-before-done"] {
            try cluster.execute("INSERT INTO t SELECT g, 'x' FROM generate_series(1, 1000) g")
            _ = try killed(backupArgs + ["-b", "incremental"], at: point)
            let orphan = try newest()
            #expect(orphan.status == .running, "\(point): a killed backup is never DONE")
            _ = try s.pgbk(["validate", "-B", repo])
            #expect(try Repository.open(repo).loadBackup(orphan.id).status == .error, "\(point)")
            let next = try s.pgbk(backupArgs + ["-b", "incremental"])
            #expect(next.succeeded, "\(point): the next backup works: \(next)")
        }

        // Validate killed before it records a verdict: the backup stays DONE, then becomes OK.
        _ = try killed(["validate", "-B", repo], at: "validate-before-status")
        #expect(try newest().status == .done)
        #expect(try s.pgbk(["validate", "-B", repo]).succeeded)
        #expect(try newest().status == .ok)

        // archive-push killed before and after publication, into a repository of its own.
        let pushRepo = s.path + "/push-repo"
        #expect(try s.pgbk(["init", "-B", pushRepo, "-D", cluster.dataDir]).succeeded)
        let name = try #require(try cluster.scalar("SELECT pg_walfile_name(pg_current_wal_lsn())"))
        try cluster.switchWALAndWaitForArchive(repository: repo)
        let segment = try s.makeDirectory("segment") + "/" + name
        #expect(try s.pgbk(["archive-get", "-B", repo, name, segment]).succeeded)
        _ = try killed(["archive-push", "-B", pushRepo, segment], at: "archive-push-before-publish")
        let absent = try s.pgbk(["archive-get", "-B", pushRepo, name, s.path + "/absent"])
        #expect(absent.status == 1, "nothing is published by a killed push: \(absent)")
        _ = try killed(["archive-push", "-B", pushRepo, segment], at: "archive-push-after-publish")
        #expect(try s.pgbk(["archive-get", "-B", pushRepo, name, s.path + "/present"]).succeeded)
        #expect(try FileSystem.readAll(s.path + "/present", limit: 1 << 25) == FileSystem.readAll(segment, limit: 1 << 25))
        let again = try s.pgbk(["archive-push", "-B", pushRepo, segment])
        #expect(again.succeeded && (again.stdout + again.stderr).contains("already archived"), "\(again)")

        // Restore killed halfway and just before pg_control: PostgreSQL cannot start on it.
        for point in ["restore-unit-written@2", "restore-before-control"] {
            let target = s.path + "/killed-restore-" + point.prefix(12)
            _ = try killed(["restore", "-B", repo, "-D", target, "-j", "2"], at: point)
            #expect(FileSystem.exists(target) && !FileSystem.exists(target + "/global/pg_control"), "\(point)")
        }

        // Retention killed after marking a backup DELETING, in the middle of removing WAL, and
        // purge killed halfway: each next run finishes the job.
        for _ in 0..<2 { #expect(try s.pgbk(backupArgs).succeeded) }
        #expect(try s.pgbk(["validate", "-B", repo]).succeeded)
        let expire = ["expire", "-B", repo, "--keep-data-generations", "2"]
        _ = try killed(expire, at: "expire-after-deleting-mark")
        #expect(try Repository.open(repo).loadAll().backups.contains { $0.status == .deleting })
        _ = try killed(expire, at: "expire-wal-remove@2")
        #expect(!(try Repository.open(repo).loadAll().backups.contains { $0.status == .deleting }))
        #expect(try s.pgbk(expire).succeeded)
        _ = try killed(["purge", "-B", repo], at: "purge-after-data")
        #expect(try s.pgbk(["purge", "-B", repo]).succeeded)

        // copy killed after a WAL file, after the RUNNING mark, among the files and just before
        // OK: the target never shows a usable backup that is not whole; the rerun finishes.
        let copyRepo = s.path + "/copy"
        #expect(try s.pgbk(["init", "-B", copyRepo, "-D", cluster.dataDir]).succeeded)
        let copy = ["copy", "-B", repo, "-B", copyRepo, "--from-repo", "1", "--to-repo", "2", "-j", "1"]
        for point in ["copy-wal-copied@2", "copy-after-running", "copy-file-copied@3", "copy-before-done"] {
            _ = try killed(copy, at: point)
            let there = try Repository.open(copyRepo).loadAll().backups
            let usableThere = there.filter(\.isUsable)
            #expect(usableThere.isEmpty, "\(point): \(there.map { "\($0.id) \($0.status)" })")
        }
        let finished = try s.pgbk(copy)
        #expect(finished.succeeded, "\(finished)")
        let copiedCheck = try s.pgbk(["validate", "-B", copyRepo, "--recheck"])
        #expect(copiedCheck.succeeded, "\(copiedCheck)")
        let copiedIDs = try Repository.open(copyRepo).loadAll().backups.filter(\.isUsable).map(\.id)
        let sourceIDs = try Repository.open(repo).loadAll().backups.filter(\.isUsable).map(\.id)
        #expect(!copiedIDs.isEmpty && copiedIDs == sourceIDs)

        // Every OK backup and every archived file reads back intact.
        let final = try s.pgbk(["validate", "-B", repo, "--recheck"])
        #expect(final.succeeded, "\(final)")
        let usable = try Repository.open(repo).loadAll().backups.filter(\.isUsable)
        #expect(!usable.isEmpty && usable.allSatisfy { $0.status == .ok })

        // And the newest restores every committed row.
        try cluster.execute("INSERT INTO t SELECT g, 'last' FROM generate_series(1, 500) g")
        let expected = try cluster.scalar("SELECT count(*) || ':' || sum(id) FROM t")
        try cluster.switchWALAndWaitForArchive(repository: repo)
        let target = s.path + "/restored"
        let restore = try s.pgbk(["restore", "-B", repo, "-D", target])
        #expect(restore.succeeded, "\(restore)")
        let restored = try TestCluster.startRestored(target, scratch: s, name: "restored")
        defer { restored.stopIfRunning() }
        #expect(try restored.scalar("SELECT count(*) || ':' || sum(id) FROM t") == expected)
    }
}
