import Testing
import Foundation
import PostgresFormat
import Repository
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Issue 10: every promise a hostile tester broke, tried again on a real server.
@Suite(.ownThread, .serialized, .sharedClusters) struct TrustTests {
    func newBackup(_ c: SharedClusters, validate: Bool = true) throws -> String {
        let r = try c.scratch.pgbk(["backup", "-B", c.repository, "-D", c.primary.dataDir] + c.primary.connectionArgs)
        guard r.succeeded else { throw CommandError(result: r) }
        let id = try #require(try Repository.open(c.repository).backupIDs().last)
        if validate { #expect(try c.scratch.pgbk(["validate", "-B", c.repository, id]).succeeded) }
        return id
    }

    /// A second repository for the same cluster, for pushes that must not touch the shared one.
    func freshRepository(_ c: SharedClusters) throws -> String {
        let path = c.scratch.path + "/repo-" + UUID().uuidString.prefix(8)
        let r = try c.scratch.pgbk(["init", "-B", path, "-D", c.primary.dataDir])
        guard r.succeeded else { throw CommandError(result: r) }
        return path
    }

    /// A completed, archived segment of the primary, fetched into `dir` under its own name.
    func archivedSegment(_ c: SharedClusters, into dir: String) throws -> (name: String, path: String) {
        try c.primary.execute("INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 2000) g")
        let name = try #require(try c.primary.scalar("SELECT pg_walfile_name(pg_current_wal_lsn())"))
        try c.primary.switchWALAndWaitForArchive(repository: c.repository)
        let path = dir + "/" + name
        let r = try c.scratch.pgbk(["archive-get", "-B", c.repository, name, path])
        guard r.succeeded else { throw CommandError(result: r) }
        return (name, path)
    }

    // Item 1 (and item 6's ArchiveWALReader): a damaged segment after the backup.
    @Test func aDamagedSegmentAfterTheBackupMakesRestoreAndValidateRefuse() throws {
        let c = try SharedClusters.get()
        _ = try newBackup(c)
        try c.primary.execute("SELECT pg_switch_wal()")
        try c.primary.execute("CREATE TABLE IF NOT EXISTS marks(x xid8)")
        try c.primary.execute("INSERT INTO marks SELECT pg_current_xact_id()")
        let xid = try #require(try c.primary.scalar("SELECT max(x::text::bigint)::text FROM marks"))
        let segment = try #require(try c.primary.scalar("SELECT pg_walfile_name(pg_current_wal_lsn())"))
        try c.primary.execute("INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 5000) g")
        let lsn = try #require(try c.primary.scalar("SELECT pg_current_wal_lsn()::text"))
        try c.primary.switchWALAndWaitForArchive(repository: c.repository)
        let archived = try #require(try Repository.open(c.repository).wal.find(segment))
        // Far behind the commit the xid target stops at, in the same segment.
        try flipByte(archived.path, at: 12 << 20)
        defer { try? flipByte(archived.path, at: 12 << 20) }

        for target in [["--recovery-target-xid", xid], ["--recovery-target-lsn", lsn], []] {
            let check = try c.scratch.pgbk(["validate", "-B", c.repository] + (target.isEmpty ? ["--recovery-target-time", "2100-01-01 00:00:00+00"] : target))
            #expect(check.status != 0 && check.stderr.contains(segment), "\(target): \(check)")
            let dest = c.scratch.path + "/never-" + UUID().uuidString.prefix(8)
            let restore = try c.scratch.pgbk(["restore", "-B", c.repository, "-D", dest] + target)
            #expect(restore.status != 0 && oneLine(restore) && restore.stderr.contains(segment)
                    && (restore.stderr.contains("damaged") || restore.stderr.contains("corrupt")), "\(restore)")
            #expect(!FileSystem.exists(dest), "nothing is written before the proof")
        }
        let plain = try c.scratch.pgbk(["validate", "-B", c.repository])
        #expect(plain.status != 0 && plain.stderr.contains(segment) && plain.stderr.contains("damaged"), "\(plain)")
    }

    // Items 2 and 5: concurrent pushes of one name.
    @Test func concurrentPushesOfOneNameStoreExactlyWhatSucceeded() throws {
        let c = try SharedClusters.get()
        let dirA = try c.scratch.makeDirectory("race-a"), dirB = try c.scratch.makeDirectory("race-b")
        let (name, original) = try archivedSegment(c, into: dirA)
        let other = dirB + "/" + name
        try copyFile(from: original, to: other, mode: 0o600)
        try c.scratch.chownToPostgres(other)
        try flipByte(other, at: 1 << 20)  // same header, other content
        let contents = [original: try FileSystem.readAll(original, limit: 1 << 25), other: try FileSystem.readAll(other, limit: 1 << 25)]
        for round in 0..<8 {
            let repo = try freshRepository(c)
            let pushes = try [original, other].map { try c.scratch.spawnPgbk(["archive-push", "-B", repo, $0]) }.map { $0.wait() }
            let winners = zip([original, other], pushes).filter { $0.1.succeeded }.map(\.0)
            #expect(winners.count == 1, "round \(round): exactly one push of different content succeeds: \(pushes)")
            let fetched = c.scratch.path + "/fetched-\(round)"
            #expect(try c.scratch.pgbk(["archive-get", "-B", repo, name, fetched]).succeeded)
            if let winner = winners.first {
                #expect(try FileSystem.readAll(fetched, limit: 1 << 25) == contents[winner], "round \(round): the archive holds the winner's bytes")
            }
            try? FileSystem.remove(fetched)
        }
        // The same bytes at once with two compressions: both succeed, one copy is kept.
        let repo = try freshRepository(c)
        let same = try c.scratch.makeDirectory("race-c") + "/" + name
        try copyFile(from: original, to: same, mode: 0o600)
        try c.scratch.chownToPostgres(same)
        let pushes = try [["--compress", "zstd", original], ["--compress", "lz4", same]]
            .map { try c.scratch.spawnPgbk(["archive-push", "-B", repo] + $0) }.map { $0.wait() }
        #expect(pushes.allSatisfy { $0.succeeded }, "\(pushes)")
        #expect(try Repository.open(repo).wal.find(name) != nil, "exactly one copy (find refuses two)")
    }

    // Item 5: content that is not what its name says.
    @Test func archivePushRefusesContentThatIsNotWhatItsNameSays() throws {
        let c = try SharedClusters.get()
        let repo = try freshRepository(c)
        let dir = try c.scratch.makeDirectory("names")
        try c.scratch.writeFile(dir + "/00000009.history", "garbage\n")
        let garbage = try c.scratch.pgbk(["archive-push", "-B", repo, dir + "/00000009.history"])
        #expect(garbage.status != 0 && oneLine(garbage) && garbage.stderr.contains("00000009.history"), "\(garbage)")
        try c.scratch.writeFile(dir + "/00000009.history", "1\t0/3000000\tno recovery target specified\n")
        #expect(try c.scratch.pgbk(["archive-push", "-B", repo, dir + "/00000009.history"]).succeeded, "the genuine file can still be pushed")

        let (name, path) = try archivedSegment(c, into: dir)
        let segment = try #require(WALSegmentName(name, segmentSize: 16 << 20))
        let nextName = WALSegmentName(timeline: segment.timeline, segmentNumber: segment.segmentNumber + 1, segmentSize: 16 << 20).name
        try copyFile(from: path, to: dir + "/" + nextName, mode: 0o600)
        try c.scratch.chownToPostgres(dir + "/" + nextName)
        let wrong = try c.scratch.pgbk(["archive-push", "-B", repo, dir + "/" + nextName])
        #expect(wrong.status != 0 && oneLine(wrong) && wrong.stderr.contains("another segment"), "\(wrong)")
        #expect(try Repository.open(repo).wal.find(nextName) == nil)
        #expect(try c.scratch.pgbk(["archive-push", "-B", repo, path]).succeeded)
    }

    // Item 3: a file list that points outside the target.
    @Test func aFileListEntryOutsideTheTargetIsRefusedEverywhere() throws {
        let c = try SharedClusters.get()
        let id = try newBackup(c)
        let repo = try Repository.open(c.repository)
        let original = try repo.loadBackup(id)
        let entries = try repo.loadFileList(original)
        let listPath = repo.fileListPath(id)
        let listBefore = try FileSystem.readAll(listPath, limit: 1 << 30)
        defer {
            try? AtomicFile.write(listPath, listBefore)
            try? c.scratch.chownToPostgres(listPath)
            try? repo.saveBackup(original)
            try? c.scratch.chownToPostgres(repo.backupInfoPath(id))
        }
        let marker = "escaped-" + UUID().uuidString.prefix(8)
        let hostile: [(String, FileEntry)] = [
            ("..", FileEntry(kind: .file, path: "../" + marker, mode: 0o600, size: 0, checksum: 0)),
            ("outside pg_tblspc", FileEntry(kind: .symlink, path: "base/" + marker, mode: 0o777, linkTarget: c.scratch.path + "/" + marker)),
            ("absolute", FileEntry(kind: .directory, path: c.scratch.path + "/" + marker, mode: 0o700)),
            // Issue 22, defect 14: a tablespace link to a directory that is absent (so restore
            // would create it) with a file directly below it, as ~postgres/.ssh/authorized_keys.
            ("outside PostgreSQL's PG_", FileEntry(kind: .file, path: "pg_tblspc/99999/" + marker, mode: 0o600, size: 0, checksum: 0)),
        ]
        let link = FileEntry(kind: .symlink, path: "pg_tblspc/99999", mode: 0o777, linkTarget: c.scratch.path + "/ts-" + marker)
        /// The list resealed with valid checksums, as someone with write access to the share could.
        func reseal(_ list: [FileEntry]) throws -> BackupInfo {
            let text = FileList.encode(list)
            try AtomicFile.write(listPath, text: text)
            try c.scratch.chownToPostgres(listPath)
            var info = original
            info.fileListChecksum = CRC32C.checksum(text)
            try repo.saveBackup(info)
            try c.scratch.chownToPostgres(repo.backupInfoPath(id))
            return info
        }
        for (why, bad) in hostile {
            let info = try reseal(entries + (bad.path.hasPrefix("pg_tblspc/") ? [link, bad] : [bad]))

            let validate = try c.scratch.pgbk(["validate", "-B", c.repository, id])
            #expect(validate.status != 0 && validate.stderr.contains(why) && validate.stderr.contains("CORRUPT"), "\(why): \(validate)")
            try repo.saveBackup(info)  // validate marked it CORRUPT; restore must refuse on its own
            try c.scratch.chownToPostgres(repo.backupInfoPath(id))
            let dest = c.scratch.path + "/restore-" + marker
            let restore = try c.scratch.pgbk(["restore", "-B", c.repository, "-D", dest, "--backup-id", id])
            #expect(restore.status != 0 && oneLine(restore) && restore.stderr.contains(why), "\(why): \(restore)")
            #expect(!FileSystem.exists(dest) && !FileSystem.exists(c.scratch.path + "/" + marker), "\(why): nothing written")
            #expect(!FileSystem.exists(c.scratch.path + "/ts-" + marker), "\(why): nothing written")
        }

        // A link whose entries are well-formed, to a location the backup's tablespace_map
        // does not name: validate has nothing to say, restore refuses unless -T maps it, and
        // prints where each tablespace goes before writing anything.
        let versionDirectory = try #require(try c.primary.scalar("SELECT 'PG_' || current_setting('server_version_num')::int / 10000 || '_' || catalog_version_no FROM pg_control_system()"))
        _ = try reseal(entries + [link, FileEntry(kind: .directory, path: "pg_tblspc/99999/" + versionDirectory, mode: 0o700)])
        let dest = c.scratch.path + "/restore-named-" + marker
        let refused = try c.scratch.pgbk(["restore", "-B", c.repository, "-D", dest, "--backup-id", id])
        #expect(refused.status != 0 && oneLine(refused) && refused.stderr.contains("tablespace_map does not name"), "\(refused)")
        #expect(!FileSystem.exists(dest) && !FileSystem.exists(c.scratch.path + "/ts-" + marker), "nothing written")
        let mappedTo = c.scratch.path + "/mapped-" + marker
        let mapped = try c.scratch.pgbk(["restore", "-B", c.repository, "-D", dest, "--backup-id", id,
                                         "-T", c.scratch.path + "/ts-" + marker + "=" + mappedTo])
        #expect(mapped.succeeded && mapped.stderr.contains("tablespace 99999 will be restored into \(mappedTo)"), "\(mapped)")
        #expect(FileSystem.exists(mappedTo + "/" + versionDirectory))
    }

    // Item 4: an unreadable backup.ini is a failure, not a backup to skip.
    @Test func anUnreadableBackupIniFailsValidateAndStopsIncrementals() throws {
        let c = try SharedClusters.get()
        let id = try newBackup(c)
        let repo = try Repository.open(c.repository)
        let ini = repo.backupInfoPath(id)
        let original = try FileSystem.readAll(ini)
        try flipByte(ini, at: original.count / 2)
        defer { try? AtomicFile.write(ini, original); try? c.scratch.chownToPostgres(ini) }

        let validate = try c.scratch.pgbk(["validate", "-B", c.repository])
        #expect(validate.status != 0 && validate.stderr.contains(ini), "\(validate)")
        #expect(validate.stderr.contains("backup \(id): CORRUPT") || validate.stdout.contains("backup \(id): CORRUPT"), "\(validate)")
        let incremental = try c.scratch.pgbk(["backup", "-B", c.repository, "-D", c.primary.dataDir, "-b", "incremental"] + c.primary.connectionArgs)
        #expect(incremental.status != 0 && incremental.stderr.contains(id) && incremental.stderr.contains("cannot be read"), "\(incremental)")
        let expire = try c.scratch.pgbk(["expire", "-B", c.repository, "--keep-data-generations", "1"])
        #expect(expire.status != 0 && oneLine(expire) && expire.stderr.contains(id), "\(expire)")
    }

    // Item 6: an I/O error while validating never becomes OK.
    @Test func anErrorWhileReadingABackupBackNeverMarksItOK() throws {
        let c = try SharedClusters.get()
        let id = try newBackup(c, validate: false)
        let r = try c.scratch.pgbk(["validate", "-B", c.repository, id], env: ["PGBK_FAULT": "validate-read-file@2:error"])
        #expect(r.status != 0 && r.stderr.contains("injected"), "\(r)")
        #expect(try Repository.open(c.repository).loadBackup(id).status == .done)
        #expect(try c.scratch.pgbk(["validate", "-B", c.repository, id]).succeeded)
    }

    // Item 6: delete DATE takes the zones that --recovery-target-time takes.
    @Test func deleteAcceptsTimeZones() throws {
        let c = try SharedClusters.get()
        for date in [["2000-01-01", "12:00:00", "-05"], ["2000-01-01 12:00:00 UTC"], ["2000-01-01", "+02:00"]] {
            let r = try c.scratch.pgbk(["delete", "-B", c.repository, "--dry-run"] + date)
            // It speaks of deleting, not expiring (issue 23, item 11).
            #expect(r.succeeded && (r.stderr.contains("nothing to delete") || r.stdout.contains("would remove")) && !(r.stdout + r.stderr).contains("expire"),
                    "\(date): \(r)")
        }
        let bad = try c.scratch.pgbk(["delete", "-B", c.repository, "--dry-run", "2000-01-01", "Mars/Olympus"])
        #expect(bad.status != 0 && oneLine(bad) && bad.stderr.contains("Mars/Olympus"), "\(bad)")
    }

    // Item 6: COMMIT PREPARED is matched by its prepared xid.
    @Test func aPreparedTransactionIsARecoveryTarget() throws {
        let c = try SharedClusters.get()
        try c.primary.execute("ALTER SYSTEM SET max_prepared_transactions = 4")
        try c.primary.stop()
        try c.primary.start()
        _ = try newBackup(c)
        let session = try c.primary.connect()
        _ = try session.query("BEGIN")
        _ = try session.query("INSERT INTO t VALUES (-1, 'prepared')")
        let xid = try #require(try session.query("SELECT pg_current_xact_id()::text").single)
        _ = try session.query("PREPARE TRANSACTION 'pgbk-test'")
        try c.primary.execute("COMMIT PREPARED 'pgbk-test'")
        try c.primary.switchWALAndWaitForArchive(repository: c.repository)
        let r = try c.scratch.pgbk(["validate", "-B", c.repository, "--recovery-target-xid", xid])
        #expect(r.succeeded && r.stdout.contains("recovery stops just after the commit of xid \(xid)"), "\(r)")
        // Issue 23, item 7: not inclusive, PostgreSQL stops before it, and the line says so.
        let before = try c.scratch.pgbk(["validate", "-B", c.repository, "--recovery-target-xid", xid, "--recovery-target-inclusive", "false"])
        #expect(before.succeeded && before.stdout.contains("recovery stops just before the commit of xid \(xid)"), "\(before)")
    }

    // Item 7: OK backups are read back again on request.
    @Test func recheckFindsBitRotInAnOKBackup() throws {
        let c = try SharedClusters.get()
        let id = try newBackup(c)
        let repo = try Repository.open(c.repository)
        let info = try repo.loadBackup(id)
        let victim = try #require(try repo.loadFileList(info).first { $0.kind == .file && $0.path.hasPrefix("base/") && $0.size > 8192 })
        let stored = repo.storedPath(id, victim, compression: info.compression)
        try flipByte(stored, at: 4000)
        let routine = try c.scratch.pgbk(["validate", "-B", c.repository])
        #expect(routine.succeeded && !routine.stderr.contains(id), "DONE backups only, as before: \(routine)")
        let recheck = try c.scratch.pgbk(["validate", "-B", c.repository, "--recheck"])
        #expect(recheck.status != 0 && recheck.stderr.contains(victim.path), "\(recheck)")
        #expect(try repo.loadBackup(id).status == .corrupt)
        try flipByte(stored, at: 4000)
        let days = try c.scratch.pgbk(["validate", "-B", c.repository, "--recheck-days", "0"])
        #expect(days.succeeded, "\(days)")
        #expect(try repo.loadBackup(id).status == .ok && repo.loadBackup(id).verifyTime != nil)
    }

    // Item 8: path components in IDs, negative numbers, read-only repositories, stale temps.
    @Test func idsAreNotPathsAndNegativeNumbersAreNamed() throws {
        let c = try SharedClusters.get()
        let traversal = "../../other-repo/backup/" + c.firstBackupID
        for args in [["restore", "-B", c.repository, "-D", c.scratch.path + "/x", "--backup-id", traversal],
                     ["show", "-B", c.repository, traversal], ["validate", "-B", c.repository, traversal]] {
            let r = try c.scratch.pgbk(args)
            #expect(r.status != 0 && oneLine(r) && r.stderr.contains("not a backup ID"), "\(r)")
        }
        for (args, message) in [(["expire", "--keep-data-generations", "-1"], "at least 1, not -1"),
                                (["validate", "-j", "-2"], "1 to 64, not -2"),
                                (["validate", "--lock-timeout", "-1"], "0 or more seconds, not -1"),
                                (["expire", "--keep-data-days", "1", "--keep-arclog-files", "-3"], "must not be negative, not -3")] {
            let r = try c.scratch.pgbk([args[0], "-B", c.repository] + args.dropFirst())
            #expect(r.status != 0 && oneLine(r) && r.stderr.contains(message), "\(args): \(r)")
        }
        let dir = try c.scratch.makeDirectory("neg")
        let (_, path) = try archivedSegment(c, into: dir)
        let repo = try freshRepository(c)
        let zstdNegative = try c.scratch.pgbk(["archive-push", "-B", repo, "--compress", "zstd", "--compress-level", "-3", path])
        #expect(zstdNegative.succeeded, "zstd's negative levels are levels: \(zstdNegative)")
    }

    @Test func aReadOnlyRepositoryCanBeRestoredFrom() throws {
        let c = try SharedClusters.get()
        let copy = c.scratch.path + "/ro-repo"
        #expect(try Command.run("/bin/cp", ["-a", c.repository, copy]).succeeded)
        try FileSystem.remove(copy + "/lock")
        #expect(try Command.run("/bin/chmod", ["-R", "a-w", copy]).succeeded)
        defer { _ = try? Command.run("/bin/chmod", ["-R", "u+w", copy]) }
        let dest = c.scratch.path + "/from-ro"
        let r = try c.scratch.pgbk(["restore", "-B", copy, "-D", dest, "--backup-id", c.firstBackupID, "--recovery-target", "immediate"])
        #expect(r.succeeded, "\(r)")
        #expect(FileSystem.exists(dest + "/global/pg_control"))
    }

    @Test func purgeRemovesWhatKilledPushesLeftBehind() throws {
        let c = try SharedClusters.get()
        let repo = try Repository.open(c.repository)
        let dir = try #require(try FileSystem.list(repo.walRoot).first { $0.count == 16 })
        let stale = repo.walRoot + "/" + dir + "/.000000010000000000000001.tmp.99999.dead"
        let fresh = repo.walRoot + "/" + dir + "/.000000010000000000000001.tmp.99998.live"
        for path in [stale, fresh] { try c.scratch.writeFile(path, "partial") }
        try FileSystem.setModificationTime(stale, Timestamp.now().seconds - 7200)
        #expect(try c.scratch.pgbk(["purge", "-B", c.repository]).succeeded)
        #expect(!FileSystem.exists(stale) && FileSystem.exists(fresh))
        try FileSystem.remove(fresh)
    }
}
