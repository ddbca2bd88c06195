import Testing
import Foundation
import PostgresFormat
import Repository
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `pgbk receive-wal` (issue 25) on a real server: as the synchronous standby, every
/// acknowledged COMMIT is on the repository's disk when the primary dies; a kill -9 under load
/// and a restart leave the archive continuous, with archive_command storing the same
/// segments alongside; bad input is one line with nothing written.
/// Until receive-wal's walsender streams (its slot made, when it makes one).
func waitUntilStreaming(_ cluster: TestCluster) throws {
    try waitUntil("receive-wal to stream") {
        try cluster.scalar("SELECT count(*) FROM pg_stat_replication WHERE application_name = 'pgbk' AND state = 'streaming'") == "1"
    }
}

/// Until the server sees receive-wal's flushed position at its current WAL position; that
/// position.
@discardableResult
func waitUntilFlushed(_ cluster: TestCluster) throws -> String {
    let end = try #require(try cluster.scalar("SELECT pg_current_wal_lsn()"))
    try waitUntil("receive-wal to report \(end) flushed") {
        try cluster.scalar("SELECT flush_lsn >= '\(end)' FROM pg_stat_replication WHERE application_name = 'pgbk'") == "t"
    }
    return end
}

@Suite(.ownThread) struct ReceiveWALTests {
    /// A cluster archiving into `repo` (also made here), started.
    func cluster(_ s: Scratch, _ repo: String, settings: String = "", bin: String = pgBin) throws -> TestCluster {
        let cluster = try TestCluster.create(s, name: "db", repository: nil, bin: bin)
        try cluster.appendConfig("archive_mode = on\narchive_command = '\(s.pgbk) archive-push -B \(repo) %p'\n" + settings)
        let made = try s.pgbk(["init", "-B", repo, "-D", cluster.dataDir])
        guard made.succeeded else { throw CommandError(result: made) }
        try cluster.start()
        return cluster
    }

    func receiving(_ s: Scratch, _ repo: String, _ cluster: TestCluster, _ extra: [String] = []) throws -> SpawnedProcess {
        try s.spawnPgbkDirect(["receive-wal", "-B", repo, "-h", cluster.socketDir, "-p", String(cluster.port), "-U", "postgres"] + extra)
    }

    /// The repository restored to the end into a new directory and started (the caller stops it).
    func restoredToTheEnd(_ s: Scratch, _ repo: String) throws -> TestCluster {
        let target = s.path + "/restored"
        let restore = try s.pgbk(["restore", "-B", repo, "-D", target])
        #expect(restore.succeeded, "\(restore)")
        return try TestCluster.startRestored(target, scratch: s, name: "restored")
    }

    @Test func asTheSynchronousStandbyEveryAcknowledgedCommitIsInTheRepository() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let primary = try cluster(s, repo)
        defer { primary.stopIfRunning() }
        try primary.execute("CREATE TABLE t (n int PRIMARY KEY)")
        _ = try backupAndValidate(s, repo, primary, "full")
        let receiver = try receiving(s, repo, primary, ["--slot", "pgbk_sync", "--create-slot"])
        defer { kill(receiver.pid, SIGKILL); _ = receiver.wait() }
        // Synchronous from now on: each COMMIT waits for receive-wal's flush.
        try primary.execute("ALTER SYSTEM SET synchronous_standby_names = 'pgbk'")
        try primary.execute("SELECT pg_reload_conf()")
        try waitUntil("receive-wal to be the synchronous standby") {
            try primary.scalar("SELECT sync_state FROM pg_stat_replication WHERE application_name = 'pgbk'") == "sync"
        }
        // A fresh segment: every commit below is only in receive-wal's partial, and a PITR
        // target between them must be reached through it.
        try primary.execute("SELECT pg_switch_wal()")
        let connection = try primary.connect()
        for n in 1...500 { try connection.query("INSERT INTO t VALUES ($1)", [String(n)]) }
        let midLSN = try #require(try primary.scalar("SELECT pg_current_wal_lsn()"))
        try primary.execute("SELECT pg_sleep(0.05)")
        let midTime = try #require(try primary.scalar("SELECT clock_timestamp()::text"))
        try primary.execute("SELECT pg_sleep(0.05)")
        for n in 501...1000 { try connection.query("INSERT INTO t VALUES ($1)", [String(n)]) }
        let lastCommit = try #require(LSN(try primary.scalar("SELECT pg_current_wal_lsn()") ?? ""))
        let segment = try #require(try primary.scalar("SELECT pg_walfile_name('\(lastCommit)')"))
        try primary.stop(mode: "immediate")

        // Every byte up to the last acknowledged commit is in the repository: the segments
        // before it archived, its own in receive-wal's partial, equal to the server's.
        let partial = repo + "/wal/receiving/" + segment + ".partial"
        let received = try #require(FileManager.default.contents(atPath: partial))
        let written = try #require(FileManager.default.contents(atPath: primary.dataDir + "/pg_wal/" + segment))
        let upTo = Int(lastCommit.value % UInt64(written.count))
        #expect(received.prefix(upTo) == written.prefix(upTo), "the partial holds \(segment) up to \(lastCommit)")
        kill(receiver.pid, SIGTERM)
        let stopped = receiver.wait()
        #expect(stopped.succeeded && stopped.stderr.contains("receive-wal stopped"), "\(stopped)")
        // show timeline names the received position: at least the last commit's.
        let shown = try s.pgbk(["show", "-B", repo, "timeline"])
        let line = shown.stdout.split(separator: "\n").first { $0.hasPrefix("received: up to ") }
        let shownEnd = line.flatMap { LSN(String($0.dropFirst(16).prefix { $0 != " " })) }
        #expect(shownEnd.map { $0 >= lastCommit } == true && line?.contains(segment) == true, "\(shown)")

        // The primary gone: a restore from the repository has all 1,000 rows, the last ones
        // from that partial, which archive-get gives recovery.
        try FileSystem.removeTree(primary.dataDir)
        let restored = try restoredToTheEnd(s, repo)
        defer { restored.stopIfRunning() }
        #expect(try restored.scalar("SELECT count(*) FROM t") == "1000")
        #expect(try restored.scalar("SELECT max(n) FROM t") == "1000")
        let log = try FileSystem.readText(restored.logFile)
        #expect(log.contains("restored \(segment) from the segment receive-wal was receiving"), "\(log.suffix(3000))")
        try restored.stop()

        // Targets after the last whole segment: the proof reads the partial, recovery stops
        // where asked; a time after the last received commit is refused, nothing written.
        #expect(try restoredCount(s, repo, as: "at-time", ["--recovery-target-time", midTime]) == 500)
        #expect(try restoredCount(s, repo, as: "at-lsn", ["--recovery-target-lsn", midLSN]) == 500)
        let late = try s.pgbk(["restore", "-B", repo, "-D", s.path + "/late", "--recovery-target-time", "2100-01-01 00:00:00+00"])
        #expect(failsWithOneError(late) && late.stderr.contains("after the end of the archived WAL"), "\(late)")
        #expect(!FileManager.default.fileExists(atPath: s.path + "/late/PG_VERSION"))
    }

    /// Rows in `t` of the repository restored to a target, started and promoted.
    func restoredCount(_ s: Scratch, _ repo: String, as name: String, _ target: [String]) throws -> Int? {
        let dir = s.path + "/" + name
        let r = try s.pgbk(["restore", "-B", repo, "-D", dir, "--recovery-target-action", "promote"] + target)
        guard r.succeeded else { throw CommandError(result: r) }
        let restored = try TestCluster.startRestored(dir, scratch: s, name: name)
        defer { restored.stopIfRunning() }
        return Int(try restored.scalar("SELECT count(*) FROM t") ?? "")
    }

    /// kill -9 in the middle of a segment while WAL is written, then a restart: the archive
    /// is continuous and every segment reads back with its checksum. After the backup,
    /// archive_command archives nothing (`true`): receive-wal alone fills the archive.
    /// On every major: 14 takes the older slot syntax.
    @Test(arguments: PostgresInstall.matrix)
    func aKilledReceiverRestartsWithoutAGap(_ version: Int) throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let primary = try cluster(s, repo, bin: try PostgresInstall.of(version).bin)
        defer { primary.stopIfRunning() }
        _ = try backupAndValidate(s, repo, primary, "full")
        var receiver = try receiving(s, repo, primary, ["--slot", "pgbk_kill", "--create-slot", "-v"])
        defer { kill(receiver.pid, SIGKILL); _ = receiver.wait() }
        try waitUntilStreaming(primary)
        try primary.execute("ALTER SYSTEM SET archive_command = 'true'")
        try primary.execute("SELECT pg_reload_conf()")
        try primary.execute("CREATE TABLE t (n int, pad text)")
        for round in 1...6 {
            try primary.execute("INSERT INTO t SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g")
            if round == 3 {
                kill(receiver.pid, SIGKILL)
                _ = receiver.wait()
                receiver = try receiving(s, repo, primary, ["--slot", "pgbk_kill", "-v"])
            }
        }
        let last = try #require(try primary.scalar("SELECT pg_walfile_name(pg_current_wal_lsn())"))
        try primary.execute("SELECT pg_switch_wal()")
        let stored = (try? waitUntil("receive-wal to store \(last)") { try Repository.open(repo).wal.find(last) != nil }) != nil
        kill(receiver.pid, SIGTERM)
        let stopped = receiver.wait()
        #expect(stored && stopped.succeeded && stopped.stderr.contains("receive-wal: \(last) archived"), "\(stopped)")
        // No gap from the backup to the last segment, and every archived file intact.
        let validated = try s.pgbk(["validate", "-B", repo])
        #expect(validated.succeeded && validated.stderr.contains("all intact"), "\(validated)")
        let names = try Repository.open(repo).wal.listAll().map(\.walName).filter { $0.count == 24 }.sorted()
        let numbers = names.compactMap { WALSegmentName($0, segmentSize: 16 << 20)?.segmentNumber }
        #expect(numbers == Array((numbers.first ?? 0)...(numbers.last ?? 0)), "\(names)")
    }

    /// Under pgbench, with archive_command storing the same segments alongside: two kill -9s
    /// and restarts mid-segment. The archive is continuous, validate reads every segment
    /// against its checksum, and archive_command never found receive-wal's copy of a segment
    /// different from its own (pg_stat_archiver counts no failure), nor the other way round.
    @Test func underPgbenchWithArchiveCommandAlongside() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let primary = try cluster(s, repo)
        defer { primary.stopIfRunning() }
        let initialized = try primary.runClient("pgbench", primary.connectionArgs + ["-i", "-s", "2", "-q", "postgres"])
        #expect(initialized.succeeded, "\(initialized)")
        _ = try backupAndValidate(s, repo, primary, "full")
        var receiver = try receiving(s, repo, primary, ["--slot", "pgbk_bench", "--create-slot", "-v"])
        defer { kill(receiver.pid, SIGKILL); _ = receiver.wait() }
        try waitUntilStreaming(primary)
        let load = try Command.spawn(primary.bin + "/pgbench", primary.connectionArgs + ["-n", "-c", "4", "-T", "20", "postgres"],
                                     asPostgres: true, outputDirectory: s.path)
        for _ in 1...2 {
            sleep(6)
            kill(receiver.pid, SIGKILL)
            _ = receiver.wait()
            receiver = try receiving(s, repo, primary, ["--slot", "pgbk_bench", "-v"])
        }
        let loaded = load.wait()
        #expect(loaded.succeeded, "\(loaded)")
        let last = try #require(try primary.scalar("SELECT pg_walfile_name(pg_current_wal_lsn())"))
        try primary.execute("SELECT pg_switch_wal()")
        try waitUntil("\(last) to be archived") { try Repository.open(repo).wal.find(last) != nil }
        kill(receiver.pid, SIGTERM)
        let stopped = receiver.wait()
        #expect(stopped.succeeded, "\(stopped)")
        let validated = try s.pgbk(["validate", "-B", repo])
        #expect(validated.succeeded && validated.stderr.contains("all intact"), "\(validated)")
        let names = try Repository.open(repo).wal.listAll().map(\.walName).filter { $0.count == 24 }.sorted()
        let numbers = names.compactMap { WALSegmentName($0, segmentSize: 16 << 20)?.segmentNumber }
        #expect(numbers == Array((numbers.first ?? 0)...(numbers.last ?? 0)), "\(names)")
        #expect(try primary.scalar("SELECT failed_count FROM pg_stat_archiver") == "0")
    }

    /// Another cluster's server, a slot that does not exist, a bad slot name, a server without
    /// wal_level = replica, a user without REPLICATION: one line each, nothing written.
    @Test func badInputIsOneLineAndWritesNothing() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let primary = try cluster(s, repo)
        defer { primary.stopIfRunning() }
        let other = try TestCluster.create(s, name: "other", repository: nil)
        defer { other.stopIfRunning() }
        try other.start()
        let before = try snapshot(repo)
        let foreign = try s.pgbk(["receive-wal", "-B", repo, "-h", other.socketDir, "-p", String(other.port), "-U", "postgres"])
        #expect(failsWithOneError(foreign) && foreign.stderr.contains("system identifier"), "\(foreign)")
        let noSlot = try s.pgbk(["receive-wal", "-B", repo, "-h", primary.socketDir, "-p", String(primary.port), "-U", "postgres", "--slot", "nosuch"])
        #expect(failsWithOneError(noSlot) && noSlot.stderr.contains("nosuch"), "\(noSlot)")
        let badName = try s.pgbk(["receive-wal", "-B", repo, "-h", primary.socketDir, "-p", String(primary.port), "--slot", "Bad-Name", "--create-slot"])
        #expect(failsWithOneError(badName) && badName.stderr.contains("--slot Bad-Name"), "\(badName)")
        // wal_level = minimal allows no walsender (max_wal_senders = 0): the server says so.
        let minimal = try TestCluster.create(s, name: "minimal", repository: nil)
        defer { minimal.stopIfRunning() }
        try minimal.appendConfig("wal_level = minimal\nmax_wal_senders = 0\narchive_mode = off\n")
        try minimal.start()
        let noWALSender = try s.pgbk(["receive-wal", "-B", repo, "-h", minimal.socketDir, "-p", String(minimal.port), "-U", "postgres"])
        #expect(failsWithOneError(noWALSender) && noWALSender.stderr.contains("max_wal_senders"), "\(noWALSender)")
        try primary.execute("CREATE ROLE plain LOGIN")
        let noPrivilege = try s.pgbk(["receive-wal", "-B", repo, "-h", primary.socketDir, "-p", String(primary.port), "-U", "plain"])
        #expect(failsWithOneError(noPrivilege), "\(noPrivilege)")
        #expect(try snapshot(repo) == before)
    }

    /// A partial in wal/receiving/ that another cluster's WAL was put in (a repository others
    /// can write): archive-get refuses it in one line and writes nothing, validate fails
    /// naming it, show timeline says it cannot be used.
    @Test func aPartialFromAnotherClusterIsRefused() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let primary = try cluster(s, repo)
        defer { primary.stopIfRunning() }
        _ = try backupAndValidate(s, repo, primary, "full")
        let other = try TestCluster.create(s, name: "other", repository: nil)
        let foreign = try #require(try FileSystem.list(other.dataDir + "/pg_wal").first { $0.count == 24 })
        let name = WALSegmentName(timeline: 1, segmentNumber: 40, segmentSize: 16 << 20).name
        try FileSystem.makeDirectories(repo + "/wal/receiving")
        try copyFile(from: other.dataDir + "/pg_wal/" + foreign, to: repo + "/wal/receiving/\(name).partial", mode: 0o644)
        try s.chownToPostgres(repo + "/wal/receiving")
        try s.chownToPostgres(repo + "/wal/receiving/\(name).partial")

        let got = try s.pgbk(["archive-get", "-B", repo, name, s.path + "/got"])
        #expect(failsWithOneError(got) && got.stderr.contains("\(name).partial") && got.stderr.contains("system identifier"), "\(got)")
        #expect(!FileManager.default.fileExists(atPath: s.path + "/got"))
        let validated = try s.pgbk(["validate", "-B", repo])
        #expect(!validated.succeeded && validated.stderr.contains("receive-wal's partial segment cannot be used")
                && validated.stderr.contains("system identifier"), "\(validated)")
        let shown = try s.pgbk(["show", "-B", repo, "timeline"])
        #expect(shown.succeeded && shown.stdout.contains("received: receive-wal's partial segment cannot be used"), "\(shown)")
    }

    /// receive-wal as the only source of WAL (archive_mode = off, as Barman allows): backup
    /// checks it streams and takes the backup's WAL from it; after the primary is lost, a
    /// restore has every row committed before receive-wal's last status update.
    @Test func withoutArchiveCommandReceiveWALFeedsBackupsAndRestores() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let primary = try TestCluster.create(s, name: "db", repository: nil)
        defer { primary.stopIfRunning() }
        #expect(try s.pgbk(["init", "-B", repo, "-D", primary.dataDir]).succeeded)
        try primary.start()
        let refused = try s.pgbk(["backup", "-B", repo, "-D", primary.dataDir, "-b", "full"] + primary.connectionArgs)
        #expect(failsWithOneError(refused) && refused.stderr.contains("no pgbk receive-wal streams into"), "\(refused)")

        let receiver = try receiving(s, repo, primary, ["--slot", "pgbk_only", "--create-slot", "--status-interval", "1"])
        defer { kill(receiver.pid, SIGKILL); _ = receiver.wait() }
        try waitUntil("receive-wal to stream") {
            try primary.scalar("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") == "1"
                && FileSystem.isDirectory(repo + "/wal/receiving")
        }
        try primary.execute("CREATE TABLE t (n int PRIMARY KEY)")
        let backup = try s.pgbk(["backup", "-B", repo, "-D", primary.dataDir, "-b", "full"] + primary.connectionArgs)
        #expect(backup.succeeded, "\(backup)")
        #expect(try s.pgbk(["validate", "-B", repo]).succeeded)
        // check: no archive_command needed; archiving tested end to end through receive-wal.
        let check = try s.pgbk(["check", "-B", repo] + primary.connectionArgs)
        #expect(check.stdout.contains("OK       archive_mode ") && check.stdout.contains("receive-wal")
                && check.stdout.contains("OK       archiving ") && !check.stdout.contains("archive_command")
                && check.stdout.split(separator: "\n").contains { $0.hasPrefix("OK ") && $0.contains(" receive_wal ") && $0.contains("receive-wal is streaming (async)") },
                "\(check) receiving: \((try? FileSystem.list(repo + "/wal/receiving")) ?? []) current: \((try? primary.scalar("SELECT pg_walfile_name(pg_current_wal_lsn())")) ?? "?")")
        // Another application_name is looked for when asked: none streams under it.
        let other = try s.pgbk(["check", "-B", repo, "--no-archive-test", "--receive-wal-name", "nosuch"] + primary.connectionArgs)
        #expect(other.status == 2 && other.stdout.contains("no walsender for application_name nosuch"), "\(other)")
        let badLevel = try s.pgbk(["check", "-B", repo, "--no-archive-test", "--receive-lag-warning", "16Q"] + primary.connectionArgs)
        #expect(failsWithOneError(badLevel) && badLevel.stderr.contains("--receive-lag-warning"), "\(badLevel)")
        let metrics = try s.pgbk(["show", "-B", repo, "--metrics"])
        #expect(metrics.stdout.contains("pgbk_receive_wal_last_write_age_seconds{repository=\"\(repo)\"}"), "\(metrics)")
        try primary.execute("INSERT INTO t SELECT generate_series(1, 500)")
        let end = try waitUntilFlushed(primary)
        // The metrics place the received end at or past what the server reports flushed.
        let flushed = try s.pgbk(["show", "-B", repo, "--metrics"]).stdout.split(separator: "\n")
            .first { $0.hasPrefix("pgbk_receive_wal_received_lsn_bytes{") }.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) }
        #expect(flushed.map { $0 >= Double(LSN(end)?.value ?? .max) } == true, "\(String(describing: flushed)) against \(end)")
        kill(receiver.pid, SIGTERM)
        #expect(receiver.wait().succeeded)
        // receive-wal gone: check says so.
        let gone = try s.pgbk(["check", "-B", repo, "--no-archive-test"] + primary.connectionArgs)
        #expect(gone.status == 2 && gone.stdout.split(separator: "\n").contains {
            $0.hasPrefix("CRITICAL ") && $0.contains(" receive_wal ") && $0.contains("no pgbk receive-wal is connected")
        }, "\(gone)")
        try primary.stop(mode: "immediate")
        try FileSystem.removeTree(primary.dataDir)
        let restored = try restoredToTheEnd(s, repo)
        defer { restored.stopIfRunning() }
        #expect(try restored.scalar("SELECT count(*) FROM t") == "500")
    }

    /// A standby promoted while receive-wal follows `-h primary,standby` (libpq's
    /// target_session_attrs=read-write): it finds the new primary, stores the history file
    /// and the old timeline's last segment as .partial, and goes on without a gap; a restore
    /// to the end has the rows of both timelines. receive-wal is the only archiver here.
    @Test func aPromotedStandbyIsFollowedWithoutAGap() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let primary = try cluster(s, repo, settings: "archive_command = 'true'\n")
        defer { primary.stopIfRunning() }
        try primary.execute("CREATE TABLE t (n int PRIMARY KEY)")
        // With a slot: the backup's checkpoint would otherwise recycle the segment it reads.
        let first = try receiving(s, repo, primary, ["--slot", "pgbk_follow", "--create-slot"])
        try waitUntilStreaming(primary)
        let full = try s.pgbk(["backup", "-B", repo, "-D", primary.dataDir, "-b", "full", "--archive-timeout", "30"] + primary.connectionArgs)
        guard full.succeeded else {
            kill(first.pid, SIGTERM)
            Issue.record("\(full)\nreceive-wal: \(first.wait())")
            return
        }
        #expect(try s.pgbk(["validate", "-B", repo]).succeeded)

        let standbyDir = s.path + "/standby"
        let restored = try s.pgbk(["restore", "-B", repo, "-D", standbyDir, "--as-standby", "--primary-conninfo",
                                   "host=\(primary.socketDir) port=\(primary.port) user=postgres application_name=standby"])
        #expect(restored.succeeded, "\(restored)")
        let standby = try TestCluster.adopt(standbyDir, scratch: s, name: "standby")
        defer { standby.stopIfRunning() }
        try standby.start()
        // receive-wal again, now given both hosts: libpq connects to the one that is writable.
        kill(first.pid, SIGTERM)
        #expect(first.wait().succeeded)
        // --create-slot: after the failover the new primary gets its own slot.
        let receiver = try s.spawnPgbkDirect(["receive-wal", "-B", repo, "-U", "postgres", "--status-interval", "1",
                                              "--slot", "pgbk_follow", "--create-slot",
                                              "-h", "\(primary.socketDir),\(standby.socketDir)", "-p", "\(primary.port),\(standby.port)",
                                              "-d", "dbname=postgres target_session_attrs=read-write"])
        defer { kill(receiver.pid, SIGKILL); _ = receiver.wait() }
        try waitUntil("the second receive-wal to stream from the primary", seconds: 30) {
            try primary.scalar("SELECT count(*) FROM pg_stat_replication WHERE application_name = 'pgbk' AND state = 'streaming'") == "1"
        }
        try primary.execute("INSERT INTO t SELECT generate_series(1, 5)")
        try waitUntil("the standby to replay rows 1-5") { try standby.scalar("SELECT count(*) FROM t") == "5" }

        try primary.stop()
        try standby.execute("SELECT pg_promote()")
        try standby.waitForPromotion()
        try standby.execute("INSERT INTO t SELECT generate_series(6, 10)")
        let last = try #require(try standby.scalar("SELECT pg_walfile_name(pg_current_wal_lsn())"))
        try standby.execute("SELECT pg_switch_wal()")
        do {
            try waitUntil("receive-wal to store \(last) from the new primary", seconds: 40) { try Repository.open(repo).wal.find(last) != nil }
        } catch {
            kill(receiver.pid, SIGTERM)
            Issue.record("\(error)\nreceive-wal: \(receiver.wait())")
            return
        }
        kill(receiver.pid, SIGTERM)
        let stopped = receiver.wait()
        #expect(stopped.succeeded && stopped.stderr.contains("on timeline 2"), "\(stopped)")
        let archive = try Repository.open(repo).wal
        #expect(try archive.find("00000002.history") != nil)
        #expect(try archive.listAll().contains { $0.walName.hasPrefix("00000001") && $0.walName.hasSuffix(".partial") }, "the old timeline's end")

        try standby.stop()
        let back = try restoredToTheEnd(s, repo)
        defer { back.stopIfRunning() }
        #expect(try back.scalar("SELECT count(*) FROM t") == "10")
    }
}
