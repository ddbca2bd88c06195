import Testing
import Foundation
import PostgresFormat
import Repository
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Bad input gets a one-line error naming what and where, a non-zero exit, and no damage.
@Suite(.ownThread, .serialized, .sharedClusters) struct FailurePathTests {
    /// Issue 23, item 2: a segment missing from the archive after the newest backup leaves
    /// every backup intact but the window broken: the nightly validate fails, naming it.
    @Test func validateFailsOnAGapInTheRecoverableWindow() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let cluster = try TestCluster.createInitialized(s, name: "c", repository: repo)
        defer { cluster.stopIfRunning() }
        _ = try backupAndValidate(s, repo, cluster, "full")
        try cluster.execute("CREATE TABLE t AS SELECT 1 AS n")
        let lost = try #require(try cluster.scalar("SELECT pg_walfile_name(pg_current_wal_lsn())"))
        try cluster.switchWALAndWaitForArchive(repository: repo)
        try cluster.execute("INSERT INTO t VALUES (2)")
        try cluster.switchWALAndWaitForArchive(repository: repo)
        #expect(try s.pgbk(["validate", "-B", repo]).succeeded)
        let archived = try #require(try Repository.open(repo).wal.find(lost))
        let kept = s.path + "/kept"
        try copyFile(from: archived.path, to: kept, mode: 0o600)
        try FileSystem.remove(archived.path)
        let v = try s.pgbk(["validate", "-B", repo])
        #expect(v.status != 0 && v.stderr.contains(lost) && v.stderr.contains("missing"), "\(v)")
        try copyFile(from: kept, to: archived.path, mode: 0o600)
        try s.chownToPostgres(archived.path)
        #expect(try s.pgbk(["validate", "-B", repo]).succeeded)
    }

    /// Issue 23, item 8: with the data directory known and no host or port given, pgbk
    /// connects where that cluster's postmaster.pid says it listens (this one is on its own
    /// port and socket directory), not to libpq's default 5432.
    @Test func theRunningClustersPortAndSocketComeFromPostmasterPid() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let cluster = try TestCluster.createInitialized(s, name: "c", repository: repo)
        defer { cluster.stopIfRunning() }
        let r = try s.pgbk(["backup", "-B", repo, "-D", cluster.dataDir], env: ["PGHOST": "", "PGPORT": ""])
        #expect(r.succeeded, "\(r)")
    }

    /// Issue 23, item 10: init as root would make a repository archive_command (as the
    /// cluster's owner) cannot write: refused before anything is made, naming the fix.
    @Test func initAsRootForAnotherUsersClusterIsRefused() throws {
        guard Command.isRoot else { return }
        let s = try Scratch()
        let cluster = try TestCluster.create(s, name: "c", repository: nil)
        let repo = s.path + "/rootrepo"
        let r = try s.pgbk(["init", "-B", repo, "-D", cluster.dataDir], asCurrentUser: true)
        #expect(failsWithOneError(r) && r.stderr.contains("runuser -u postgres -- pgbk init"), "\(r)")
        #expect(!FileSystem.exists(repo), "nothing was made")
        #expect(try s.pgbk(["init", "-B", repo, "-D", cluster.dataDir]).succeeded, "as postgres it works")
    }

    @Test func restoreRefusesANonEmptyDirectoryAndLeavesItAlone() throws {
        let c = try SharedClusters.get()
        let target = try c.scratch.makeDirectory("nonempty-\(UUID().uuidString.prefix(8))")
        try c.scratch.writeFile(target + "/precious.txt", "do not touch\n")
        let before = try snapshot(target)
        let r = try c.scratch.pgbk(["restore", "-B", c.repository, "-D", target], asCurrentUser: true)
        #expect(r.status != 0)
        #expect(oneLine(r) && r.stderr.contains("not empty") && r.stderr.contains(target), "\(r)")
        #expect(try snapshot(target) == before)
    }

    @Test func restoreRefusesARunningServerAndLeavesItRunning() throws {
        let c = try SharedClusters.get()
        let before = try FileSystem.list(c.primary.dataDir)
        let r = try c.scratch.pgbk(["restore", "-B", c.repository, "-D", c.primary.dataDir], asCurrentUser: true)
        #expect(r.status != 0)
        #expect(oneLine(r) && r.stderr.contains("running") && r.stderr.contains("PID"), "\(r)")
        #expect(try FileSystem.list(c.primary.dataDir) == before)
        #expect(try c.primary.scalar("SELECT count(*) FROM t") == "10000")
    }

    @Test func restoreRefusesATablespaceMappingThatMatchesNothing() throws {
        // The fixture has no tablespace; a mapping that names none is refused before writing.
        let c = try SharedClusters.get()
        let target = c.scratch.path + "/never-created"
        let r = try c.scratch.pgbk(["restore", "-B", c.repository, "-D", target, "-T", "/nowhere=/elsewhere"], asCurrentUser: true)
        #expect(r.status != 0 && oneLine(r) && r.stderr.contains("/nowhere"), "\(r)")
        #expect(!FileSystem.exists(target))
    }

    @Test func archivePushAcceptsTheSameSegmentAgainButRefusesDifferentContent() throws {
        let c = try SharedClusters.get()
        let repo = try Repository.open(c.repository)
        let info = try repo.loadBackup(c.firstBackupID)
        let name = try #require(info.startWALFile)
        let archived = try #require(try repo.wal.find(name))
        let archivedBefore = try snapshot(FileSystem.parentDirectory(of: archived.path))

        let dir = try c.scratch.makeDirectory("push-\(UUID().uuidString.prefix(8))")
        let copy = dir + "/" + name
        #expect(try c.scratch.pgbk(["archive-get", "-B", c.repository, name, copy]).succeeded)
        let again = try c.scratch.pgbk(["archive-push", "-B", c.repository, copy])
        #expect(again.succeeded, "identical content must be accepted: \(again)")

        try flipByte(copy, at: 100_000)
        let r = try c.scratch.pgbk(["archive-push", "-B", c.repository, copy])
        #expect(r.status != 0)
        #expect(oneLine(r) && r.stderr.contains("different content") && r.stderr.contains(name), "\(r)")
        #expect(try snapshot(FileSystem.parentDirectory(of: archived.path)) == archivedBefore)
    }

    @Test func archivePushRefusesASegmentOfAnotherCluster() throws {
        let c = try SharedClusters.get()
        // A completed segment of the other cluster, taken from its own archive.
        let name = try #require(try c.other.scalar("SELECT pg_walfile_name(pg_current_wal_lsn())"))
        try c.other.switchWALAndWaitForArchive(repository: c.otherRepository)
        let dir = try c.scratch.makeDirectory("foreign-\(UUID().uuidString.prefix(8))")
        #expect(try c.scratch.pgbk(["archive-get", "-B", c.otherRepository, name, dir + "/" + name]).succeeded)

        let walBefore = try snapshot(c.repository + "/wal")
        let r = try c.scratch.pgbk(["archive-push", "-B", c.repository, dir + "/" + name])
        #expect(r.status != 0)
        #expect(oneLine(r) && r.stderr.contains("system identifier"), "\(r)")
        #expect(try snapshot(c.repository + "/wal") == walBefore)
    }

    @Test func backupRefusesAClusterTheRepositoryWasNotMadeFor() throws {
        let c = try SharedClusters.get()
        let before = try FileSystem.list(c.repository + "/backup")
        // Wrong data directory.
        let wrongDir = try c.scratch.pgbk(["backup", "-B", c.repository, "-D", c.other.dataDir] + c.other.connectionArgs)
        #expect(wrongDir.status != 0 && oneLine(wrongDir) && wrongDir.stderr.contains("system identifier"), "\(wrongDir)")
        // Right data directory, but connected to the other server.
        let wrongServer = try c.scratch.pgbk(["backup", "-B", c.repository, "-D", c.primary.dataDir] + c.other.connectionArgs)
        #expect(wrongServer.status != 0 && oneLine(wrongServer) && wrongServer.stderr.contains("system identifier"), "\(wrongServer)")
        #expect(try FileSystem.list(c.repository + "/backup") == before)
    }

    @Test func initRefusesAnExistingRepositoryAndANonClusterDirectory() throws {
        let c = try SharedClusters.get()
        let existing = try c.scratch.pgbk(["init", "-B", c.repository, "-D", c.primary.dataDir])
        #expect(existing.status != 0 && oneLine(existing) && existing.stderr.contains("already exists"), "\(existing)")
        let notCluster = try c.scratch.makeDirectory("not-a-cluster")
        let newRepo = c.scratch.path + "/new-repo"
        let r = try c.scratch.pgbk(["init", "-B", newRepo, "-D", notCluster])
        #expect(r.status != 0 && oneLine(r) && r.stderr.contains("not a PostgreSQL data directory"), "\(r)")
        #expect(!FileSystem.exists(newRepo))
    }

    @Test(.enabled(if: Command.isRoot, "only root can write into another user's repository"))
    func rootIsToldToRunAsTheRepositoryOwner() throws {
        let c = try SharedClusters.get()
        let before = try snapshot(c.repository + "/backup")
        let r = try c.scratch.pgbk(["validate", "-B", c.repository], asCurrentUser: true)
        #expect(r.status != 0 && oneLine(r) && r.stderr.contains("run it as postgres"), "\(r)")
        #expect(try snapshot(c.repository + "/backup") == before)
        // Reading is fine as root.
        #expect(try c.scratch.pgbk(["show", "-B", c.repository], asCurrentUser: true).succeeded)
    }

    @Test func backupTimesOutNamingTheSegmentWhenArchivingIsBroken() throws {
        let c = try SharedClusters.get()
        try c.primary.execute("ALTER SYSTEM SET archive_command = 'false'")
        try c.primary.execute("SELECT pg_reload_conf()")
        defer {
            _ = try? c.primary.execute("ALTER SYSTEM RESET archive_command")
            _ = try? c.primary.execute("SELECT pg_reload_conf()")
        }
        let r = try c.scratch.pgbk(["backup", "-B", c.repository, "-D", c.primary.dataDir, "--archive-timeout", "2"] + c.primary.connectionArgs)
        #expect(r.status != 0)
        let error = r.stderr.split(separator: "\n").filter { $0.hasPrefix("pgbk: error:") }
        #expect(error.count == 1, "\(r)")
        let repo = try Repository.open(c.repository)
        let failed = try #require(try repo.loadAll().backups.last)
        let segment = try #require(failed.stopWALFile)
        #expect(error.first?.contains(segment) == true && error.first?.contains("archive_command") == true, "\(r)")
        #expect(failed.status == .error)
    }

    @Test func validateNamesAMissingWALSegmentAndAcceptsItBack() throws {
        let c = try SharedClusters.get()
        let backup = try c.scratch.pgbk(["backup", "-B", c.repository, "-D", c.primary.dataDir] + c.primary.connectionArgs)
        #expect(backup.succeeded, "\(backup)")
        let repo = try Repository.open(c.repository)
        let id = try #require(try repo.backupIDs().last)
        let start = try #require(try repo.loadBackup(id).startWALFile)
        let archived = try #require(try repo.wal.find(start))
        let aside = c.scratch.path + "/aside-" + FileSystem.baseName(of: archived.path)
        try FileSystem.rename(archived.path, aside)
        let r = try c.scratch.pgbk(["validate", "-B", c.repository, id])
        try FileSystem.rename(aside, archived.path)
        #expect(r.status != 0 && r.stderr.contains(start) && r.stderr.contains("not in the archive"), "\(r)")
        #expect(try repo.loadBackup(id).status == .corrupt)
        // Once the segment is back, the backup validates again.
        #expect(try c.scratch.pgbk(["validate", "-B", c.repository, id]).succeeded)
        #expect(try repo.loadBackup(id).status == .ok)
    }

    @Test func environmentVariablesStandForTheOptions() throws {
        let c = try SharedClusters.get()
        let viaEnv = try c.scratch.pgbk(["show"], env: ["BACKUP_PATH": c.repository])
        #expect(viaEnv.succeeded && viaEnv.stdout.contains(c.firstBackupID), "\(viaEnv)")
        let none = try c.scratch.pgbk(["show"])
        #expect(none.status != 0 && none.stderr.contains("BACKUP_PATH"), "\(none)")
        let target = c.scratch.path + "/env-target-nonempty"
        try c.scratch.makeDirectory("env-target-nonempty")
        try c.scratch.writeFile(target + "/x", "x")
        let restore = try c.scratch.pgbk(["restore"], env: ["BACKUP_PATH": c.repository, "PGDATA": target])
        #expect(restore.status != 0 && restore.stderr.contains(target), "PGDATA names the restore target: \(restore)")
    }

    @Test func showPrintsOneBackupAndADetailedTable() throws {
        let c = try SharedClusters.get()
        let one = try c.scratch.pgbk(["show", "-B", c.repository, c.firstBackupID])
        #expect(one.succeeded)
        #expect(one.stdout.contains("BACKUP_ID=\(c.firstBackupID)\n") && one.stdout.contains("STATUS=OK\n"), "\(one)")
        #expect(one.stdout.contains("START_LSN=") && one.stdout.contains("RECOVERY_XID="))
        let detail = try c.scratch.pgbk(["show", "-B", c.repository, "detail"])
        #expect(detail.succeeded && detail.stdout.contains("StartLSN") && detail.stdout.contains(c.firstBackupID), "\(detail)")
        let missing = try c.scratch.pgbk(["show", "-B", c.repository, "20000101-000000F"])
        #expect(missing.status != 0 && missing.stderr.contains("no such backup"), "\(missing)")
    }

    @Test func archiveGetOfAMissingFileExitsOneSilently() throws {
        let c = try SharedClusters.get()
        let r = try c.scratch.pgbk(["archive-get", "-B", c.repository, "00000009.history", c.scratch.path + "/x"])
        #expect(r.status == 1 && r.stderr.isEmpty && r.stdout.isEmpty, "\(r)")
        let seg = try c.scratch.pgbk(["archive-get", "-B", c.repository, "0000000100000000000000FE", c.scratch.path + "/y"])
        #expect(seg.status == 1 && seg.stderr.isEmpty, "\(seg)")
        #expect(!FileSystem.exists(c.scratch.path + "/y"))
    }

    @Test func validateMarksAFlippedByteCorruptAndNamesTheFile() throws {
        let c = try SharedClusters.get()
        let backup = try c.scratch.pgbk(["backup", "-B", c.repository, "-D", c.primary.dataDir] + c.primary.connectionArgs)
        #expect(backup.succeeded, "\(backup)")
        let repo = try Repository.open(c.repository)
        let id = try #require(try repo.backupIDs().last)
        let info = try repo.loadBackup(id)
        let victim = try #require(try repo.loadFileList(info).first { $0.kind == .file && $0.path.hasPrefix("base/") && $0.size > 8192 })
        try flipByte(repo.storedPath(id, victim, compression: info.compression), at: 5000)

        let r = try c.scratch.pgbk(["validate", "-B", c.repository, id])
        #expect(r.status != 0)
        #expect(r.stderr.contains(victim.path) && r.stderr.contains("CORRUPT"), "\(r)")
        #expect(try repo.loadBackup(id).status == .corrupt)
        let restore = try c.scratch.pgbk(["restore", "-B", c.repository, "-D", c.scratch.path + "/from-corrupt", "--backup-id", id])
        #expect(restore.status != 0 && restore.stderr.contains("CORRUPT"), "\(restore)")
    }

    @Test func aCorruptManifestIsReportedByNameAndNotTrusted() throws {
        let c = try SharedClusters.get()
        let backup = try c.scratch.pgbk(["backup", "-B", c.repository, "-D", c.primary.dataDir] + c.primary.connectionArgs)
        #expect(backup.succeeded, "\(backup)")
        let repo = try Repository.open(c.repository)
        let id = try #require(try repo.backupIDs().last)
        let ini = repo.backupInfoPath(id)
        let original = try FileSystem.readAll(ini)
        try flipByte(ini, at: original.count / 2)
        defer { try? AtomicFile.write(ini, original) }

        let show = try c.scratch.pgbk(["show", "-B", c.repository])
        #expect(show.status != 0 && show.stderr.contains(ini) && show.stderr.contains("corrupt"), "\(show)")
        #expect(show.stdout.contains(c.firstBackupID), "the other backups are still listed")
        let validate = try c.scratch.pgbk(["validate", "-B", c.repository, id])
        #expect(validate.status != 0 && oneLine(validate) && validate.stderr.contains(ini), "\(validate)")
        let restore = try c.scratch.pgbk(["restore", "-B", c.repository, "-D", c.scratch.path + "/from-bad-ini", "--backup-id", id])
        #expect(restore.status != 0 && restore.stderr.contains(ini), "\(restore)")
    }

    @Test func archiveGetStopsRecoveryOnACorruptArchivedSegment() throws {
        let c = try SharedClusters.get()
        try c.other.execute("INSERT INTO t SELECT g FROM generate_series(1, 1000) g")
        let name = try #require(try c.other.scalar("SELECT pg_walfile_name(pg_current_wal_lsn())"))
        try c.other.switchWALAndWaitForArchive(repository: c.otherRepository)
        let archived = try #require(try Repository.open(c.otherRepository).wal.find(name))
        try flipByte(archived.path, at: 4096)
        let destination = c.scratch.path + "/RECOVERYXLOG-\(UUID().uuidString.prefix(8))"
        let r = try c.scratch.pgbk(["archive-get", "-B", c.otherRepository, name, destination])
        // Above 125: PostgreSQL aborts recovery instead of treating the file as absent.
        #expect(r.status > 125, "\(r)")
        #expect(r.stderr.contains(archived.path) && r.stderr.contains("checksum"), "\(r)")
        #expect(!FileSystem.exists(destination))
    }

    @Test func aBackupKilledWhileWaitingForItsWALIsNeverDoneAndValidateMarksItError() throws {
        let c = try SharedClusters.get()
        let repo = try Repository.open(c.repository)
        // Stall the archiver so the backup sits in its final wait, files copied, label stored.
        try c.primary.execute("ALTER SYSTEM SET archive_command = 'false'")
        try c.primary.execute("SELECT pg_reload_conf()")
        defer {
            _ = try? c.primary.execute("ALTER SYSTEM RESET archive_command")
            _ = try? c.primary.execute("SELECT pg_reload_conf()")
        }
        let before = Set(try repo.backupIDs())
        let process = try c.scratch.spawnPgbk(["backup", "-B", c.repository, "-D", c.primary.dataDir, "--archive-timeout", "300"] + c.primary.connectionArgs)
        var id = ""
        try waitUntil("the backup to reach its WAL wait") {
            guard let new = try Set(repo.backupIDs()).subtracting(before).first else { return false }
            id = new
            return FileSystem.exists(repo.dataDirectory(new) + "/backup_label")
        }
        let running = try repo.loadBackup(id)
        #expect(running.status == .running)
        let pid = try #require(running.pid)
        kill(pid, SIGKILL)
        _ = process.wait()

        let shown = try parseBackupsJSON(try c.scratch.pgbk(["show", "-B", c.repository, "--json"]).stdout)
        let status = shown.first { $0["id"] as? String == id }?["status"] as? String
        #expect(status == "RUNNING", "a killed backup must not look complete")
        _ = try c.scratch.pgbk(["validate", "-B", c.repository])
        let after = try repo.loadBackup(id)
        #expect(after.status == .error)
        #expect(after.statusReason?.contains("PID \(pid)") == true)
        #expect(!FileSystem.exists(repo.dataDirectory(id)), "an orphan's data is removed")
    }

    @Test func aBackupKilledAtAnArbitraryMomentNeverPassesAsDone() throws {
        let c = try SharedClusters.get()
        let repo = try Repository.open(c.repository)
        try c.primary.execute("CREATE TABLE IF NOT EXISTS bulk AS SELECT g, repeat(md5(g::text), 8) AS v FROM generate_series(1, 200000) g")
        let before = Set(try repo.backupIDs())
        let process = try c.scratch.spawnPgbk(["backup", "-B", c.repository, "-D", c.primary.dataDir] + c.primary.connectionArgs)
        var id = ""
        var pid: Int32 = 0
        try waitUntil("the backup to start") {
            guard let new = try Set(repo.backupIDs()).subtracting(before).first,
                  let info = try? repo.loadBackup(new), let p = info.pid else { return false }
            (id, pid) = (new, p)
            return true
        }
        kill(pid, SIGKILL)
        _ = process.wait()
        let killed = try repo.loadBackup(id)
        #expect(killed.status == .running)
        // Whatever validate says of the other backups, the orphan must become ERROR.
        _ = try c.scratch.pgbk(["validate", "-B", c.repository])
        #expect(try repo.loadBackup(id).status == .error)

        // The server dropped the killed session's backup: the next one works.
        let next = try c.scratch.pgbk(["backup", "-B", c.repository, "-D", c.primary.dataDir] + c.primary.connectionArgs)
        #expect(next.succeeded, "\(next)")
    }
}
