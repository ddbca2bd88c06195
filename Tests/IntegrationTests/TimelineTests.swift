import Testing
import Foundation
import PostgresFormat
import Repository

@Suite(.ownThread) struct TimelineTests {
    /// Restore to the past and promote (timeline 2), keep working and back up there, then
    /// restore along timeline 2, and along timeline 1 past the point where 2 branched off.
    @Test func restoresFollowTheChosenTimeline() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let source = try createJournalCluster(s, repo: repo)
        defer { source.stopIfRunning() }
        let journal = Journal(cluster: source)
        _ = try backupAndValidate(s, repo, source, "full")
        try journal.write(1...10, switchEvery: 3)
        try source.switchWALAndWaitForArchive(repository: repo)
        let branchTime = try journal.timeBetween(3, 4)
        let lateOnOne = try journal.timeBetween(8, 9)
        try source.stop()

        // PITR to between rows 3 and 4; this cluster archives its new timeline.
        let target = try s.makeDirectory("tl2")
        let restore = try s.pgbk(["restore", "-B", repo, "-D", target, "--recovery-target-time", branchTime,
                                  "--recovery-target-action", "promote", "--archive-mode", "preserve"])
        try #require(restore.succeeded, "\(restore)")
        let second = try TestCluster.adopt(target, scratch: s, name: "tl2")
        defer { second.stopIfRunning() }
        try second.start()
        try second.waitForPromotion()
        #expect(try second.scalar("SELECT timeline_id FROM pg_control_checkpoint()") == "2" ||
                second.scalar("SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)") == "00000002")
        let journal2 = Journal(cluster: second)
        try journal2.write(101...103)
        // The archiver pushes the new timeline's history in its own time: a backup before
        // it is there cannot tie timeline 2 to its timeline-1 parent (and says so).
        try waitUntil("00000002.history to be archived") { try Repository.open(repo).wal.find("00000002.history") != nil }
        // An incremental on timeline 2 whose parent is the timeline-1 full backup.
        _ = try backupAndValidate(s, repo, second, "incremental")
        let incInfo = try latestBackup(s, repo)
        #expect(incInfo["timeline"] as? Int == 2 && incInfo["mode"] as? String == "INCREMENTAL", "\(incInfo)")
        try journal2.write(104...106)
        _ = try backupAndValidate(s, repo, second, "full")
        try journal2.write(107...110, switchEvery: 2)
        _ = try backupAndValidate(s, repo, second, "incremental")
        try journal2.write(111...112)
        try second.switchWALAndWaitForArchive(repository: repo)
        let onTwo = try journal2.timeBetween(108, 109)
        try second.stop()

        let timelines = try s.pgbk(["show", "-B", repo, "timeline"])
        #expect(timelines.stdout.contains("latest timeline: 2"), "\(timelines)")

        #expect(try restoreJournal(s, repo: repo, as: "on-two", ["--recovery-target-time", onTwo]) == [1, 2, 3] + Array(101...108))
        #expect(try restoreJournal(s, repo: repo, as: "on-one", ["--recovery-target-time", lateOnOne, "--recovery-target-timeline", "1"]) == Array(1...8))
        // Two recovery targets at once are refused before anything is read.
        let wrong = try s.pgbk(["validate", "-B", repo, "--recovery-target-time", lateOnOne, "--recovery-target-xid", "1"])
        #expect(wrong.status != 0 && wrong.stderr.contains("at most one"), "\(wrong)")
    }

    /// The WAL scanner against PostgreSQL's own pg_waldump on a real segment.
    @Test func theWALScannerFindsTheCommitsPgWaldumpFinds() throws {
        let s = try Scratch()
        let source = try TestCluster.create(s, name: "src", repository: nil)
        defer { source.stopIfRunning() }
        try source.appendConfig("wal_keep_size = 256MB\n")
        try source.start()
        let segment = try #require(try source.scalar("SELECT pg_walfile_name(pg_current_wal_lsn())"))
        try source.execute("CREATE TABLE t (id int, v text)")
        for i in 0..<40 {
            // Mixed sizes so that records cross page boundaries.
            try source.execute("INSERT INTO t SELECT g, repeat(md5(g::text), \(1 + i % 7 * 40)) FROM generate_series(1, \(1 + i * 3)) g")
            if i % 10 == 0 { try source.execute("SELECT pg_create_restore_point('rp\(i)')") }
        }
        let conn = try source.connect()
        try conn.query("BEGIN")
        try conn.query("INSERT INTO t VALUES (0, 'rolled back')")
        try conn.query("ROLLBACK")
        try source.execute("SELECT pg_switch_wal()")
        let path = source.dataDir + "/pg_wal/" + segment

        let dump = try source.runClient("pg_waldump", [path])
        let expected = dump.stdout.split(separator: "\n").compactMap { line -> String? in
            guard let desc = line.range(of: "desc: ") else { return nil }
            let kind = line[desc.upperBound...]
            let lsn = line.range(of: "lsn: ").map { line[$0.upperBound...].prefix { $0 != "," } } ?? ""
            let tx = line.range(of: "tx: ").map { line[$0.upperBound...].prefix { $0 != "," }.trimmingCharacters(in: .whitespaces) } ?? ""
            if kind.hasPrefix("COMMIT ") { return "commit \(tx) \(lsn)" }
            if kind.hasPrefix("ABORT ") { return "abort \(tx) \(lsn)" }
            if kind.hasPrefix("RESTORE_POINT ") { return "rp \(kind.dropFirst("RESTORE_POINT ".count)) \(lsn)" }
            return nil
        }
        #expect(expected.count > 40, "\(dump.stderr)")

        let bytes = try FileSystem.readAll(path, limit: 64 << 20)
        let segmentStart = try #require(WALSegmentName(segment, segmentSize: UInt64(bytes.count))).startLSN
        var scanner = WALRecordScanner(pageSize: 8192, startLSN: segmentStart)
        var found: [String] = []
        func hex(_ lsn: LSN) -> String { String(format: "%X/%08X", lsn.high, lsn.low) }
        bytes.withUnsafeBytes { raw in
            for offset in stride(from: 0, to: raw.count, by: 8192) {
                let result = scanner.feed(UnsafeRawBufferPointer(rebasing: raw[offset..<offset + 8192]),
                                          at: LSN(segmentStart.value + UInt64(offset))) { event in
                    switch event {
                    case .transactionEnd(let lsn, let xid, let commit, _): found.append("\(commit ? "commit" : "abort") \(xid) \(hex(lsn))")
                    case .restorePoint(let lsn, let name, _): found.append("rp \(name) \(hex(lsn))")
                    }
                }
                if result != .more { break }
            }
        }
        #expect(found == expected)
    }
}
