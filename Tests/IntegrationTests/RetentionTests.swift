import Testing
import Foundation
import PostgresFormat
import Repository
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Moves a backup's times into the past: retention by days without waiting days.
func backDate(_ repo: Repository, _ id: String, days: Double) throws {
    var info = try repo.loadBackup(id)
    let shift = Int64(days * 86_400)
    info.startTime = Timestamp(seconds: info.startTime.seconds - shift)
    info.endTime = info.endTime.map { Timestamp(seconds: $0.seconds - shift) }
    try repo.saveBackup(info)
}

func statuses(_ s: Scratch, _ repo: String) throws -> [String: String] {
    let all = try parseBackupsJSON(try s.pgbk(["show", "-B", repo, "-a", "--json"]).stdout)
    return Dictionary(uniqueKeysWithValues: all.compactMap { b in (b["id"] as? String).map { ($0, b["status"] as? String ?? "") } })
}

func archivedSegments(_ repo: Repository) throws -> [UInt64] {
    var out: [UInt64] = []
    for dir in try repo.wal.segmentDirectories() {
        for f in try repo.wal.list(directory: dir) where WALFileKind(fileName: f.walName) == .segment {
            if let n = WALSegmentName(f.walName, segmentSize: UInt64(repo.identity.walSegmentSize)) { out.append(n.segmentNumber) }
        }
    }
    return out.sorted()
}

@Suite(.ownThread) struct RetentionTests {
    @Test func daysThenGenerationsKeepExactlyWhatTheyShouldAndWhatIsKeptRestores() throws {
        let s = try Scratch()
        let repoPath = s.path + "/repo"
        let source = try createJournalCluster(s, repo: repoPath)
        defer { source.stopIfRunning() }
        let journal = Journal(cluster: source)
        let f1 = try backupAndValidate(s, repoPath, source, "full")
        try journal.write(1...3, switchEvery: 3)
        let i1 = try backupAndValidate(s, repoPath, source, "incremental")
        try journal.write(4...6, switchEvery: 3)
        let f2 = try backupAndValidate(s, repoPath, source, "full")
        try journal.write(7...9, switchEvery: 3)
        let i2 = try backupAndValidate(s, repoPath, source, "incremental")
        try journal.write(10...12, switchEvery: 3)
        let f3 = try backupAndValidate(s, repoPath, source, "full")
        try journal.write(13...15, switchEvery: 3)
        try source.switchWALAndWaitForArchive(repository: repoPath)
        let early = try journal.timeBetween(2, 3)
        let inWindow = try journal.timeBetween(8, 9)
        try source.stop()

        let repo = try Repository.open(repoPath)
        for (id, days) in [(f1, 20.0), (i1, 19), (f2, 10), (i2, 9), (f3, 3)] { try backDate(repo, id, days: days) }
        // Failed backups from long ago (fabricated catalog entries).
        for (id, status) in [("20000101-000000F", BackupStatus.error), ("20000102-000000F", .corrupt)] {
            try FileSystem.makeDirectory(repo.backupDirectory(id))
            var info = BackupInfo(id: id, mode: .full, status: status, startTime: Timestamp(seconds: 946_684_800))
            info.statusReason = "fabricated"
            try repo.saveBackup(info)
        }
        try s.chownToPostgres(repo.backupRoot)
        for id in try repo.backupIDs() { _ = try Command.run("/bin/chown", ["-R", "postgres:", repo.backupDirectory(id)]) }

        // Dry run: says what would go, changes nothing.
        let before = try statuses(s, repoPath)
        let dry = try s.pgbk(["expire", "-B", repoPath, "--keep-data-days", "5", "--dry-run"])
        #expect(dry.succeeded, "\(dry)")
        for id in ["20000101-000000F", "20000102-000000F", f1, i1] { #expect(dry.stdout.contains("would expire backup \(id)"), "\(dry)") }
        #expect(!dry.stdout.contains(f2) && !dry.stdout.contains(f3))
        #expect(try statuses(s, repoPath) == before)

        // Days: the window starts 5 days ago; i2 (9 days) is its base, with f2.
        let days = try s.pgbk(["expire", "-B", repoPath, "--keep-data-days", "5"])
        #expect(days.succeeded, "\(days)")
        var now = try statuses(s, repoPath)
        for id in ["20000101-000000F", "20000102-000000F", f1, i1] { #expect(now[id] == "DELETED", "\(id): \(String(describing: now[id]))") }
        for id in [f2, i2, f3] { #expect(now[id] == "OK", "\(id)") }
        #expect(!FileSystem.exists(repo.dataDirectory(f1)))
        let f2Start = try #require(repo.loadBackup(f2).startLSN).value / UInt64(repo.identity.walSegmentSize)
        #expect(try archivedSegments(repo).first == f2Start, "WAL before the oldest kept backup is gone, the rest stays")
        for id in [f2, i2, f3] { #expect(try s.pgbk(["validate", "-B", repoPath, id]).succeeded) }
        #expect(try restoreJournal(s, repo: repoPath, as: "window", ["--recovery-target-time", inWindow]) == Array(1...8))
        let gone = try s.pgbk(["validate", "-B", repoPath, "--recovery-target-time", early])
        #expect(gone.status != 0 && gone.stderr.contains("no backup can reach"), "\(gone)")

        // Generations: one full; f2 and its incremental go.
        let gens = try s.pgbk(["expire", "-B", repoPath, "--keep-data-generations", "1"])
        #expect(gens.succeeded, "\(gens)")
        now = try statuses(s, repoPath)
        #expect(now[f2] == "DELETED" && now[i2] == "DELETED" && now[f3] == "OK", "\(now)")
        let f3Start = try #require(repo.loadBackup(f3).startLSN).value / UInt64(repo.identity.walSegmentSize)
        #expect(try archivedSegments(repo).first == f3Start)
        #expect(try restoreJournal(s, repo: repoPath, as: "latest", []) == Array(1...15))

        // Show hides DELETED unless -a; purge removes them for good.
        let shown = try s.pgbk(["show", "-B", repoPath])
        #expect(!shown.stdout.contains(f1) && shown.stdout.contains(f3))
        let purgeDry = try s.pgbk(["purge", "-B", repoPath, "--dry-run"])
        #expect(purgeDry.stdout.contains("would purge \(f1)") && FileSystem.exists(repo.backupDirectory(f1)), "\(purgeDry)")
        #expect(try s.pgbk(["purge", "-B", repoPath]).succeeded)
        #expect(try repo.backupIDs() == [f3])
    }

    @Test func concurrentBackupsWaitOrFailCleanly() throws {
        let s = try Scratch()
        let repoPath = s.path + "/repo"
        let source = try createJournalCluster(s, repo: repoPath)
        defer { source.stopIfRunning() }
        let args = ["backup", "-B", repoPath, "-D", source.dataDir] + source.connectionArgs
        // Without a timeout: exactly one runs, the other says who holds the lock.
        let a = try s.spawnPgbk(args), b = try s.spawnPgbk(args)
        let results = [a.wait(), b.wait()]
        #expect(results.filter(\.succeeded).count == 1, "\(results)")
        let refused = try #require(results.first { !$0.succeeded })
        #expect(refused.stderr.contains("locked by another pgbk") && refused.stderr.contains("PID"), "\(refused)")
        // With --lock-timeout the second waits its turn.
        let c = try s.spawnPgbk(args + ["--lock-timeout", "120"]), d = try s.spawnPgbk(args + ["--lock-timeout", "120"])
        let waited = [c.wait(), d.wait()]
        #expect(waited.filter(\.succeeded).count == 2, "\(waited)")
        let v = try s.pgbk(["validate", "-B", repoPath])
        #expect(v.succeeded, "\(v)")
        #expect(try statuses(s, repoPath).values.sorted() == ["OK", "OK", "OK"])
    }

    @Test func interruptedDeletionsAndPurgesAreFinishedByTheNextRun() throws {
        let s = try Scratch()
        let repoPath = s.path + "/repo"
        let source = try createJournalCluster(s, repo: repoPath)
        defer { source.stopIfRunning() }
        var ids: [String] = []
        for _ in 0..<4 { ids.append(try backupAndValidate(s, repoPath, source, "full")) }
        let repo = try Repository.open(repoPath)

        // A delete killed after DELETING was committed and half the data was gone.
        var half = try repo.loadBackup(ids[0])
        half.status = .deleting
        try repo.saveBackup(half)
        try FileSystem.removeTree(repo.dataDirectory(ids[0]) + "/base")
        // A purge killed after the data went but before backup.ini did; and one after it did.
        var purging = try repo.loadBackup(ids[1])
        purging.status = .deleted
        try repo.saveBackup(purging)
        try FileSystem.removeTree(repo.dataDirectory(ids[1]))
        let stray = repo.backupDirectory("20000101-000000F")
        try FileSystem.makeDirectories(stray + "/data/base")
        _ = try Command.run("/bin/chown", ["-R", "postgres:", repo.backupRoot])

        // A real kill at an arbitrary moment of an expire.
        let victim = try s.spawnPgbk(["expire", "-B", repoPath, "--keep-data-generations", "1"])
        usleep(30_000)
        kill(victim.pid, SIGKILL)
        _ = victim.wait()
        // runuser's child may still be running; wait for the lock to be free.
        try waitUntil("the killed expire's child to finish") {
            (try? s.pgbk(["show", "-B", repoPath])).map { _ in true } ?? false
        }

        let again = try s.pgbk(["expire", "-B", repoPath, "--keep-data-generations", "1", "--lock-timeout", "60"])
        #expect(again.succeeded, "\(again)")
        let now = try statuses(s, repoPath)
        #expect(now[ids[3]] == "OK")
        #expect(now.values.filter { $0 == "DELETING" }.isEmpty, "\(now)")
        #expect(try s.pgbk(["validate", "-B", repoPath, ids[3]]).succeeded)
        let purge = try s.pgbk(["purge", "-B", repoPath, "--lock-timeout", "60"])
        #expect(purge.succeeded, "\(purge)")
        #expect(try repo.backupIDs() == [ids[3]])
        #expect(try restoreJournal(s, repo: repoPath, as: "after", []) == [])
    }
}
