import Testing
import Foundation
import Repository

/// A source cluster whose journal rows carry their exact commit times.
struct Journal {
    let cluster: TestCluster

    /// One transaction per row; returns nothing, times are read back from commit timestamps.
    func write(_ range: ClosedRange<Int>, switchEvery: Int = 0) throws {
        for n in range {
            try cluster.execute("INSERT INTO journal VALUES (\(n))")
            if switchEvery > 0 && n % switchEvery == 0 { try cluster.execute("SELECT pg_switch_wal()") }
        }
    }

    func commitMicros(_ n: Int) throws -> Int64 {
        let s = try cluster.scalar("SELECT (extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1000000)::bigint FROM journal WHERE n = \(n)")
        return Int64(try #require(s.flatMap { Int64($0) }))
    }

    /// A time strictly between the commits of rows n and n+1, as recovery_target_time text.
    func timeBetween(_ n: Int, _ next: Int) throws -> String {
        let a = try commitMicros(n), b = try commitMicros(next)
        try #require(b - a >= 2, "commits \(n) and \(next) are too close to put a time between them")
        return formatMicrosForTest(a + (b - a) / 2)
    }

    func xid(_ n: Int) throws -> String { try #require(try cluster.scalar("SELECT xmin::text FROM journal WHERE n = \(n)")) }
}

func formatMicrosForTest(_ micros: Int64) -> String {
    let date = Date(timeIntervalSince1970: Double(micros / 1_000_000))
    let f = DateFormatter()
    f.locale = Locale(identifier: "en_US_POSIX")
    f.timeZone = TimeZone(identifier: "UTC")
    f.dateFormat = "yyyy-MM-dd HH:mm:ss"
    let fraction = String(micros % 1_000_000)
    return f.string(from: date) + "." + String(repeating: "0", count: 6 - fraction.count) + fraction + "+00"
}

func createJournalCluster(_ s: Scratch, repo: String, name: String = "src") throws -> TestCluster {
    let source = try TestCluster.create(s, name: name, repository: repo)
    try source.appendConfig("track_commit_timestamp = on\n")
    let r = try s.pgbk(["init", "-B", repo, "-D", source.dataDir])
    guard r.succeeded else { throw CommandError(result: r) }
    try source.start()
    try source.execute("CREATE TABLE journal (n int PRIMARY KEY)")
    return source
}

/// Restores with `args`, starts, waits for promotion, returns the journal's rows. Unless
/// `archive`, the restored cluster does not archive its new timeline into the repository
/// (so that one test's restores do not become the next one's latest timeline).
func restoreJournal(_ s: Scratch, repo: String, as name: String, archive: Bool = false, _ args: [String]) throws -> [Int] {
    let target = try s.makeDirectory(name)
    let r = try s.pgbk(["restore", "-B", repo, "-D", target, "--recovery-target-action", "promote"]
                       + (archive ? ["--archive-mode", "preserve"] : []) + args)
    guard r.succeeded else { throw CommandError(result: r) }
    let restored = try TestCluster.adopt(target, scratch: s, name: name)
    if !archive { try restored.appendConfig("archive_mode = off\n") }
    defer { restored.stopIfRunning() }
    try restored.start()
    try restored.waitForPromotion()
    let rows = try restored.execute("SELECT n FROM journal ORDER BY n").rows.compactMap { $0[0].flatMap { Int($0) } }
    try restored.stop()
    return rows
}

func backupAndValidate(_ s: Scratch, _ repo: String, _ c: TestCluster, _ mode: String, env: [String: String] = [:]) throws -> String {
    let r = try s.pgbk(["backup", "-B", repo, "-D", c.dataDir, "-b", mode] + c.connectionArgs, env: env)
    guard r.succeeded else { throw CommandError(result: r) }
    let v = try s.pgbk(["validate", "-B", repo])
    guard v.succeeded else { throw CommandError(result: v) }
    return try #require(try latestBackup(s, repo)["id"] as? String)
}

@Suite(.ownThread) struct PITRTests {
    @Test func everyKindOfTargetRestoresExactlyTheRowsCommittedBeforeIt() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let source = try createJournalCluster(s, repo: repo)
        defer { source.stopIfRunning() }
        let journal = Journal(cluster: source)
        let full = try backupAndValidate(s, repo, source, "full")
        try journal.write(1...10, switchEvery: 4)
        let incremental = try backupAndValidate(s, repo, source, "incremental")
        try journal.write(11...15, switchEvery: 4)
        try source.execute("SELECT pg_create_restore_point('after fifteen')")
        try journal.write(16...16)
        let lsnAfter16 = try #require(try source.scalar("SELECT pg_current_wal_insert_lsn()::text"))
        try journal.write(17...20, switchEvery: 4)
        try source.switchWALAndWaitForArchive(repository: repo)

        let time12 = try journal.timeBetween(12, 13)
        let time3 = try journal.timeBetween(3, 4)
        let xid14 = try journal.xid(14)
        try source.stop()

        #expect(try restoreJournal(s, repo: repo, as: "time12", ["--recovery-target-time", time12]) == Array(1...12))
        // Before the incremental ended: only the full backup can get there.
        let check3 = try s.pgbk(["validate", "-B", repo, "--recovery-target-time", time3])
        #expect(check3.succeeded && check3.stdout.contains(full), "\(check3)")
        #expect(try restoreJournal(s, repo: repo, as: "time3", ["--recovery-target-time", time3]) == Array(1...3))
        #expect(try restoreJournal(s, repo: repo, as: "xid-in", ["--recovery-target-xid", xid14]) == Array(1...14))
        #expect(try restoreJournal(s, repo: repo, as: "xid-ex", ["--recovery-target-xid", xid14, "--recovery-target-inclusive", "false"]) == Array(1...13))
        #expect(try restoreJournal(s, repo: repo, as: "lsn", ["--recovery-target-lsn", lsnAfter16]) == Array(1...16))
        #expect(try restoreJournal(s, repo: repo, as: "name", ["--recovery-target-name", "after fifteen"]) == Array(1...15))
        #expect(try restoreJournal(s, repo: repo, as: "imm-inc", ["--recovery-target", "immediate", "--backup-id", incremental]) == Array(1...10))
        #expect(try restoreJournal(s, repo: repo, as: "imm-full", ["--recovery-target", "immediate", "--backup-id", full]) == [])
        #expect(try restoreJournal(s, repo: repo, as: "latest", []) == Array(1...20))
    }

    @Test func aGapInTheArchiveIsFoundBeforeAnythingIsWritten() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let source = try createJournalCluster(s, repo: repo)
        defer { source.stopIfRunning() }
        let journal = Journal(cluster: source)
        _ = try backupAndValidate(s, repo, source, "full")
        try journal.write(1...12, switchEvery: 3)
        try source.switchWALAndWaitForArchive(repository: repo)
        let early = try journal.timeBetween(2, 3)
        let late = try journal.timeBetween(10, 11)
        try source.stop()
        let repository = try Repository.open(repo)
        let catalog = try parseBackupsJSON(try s.pgbk(["show", "-B", repo, "--json"]).stdout)
        let stopWAL = try #require(catalog.last?["stop_wal_file"] as? String)
        // The segment two after the backup's last one goes missing: inside the journal's range,
        // after row 2's commit and before row 11's.
        let gapName = String(stopWAL.prefix(16)) + String(format: "%08X", (UInt32(stopWAL.suffix(8), radix: 16) ?? 0) + 2)
        let gap = try #require(try repository.wal.find(gapName), "no archived \(gapName)")
        try FileSystem.rename(gap.path, s.path + "/aside")

        let target = s.path + "/late"
        let refused = try s.pgbk(["restore", "-B", repo, "-D", target, "--recovery-target-time", late])
        #expect(refused.status != 0 && refused.stderr.contains(gapName), "\(refused)")
        #expect(!FileSystem.exists(target), "nothing was written")
        let check = try s.pgbk(["validate", "-B", repo, "--recovery-target-time", late])
        #expect(check.status != 0 && check.stderr.contains(gapName), "\(check)")
        let noTarget = try s.pgbk(["validate", "-B", repo, "--recovery-target-timeline", "latest"])
        #expect(noTarget.status != 0 && noTarget.stderr.contains(gapName), "without a target, recovery would stop at the gap: \(noTarget)")
        #expect(try restoreJournal(s, repo: repo, as: "early", ["--recovery-target-time", early]) == [1, 2])
        let show = try s.pgbk(["show", "-B", repo, "timeline"])
        #expect(show.stdout.contains(gapName), "\(show)")
    }

    @Test func aTargetBeforeTheOldestBackupIsAClearError() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let source = try createJournalCluster(s, repo: repo)
        defer { source.stopIfRunning() }
        let journal = Journal(cluster: source)
        try journal.write(1...3)
        let before = try journal.timeBetween(1, 2)
        _ = try backupAndValidate(s, repo, source, "full")
        let r = try s.pgbk(["restore", "-B", repo, "-D", s.path + "/x", "--recovery-target-time", before])
        #expect(r.status != 0 && r.stderr.contains("no backup can reach") && r.stderr.contains("oldest"), "\(r)")
        #expect(!FileSystem.exists(s.path + "/x"))
        let future = try s.pgbk(["validate", "-B", repo, "--recovery-target-time", "2099-01-01 00:00:00+00"])
        #expect(future.status != 0 && future.stderr.contains("after the end of the archived WAL"), "\(future)")
    }
}
