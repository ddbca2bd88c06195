import Testing
import Synchronization
import TestSupport
import PostgresFormat
@testable import Repository
@testable import Engine
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The pure rules behind issue 10's fixes.
@Suite struct TrustRulesTests {
    @Test func jobsMeansThreadsEvenBeyondTheCPUs() throws {
        // Every item waits until all four run at once: with one thread per CPU (2 here) they
        // never would, and the wait would time out.
        let inside = Atomic<Int>(0)
        let results = try WorkerPool.run(count: 4, jobs: 4, makeState: { () }) { _, _ -> Bool in
            inside.add(1, ordering: .sequentiallyConsistent)
            for _ in 0..<10_000 where inside.load(ordering: .sequentiallyConsistent) < 4 { usleep(1000) }
            return inside.load(ordering: .sequentiallyConsistent) == 4
        }
        #expect(results.allSatisfy { $0 == true })
    }

    @Test func aWorkerErrorReachesTheCaller() {
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try WorkerPool.run(count: 10, jobs: 3, makeState: { () }) { n, _ -> Int in
                if n == 5 { throw Boom() }
                return n
            }
        }
    }

    @Test(arguments: [
        ("2026-11-01", "2026-11-01 00:00:00+00"), ("2026-11-01 12:00:00", "2026-11-01 12:00:00+00"),
        ("2026-11-01 12:00:00 -05", "2026-11-01 17:00:00+00"), ("2026-11-01 12:00:00-05:30", "2026-11-01 17:30:00+00"),
        ("2026-11-01 12:00:00 UTC", "2026-11-01 12:00:00+00"), ("2026-11-01T12:00:00Z", "2026-11-01 12:00:00+00"),
        ("2026-11-01 +02", "2026-10-31 22:00:00+00"), ("2026-11-01 12:00:00+02", "2026-11-01 10:00:00+00"),
    ])
    func deleteDatesAcceptTheZonesRecoveryTargetsDo(_ input: String, _ utc: String) throws {
        let micros = try #require(parseDeleteDate(input), "\(input)")
        #expect(formatMicros(micros) == utc.dropLast(3) + ".000000+00")
    }

    @Test(arguments: ["yesterday", "2026-13-01", "2026-11-01 12:00:00 EST5EDT", ""])
    func deleteDatesRefuseWhatTheyCannotRead(_ input: String) {
        #expect(parseDeleteDate(input) == nil)
    }

    @Test func aWALFileWhoseAgeCannotBeReadIsKept() {
        let now = Timestamp(seconds: 1_800_000_000)
        let rule = WALRetention(keepDays: 7)
        #expect(rule.keepsByAge(mtime: nil, now: now))
        #expect(rule.keepsByAge(mtime: now.seconds - 86_400, now: now))
        #expect(!rule.keepsByAge(mtime: now.seconds - 8 * 86_400, now: now))
        #expect(!WALRetention().keepsByAge(mtime: nil, now: now), "no age rule: age does not matter")
    }

    @Test func anIncrementalRefusesToBuildOnAnOlderParentWhenANewerBackupCannotBeRead() throws {
        let dir = try TestDirectory()
        let repo = try makeRepository(dir)
        let full = backupInfo("20260101-000000F", .full, start: 0x100_0000, stop: 0x200_0000)
        let situation = ParentSelector.Situation(timeline: 1, history: nil, startLSN: LSN(0x9000_0000), pgMajor: 15)
        guard case .failure(let error) = ParentSelector.select(from: [full], unreadable: ["20260102-000000F"], repository: repo,
                                                               situation: situation) else {
            Issue.record("an older parent was chosen over an unreadable newer backup")
            return
        }
        #expect(error.description.contains("20260102-000000F") && error.description.contains("cannot be read"))
        // An unreadable backup older than the parent changes nothing.
        let chosen = try ParentSelector.select(from: [full], unreadable: ["20251231-000000F"], repository: repo, situation: situation).get()
        #expect(chosen.id == full.id)
    }

    @Test func recheckScopesPickWhatTheySay() {
        let now = Timestamp(seconds: 1_800_000_000)
        func b(_ status: BackupStatus, verifiedDaysAgo: Int?) -> BackupInfo {
            var info = backupInfo("20260101-000000F", .full, status: status)
            info.verifyTime = verifiedDaysAgo.map { Timestamp(seconds: now.seconds - Int64($0) * 86_400) }
            return info
        }
        #expect(ValidateOperation.Scope.pending.includes(b(.done, verifiedDaysAgo: nil), now: now))
        #expect(!ValidateOperation.Scope.pending.includes(b(.ok, verifiedDaysAgo: 30), now: now))
        #expect(ValidateOperation.Scope.recheck.includes(b(.ok, verifiedDaysAgo: 0), now: now))
        #expect(ValidateOperation.Scope.recheck.includes(b(.corrupt, verifiedDaysAgo: 0), now: now))
        #expect(!ValidateOperation.Scope.recheck.includes(b(.error, verifiedDaysAgo: nil), now: now))
        #expect(ValidateOperation.Scope.recheckOlderThan(days: 7).includes(b(.ok, verifiedDaysAgo: 8), now: now))
        #expect(!ValidateOperation.Scope.recheckOlderThan(days: 7).includes(b(.ok, verifiedDaysAgo: 2), now: now))
    }
}

/// `show timeline` counts a timeline's gaps from where it begins, not from its first archived
/// segment, and ends the recoverable window at the first gap (issue 10, item 7).
@Suite struct TimelineReportGapTests {
    func archive(_ repo: Repository, _ name: String, _ bytes: [UInt8]) throws {
        let store = repo.wal
        let dir = store.directory(for: name)
        try repo.storage.makeDirectories(dir)
        try repo.storage.writeAll(dir + "/" + store.storedName(walName: name, checksum: CRC32C.checksum(bytes), compression: .none), bytes)
    }

    @Test func aTimelineWhoseFirstSegmentsWereNeverArchivedHasGaps() throws {
        let dir = try TestDirectory()
        let repo = try makeRepository(dir)
        for n in 1...3 { try archive(repo, "00000001000000000000000\(n)", [UInt8(n)]) }
        // Timeline 2 branched in segment 3; only its segments 6 and 7 reached the archive.
        try archive(repo, "00000002.history", Array("1\t0/3800000\tno recovery target specified\n".utf8))
        for n in 6...7 { try archive(repo, "00000002000000000000000\(n)", [UInt8(n)]) }
        var backup = backupInfo("20260101-000000F", .full, start: 0x100_0028, stop: 0x200_0000)
        backup.recoveryTime = "2026-01-01 00:00:10+00"
        try FileSystem.makeDirectory(repo.backupDirectory(backup.id))
        try repo.saveBackup(backup)

        let report = try TimelineReport(repository: repo)
        let two = try #require(report.rows.first { $0.timeline == 2 })
        #expect(two.missing == ["000000020000000000000003", "000000020000000000000004", "000000020000000000000005"])
        #expect(report.firstGap == "000000020000000000000003")
        #expect(report.rows.first { $0.timeline == 1 }?.missing == [])
    }

    /// Expire removed timeline 2's WAL before its oldest kept backup: nothing is missing
    /// (issue 23, item 3: "Missing 25" in show timeline, the metrics and the report).
    @Test func walThatRetentionRemovedFromALaterTimelineIsNoGap() throws {
        let dir = try TestDirectory()
        let repo = try makeRepository(dir)
        try archive(repo, "00000002.history", Array("1\t0/3800000\tno recovery target specified\n".utf8))
        for n in ["A", "B", "C"] { try archive(repo, "00000002000000000000000" + n, [UInt8(n.utf8.first!)]) }
        var backup = backupInfo("20260101-000000F", .full, timeline: 2, start: 0xA00_0028, stop: 0xB00_0000)
        backup.recoveryTime = "2026-01-01 00:00:10+00"
        try FileSystem.makeDirectory(repo.backupDirectory(backup.id))
        try repo.saveBackup(backup)

        let report = try TimelineReport(repository: repo)
        #expect(report.rows.first { $0.timeline == 2 }?.missing == [])
        #expect(report.firstGap == nil)
        // A segment missing after the oldest backup's start is still a gap.
        try repo.storage.remove(try #require(try repo.wal.find("00000002000000000000000B")).name)
        let gapped = try TimelineReport(repository: repo)
        #expect(gapped.rows.first { $0.timeline == 2 }?.missing == ["00000002000000000000000B"])
    }
}
