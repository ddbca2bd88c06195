import Foundation
import Testing
import PostgresFormat
import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// archive-push --async (issue 28) on real servers: the background pusher stores ahead, and
/// an archive_command call exits 0 only for a file the repository holds.
@Suite(.ownThread) struct AsyncArchivePushTests {
    /// The running background pushers of this repository.
    static func pushers(_ repo: String) -> [pid_t] {
        ((try? FileSystem.list("/proc")) ?? []).compactMap { pid_t($0) }.filter { pid in
            guard let line = commandLine(of: pid) else { return false }
            return line.contains("--pusher") && line.contains(repo)
        }
    }

    /// Under pgbench and segment switches, archive_command calls killed at random (one in
    /// three, 0-9 ms in) and the pusher killed every second or so: every file a call exited
    /// 0 for is in the archive, the archive is continuous and every file in it passes its
    /// checksum, and the pusher exits once nothing is ready.
    @Test func underPgbenchWithKillsNothingIsLostAndNoCallLies() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let exited0 = s.path + "/exited0.log"
        try s.writeFile(exited0, "", mode: 0o644)
        let wrapper = s.path + "/push.sh"
        try s.writeFile(wrapper, """
        #!/bin/sh
        \(s.pgbk) archive-push --async -j 3 --pusher-idle 5 -B \(repo) "$1" &
        pid=$!
        r=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
        if [ $((r % 3)) -eq 0 ]; then sleep 0.00$((r % 10)); kill -9 $pid; fi
        wait $pid
        rc=$?
        [ $rc -eq 0 ] && echo "${1##*/}" >> \(exited0)
        # Killed: a plain failure (PostgreSQL's archiver would stop for a while on a signal).
        [ $rc -gt 125 ] && exit 1
        exit $rc

        """, mode: 0o755)
        let primary = try TestCluster.create(s, name: "primary", repository: repo)
        defer { primary.stopIfRunning() }
        try primary.appendConfig("archive_command = '\(wrapper) %p'\n")
        let initialized = try s.pgbk(["init", "-B", repo, "-D", primary.dataDir])
        #expect(initialized.succeeded, "\(initialized)")
        try primary.start()
        let pgbenchInit = try primary.runClient("pgbench", primary.connectionArgs + ["-i", "-s", "2", "-q", "postgres"])
        #expect(pgbenchInit.succeeded, "\(pgbenchInit)")
        let load = try Command.spawn(primary.bin + "/pgbench", primary.connectionArgs + ["-n", "-c", "4", "-T", "15", "postgres"],
                                     asPostgres: true, outputDirectory: s.path)
        var killed = 0
        for round in 0..<14 {
            usleep(UInt32(500_000 + (round * 137_000) % 900_000))
            try primary.execute("SELECT pg_switch_wal()")
            for pid in Self.pushers(repo) where kill(pid, SIGKILL) == 0 { killed += 1 }
        }
        let loaded = load.wait()
        #expect(loaded.succeeded, "\(loaded)")
        #expect(killed >= 3, "the pusher was killed \(killed) times")
        let last = try #require(try primary.scalar("SELECT pg_walfile_name(pg_current_wal_lsn())"))
        try primary.execute("SELECT pg_switch_wal()")
        try waitUntil("\(last) to be archived") {
            try primary.scalar("SELECT coalesce(last_archived_wal, '') >= '\(last)' FROM pg_stat_archiver") == "t"
        }

        let store = try Repository.open(repo).wal
        let calls = try FileSystem.readText(exited0).split(separator: "\n").map(String.init)
        #expect(calls.count >= 10, "\(calls.count) calls exited 0")
        for name in calls { #expect(try store.find(name) != nil, "archive_command exited 0 for \(name), which the archive lacks") }
        let names = try store.listAll().map(\.walName).filter { $0.count == 24 }.sorted()
        let numbers = names.compactMap { WALSegmentName($0, segmentSize: 16 << 20)?.segmentNumber }
        #expect(numbers == Array((numbers.first ?? 0)...(numbers.last ?? 0)), "\(names)")
        #expect(names.contains(last))
        let validated = try s.pgbk(["validate", "-B", repo])
        #expect(validated.succeeded && validated.stderr.contains("all intact"), "\(validated)")
        // Killed calls and pushers show as failures the server retried past.
        #expect(try primary.scalar("SELECT failed_count > 0 FROM pg_stat_archiver") == "t")
        let checked = try s.pgbk(["check", "-B", repo, "-h", primary.socketDir, "-p", String(primary.port), "-U", "postgres", "--no-archive-test"])
        #expect(checked.stdout.contains("archive_push_async") && checked.stdout.contains("background archive-push"), "\(checked)")
        try waitUntil("the pusher to exit once idle", seconds: 30) { Self.pushers(repo).isEmpty }
    }

    /// A receipt is checked against the file, never trusted: a forged one (other bytes, other
    /// repositories) does not make a call exit 0 before the file is stored. A file the pusher
    /// cannot store (another cluster's) fails the call with the real error, in one line.
    @Test func aForgedReceiptIsNotTrustedAndAFailureReachesTheCall() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let cluster = try TestCluster.create(s, name: "pg", repository: repo)
        let initialized = try s.pgbk(["init", "-B", repo, "-D", cluster.dataDir])
        #expect(initialized.succeeded, "\(initialized)")
        let other = try TestCluster.create(s, name: "other", repository: nil)
        let wal = try s.makeDirectory("wal")
        try s.makeDirectory("wal/archive_status")
        let spool = try s.makeDirectory("wal/pgbk-push")
        let name = try #require(try FileSystem.list(cluster.dataDir + "/pg_wal").first { $0.count == 24 })
        try copyFile(from: cluster.dataDir + "/pg_wal/" + name, to: wal + "/" + name, mode: 0o600)
        try s.chownToPostgres(wal + "/" + name)
        try s.writeFile(wal + "/archive_status/" + name + ".ready", "")
        let size = 16 << 20
        for forged in ["\(size) 00000000\n1 \(repo)\n", "\(size) \(try crcHex(wal + "/" + name))\n1 /elsewhere\n"] {
            try s.writeFile(spool + "/" + name + ".ok", forged)
            let pushed = try s.pgbk(["archive-push", "--async", "--pusher-idle", "1", "-B", repo, "wal/" + name], directory: s.path)
            #expect(pushed.succeeded, "\(pushed)")
            #expect(try Repository.open(repo).wal.find(name) != nil, "exited 0 with \(name) not stored, on the receipt \(forged)")
            try FileSystem.removeTree(repo + "/wal")
            try FileSystem.makeDirectory(repo + "/wal")
            try s.chownToPostgres(repo + "/wal")
        }

        let foreign = WALSegmentName(timeline: 1, segmentNumber: 9, segmentSize: UInt64(size)).name
        let otherName = try #require(try FileSystem.list(other.dataDir + "/pg_wal").first { $0.count == 24 })
        try copyFile(from: other.dataDir + "/pg_wal/" + otherName, to: wal + "/" + foreign, mode: 0o600)
        try s.chownToPostgres(wal + "/" + foreign)
        try s.writeFile(wal + "/archive_status/" + foreign + ".ready", "")
        let refused = try s.pgbk(["archive-push", "--async", "--pusher-idle", "1", "-B", repo, "wal/" + foreign], directory: s.path)
        // The pusher's own warning shares this stderr (PostgreSQL's log), so it may come last.
        let errors = refused.stderr.split(separator: "\n").filter { $0.hasPrefix("pgbk: error: ") }
        #expect(refused.status != 0 && errors.count == 1 && errors[0].contains(foreign)
                && refused.stderr.contains("the background archive-push failed on \(foreign)"), "\(refused)")
        #expect(try Repository.open(repo).wal.find(foreign) == nil)
    }

    private func crcHex(_ path: String) throws -> String {
        let bytes = try FileSystem.readAll(path, limit: 64 << 20)
        var crc = CRC32C()
        bytes.withUnsafeBytes { crc.update($0) }
        return CRC32C.hex(crc.value)
    }

    /// --archive-push-queue-max: with the repository refusing writes, WAL piles up in pg_wal;
    /// past the limit calls exit 0 and PostgreSQL recycles their segments. The gap is never
    /// silent: check is CRITICAL while the record cannot reach the repository, and once it
    /// can, check (wal_gaps), show timeline, the metrics and validate name the dropped
    /// segment, and a restore to the latest point refuses before writing anything.
    @Test func theQueueLimitDropsLoudlyAndRestoreRefusesToCrossTheGap() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let primary = try TestCluster.create(s, name: "primary", repository: repo)
        defer { primary.stopIfRunning() }
        try primary.appendConfig("archive_command = '\(s.pgbk) archive-push --async --archive-push-queue-max 40M --archive-timeout 2 --pusher-idle 2 -B \(repo) %p'\n")
        let initialized = try s.pgbk(["init", "-B", repo, "-D", primary.dataDir])
        #expect(initialized.succeeded, "\(initialized)")
        try primary.start()
        try primary.execute("CREATE TABLE t (n int)")
        _ = try backupAndValidate(s, repo, primary, "full")
        let checkArgs = ["check", "-B", repo, "-h", primary.socketDir, "-p", String(primary.port), "-U", "postgres", "--no-archive-test"]

        // The repository refuses writes (as a full or unreachable store would).
        let walDirs = [repo + "/wal"] + (try FileSystem.list(repo + "/wal")).map { repo + "/wal/" + $0 }.filter(FileSystem.isDirectory)
        for dir in walDirs { try FileSystem.setMode(dir, 0o500) }
        // A segment a second (each switch wakes the archiver, which otherwise waits a minute
        // after three failures) until one is let go: then more than 40 MB waited.
        let spoolDrops = primary.dataDir + "/pg_wal/pgbk-push/dropped"
        try waitUntil("a segment to be let go", seconds: 120) {
            try primary.execute("INSERT INTO t VALUES (1)")
            try primary.execute("SELECT pg_switch_wal()")
            usleep(1_000_000)
            return ((try? FileSystem.list(spoolDrops)) ?? []).count >= 2
        }
        let droppedHere = try FileSystem.list(spoolDrops).sorted()
        let (first, last) = (droppedHere.first!, droppedHere.last!)
        #expect(try primary.scalar("SELECT last_archived_wal >= '\(last)' FROM pg_stat_archiver") == "t", "PostgreSQL counts \(last) archived")
        let blocked = try s.pgbk(checkArgs)
        #expect(blocked.status == 2 && blocked.stdout.contains("CRITICAL") && blocked.stdout.contains("archive-push dropped"), "\(blocked)")
        #expect(try Repository.open(repo).wal.find(last) == nil)

        // The repository back: the next push carries the records there.
        for dir in walDirs { try FileSystem.setMode(dir, 0o700) }
        try primary.execute("INSERT INTO t VALUES (7)")
        let after = try #require(try primary.scalar("SELECT pg_walfile_name(pg_current_wal_lsn())"))
        try primary.execute("SELECT pg_switch_wal()")
        try waitUntil("\(after) to be archived") { try Repository.open(repo).wal.find(after) != nil }
        // All of them: the local records go one by one, as each reaches the repository. Calls
        // already queued behind the full spool may still drop a segment while the pusher
        // catches up, so wait until PostgreSQL has nothing left ready and no record is local.
        let status = primary.dataDir + "/pg_wal/archive_status"
        try waitUntil("the archiver to catch up and the drops to be recorded in the repository") {
            let ready = try FileSystem.list(status).filter { $0.hasSuffix(".ready") }
            return try ready.isEmpty && !Repository.open(repo).wal.dropped().isEmpty
                && ((try? FileSystem.list(spoolDrops)) ?? []).isEmpty
        }
        let dropped = try Repository.open(repo).wal.dropped()
        #expect(dropped.contains(first) && dropped.contains(last), "\(dropped)")

        let checked = try s.pgbk(checkArgs)
        #expect(checked.status == 2 && checked.stdout.contains("wal_gaps") && checked.stdout.contains("archive-push dropped it"), "\(checked)")
        let timeline = try s.pgbk(["show", "-B", repo, "timeline"])
        #expect(timeline.stdout.contains("DROPPED") && timeline.stdout.contains("--archive-push-queue-max"), "\(timeline)")
        let metrics = try s.pgbk(["show", "-B", repo, "--metrics"])
        let samples = metrics.stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }
        func sample(_ name: String) -> String? { samples.first { $0.hasPrefix(name + "{") || $0.hasPrefix(name + " ") }?.split(separator: " ").last.map(String.init) }
        #expect(sample("pgbk_wal_dropped_segments") == String(dropped.count) && sample("pgbk_wal_gap_in_window") == "1", "\(metrics)")
        let validated = try s.pgbk(["validate", "-B", repo])
        #expect(!validated.succeeded && validated.stderr.contains("archive-push dropped it"), "\(validated)")
        let target = s.path + "/restored"
        let restored = try s.pgbk(["restore", "-B", repo, "-D", target])
        #expect(failsWithOneError(restored) && restored.stderr.contains("archive-push dropped it"), "\(restored)")
        #expect(((try? FileSystem.list(target)) ?? []).isEmpty, "restore wrote into \(target)")

        // A new full backup, and expire of the old one: the gap is behind every kept backup,
        // its records go, and check no longer reports it.
        let backedUp = try s.pgbk(["backup", "-B", repo, "-D", primary.dataDir, "-b", "full"] + primary.connectionArgs)
        #expect(backedUp.succeeded, "\(backedUp)")
        let newest = try #require(try latestBackup(s, repo)["id"] as? String)
        let newValidated = try s.pgbk(["validate", "-B", repo, newest])
        #expect(newValidated.succeeded, "\(newValidated)")
        let expired = try s.pgbk(["expire", "-B", repo, "--keep-data-generations", "1"])
        #expect(expired.succeeded, "\(expired)")
        #expect(try Repository.open(repo).wal.dropped().isEmpty)
        let healed = try s.pgbk(checkArgs)
        #expect(healed.stdout.split(separator: "\n").contains { $0.contains("wal_gaps") && $0.hasPrefix("OK") }, "\(healed)")
    }
}
