import Testing
import Repository

/// Backups taken from a streaming standby (issue 14, item 1), as pg_rman's --standby-host:
/// -h/-p name the primary, --standby-host/--standby-port the standby whose data directory
/// is -D.
@Suite(.ownThread) struct StandbyBackupTests {
    /// A primary with pgbench tables, and a standby made from its backup with
    /// restore --as-standby, streaming from it.
    func pair(_ s: Scratch, repo: String) throws -> (primary: TestCluster, standby: TestCluster) {
        let primary = try TestCluster.create(s, name: "primary", checksums: true, repository: repo)
        #expect(try s.pgbk(["init", "-B", repo, "-D", primary.dataDir]).succeeded)
        try primary.start()
        let bench = try primary.runClient("pgbench", primary.connectionArgs + ["-i", "-s", "3", "-q", "postgres"])
        try #require(bench.succeeded, "\(bench)")
        _ = try backupAndValidate(s, repo, primary, "full")
        let target = try s.makeDirectory("standby")
        let r = try s.pgbk(["restore", "-B", repo, "-D", target, "--as-standby", "--primary-conninfo",
                            "host=\(primary.socketDir) port=\(primary.port) user=postgres"])
        try #require(r.succeeded, "\(r)")
        let standby = try TestCluster.adopt(target, scratch: s, name: "standby")
        try standby.appendConfig("hot_standby = on\n")
        try standby.start()
        try waitUntil("the standby to stream") { try standby.scalar("SELECT status FROM pg_stat_wal_receiver") == "streaming" }
        return (primary, standby)
    }

    func standbyArgs(_ standby: TestCluster) -> [String] {
        ["-D", standby.dataDir, "--standby-host", standby.socketDir, "--standby-port", String(standby.port)]
    }

    @Test func fullAndIncrementalFromAStandbyUnderLoadRestoreConsistently() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let (primary, standby) = try pair(s, repo: repo)
        defer { primary.stopIfRunning(); standby.stopIfRunning() }

        let load = try Command.spawn(pgBin + "/pgbench", primary.connectionArgs + ["-n", "-c", "4", "-j", "2", "-T", "12", "postgres"],
                                     asPostgres: true, outputDirectory: s.path)
        try waitUntil("pgbench to start writing") { Int(try primary.scalar("SELECT count(*) FROM pgbench_history") ?? "0") ?? 0 > 100 }
        var ids: [String] = []
        for mode in ["full", "incremental"] {
            let r = try s.pgbk(["backup", "-B", repo, "-b", mode] + standbyArgs(standby) + primary.connectionArgs)
            #expect(r.succeeded, "\(r)")
            #expect(try s.pgbk(["validate", "-B", repo]).succeeded)
            let id = try #require(try Repository.open(repo).backupIDs().last)
            let info = try Repository.open(repo).loadBackup(id)
            #expect(info.status == .ok && info.label.contains("from standby \(standby.socketDir):\(standby.port)"), "\(info)")
            ids.append(id)
        }
        #expect(load.wait().succeeded)
        try primary.switchWALAndWaitForArchive(repository: repo)
        try standby.stop()
        try primary.stop()

        for (name, id) in [("full", ids[0]), ("chain", ids[1])] {
            let target = try s.makeDirectory("restored-\(name)")
            let restore = try s.pgbk(["restore", "-B", repo, "-D", target, "--backup-id", id])
            #expect(restore.succeeded, "\(restore)")
            let restored = try TestCluster.startRestored(target, scratch: s, name: "r-\(name)")
            defer { restored.stopIfRunning() }
            try expectPgbenchConsistent(restored, name)
            try restored.stop()
        }
    }

    @Test func aServerThatIsNotAStreamingStandbyOfThePrimaryIsRefused() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let (primary, standby) = try pair(s, repo: repo)
        defer { primary.stopIfRunning(); standby.stopIfRunning() }
        let before = try Repository.open(repo).backupIDs()

        // The primary named as the standby.
        let notStandby = try s.pgbk(["backup", "-B", repo, "-D", standby.dataDir, "--standby-host", primary.socketDir,
                                     "--standby-port", String(primary.port)] + primary.connectionArgs)
        #expect(!notStandby.succeeded && oneLine(notStandby) && notStandby.stderr.contains("not a standby"), "\(notStandby)")
        // The standby named as the primary.
        let swapped = try s.pgbk(["backup", "-B", repo] + standbyArgs(standby) + standby.connectionArgs)
        #expect(!swapped.succeeded && oneLine(swapped) && swapped.stderr.contains("name the primary"), "\(swapped)")
        // A standby further behind than --max-standby-lag (its replay paused).
        try standby.execute("SELECT pg_wal_replay_pause()")
        try primary.execute("CREATE TABLE lag AS SELECT g FROM generate_series(1, 10000) g")
        let lagging = try s.pgbk(["backup", "-B", repo, "--max-standby-lag", "64kB"] + standbyArgs(standby) + primary.connectionArgs)
        #expect(!lagging.succeeded && oneLine(lagging) && lagging.stderr.contains("--max-standby-lag"), "\(lagging)")
        try standby.execute("SELECT pg_wal_replay_resume()")
        // A primary on another timeline than the standby: a copy of the primary restored from
        // the repository and promoted (timeline 2), while the standby follows timeline 1.
        let forkTarget = try s.makeDirectory("fork")
        let forked = try s.pgbk(["restore", "-B", repo, "-D", forkTarget, "--recovery-target-action", "promote"])
        try #require(forked.succeeded, "\(forked)")
        let fork = try TestCluster.startRestored(forkTarget, scratch: s, name: "fork")
        defer { fork.stopIfRunning() }
        let otherTimeline = try s.pgbk(["backup", "-B", repo] + standbyArgs(standby) + fork.connectionArgs)
        #expect(!otherTimeline.succeeded && oneLine(otherTimeline) && otherTimeline.stderr.contains("timeline 1, the primary on timeline 2"),
                "\(otherTimeline)")
        try fork.stop()
        // A standby that does not stream.
        try standby.execute("ALTER SYSTEM SET primary_conninfo = ''")
        try standby.execute("SELECT pg_reload_conf()")
        try waitUntil("the WAL receiver to stop") { try standby.scalar("SELECT count(*) FROM pg_stat_wal_receiver") == "0" }
        let notStreaming = try s.pgbk(["backup", "-B", repo] + standbyArgs(standby) + primary.connectionArgs)
        #expect(!notStreaming.succeeded && oneLine(notStreaming) && notStreaming.stderr.contains("not streaming"), "\(notStreaming)")
        #expect(try Repository.open(repo).backupIDs() == before, "nothing was started")
        let portOnly = try s.pgbk(["backup", "-B", repo, "-D", standby.dataDir, "--standby-port", "5432"] + primary.connectionArgs)
        #expect(!portOnly.succeeded && oneLine(portOnly) && portOnly.stderr.contains("--standby-host"), "\(portOnly)")
    }

    @Test func aStandbyPromotedDuringTheBackupFailsItAndLeavesNothingUsable() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let (primary, standby) = try pair(s, repo: repo)
        defer { primary.stopIfRunning(); standby.stopIfRunning() }
        // Stopped after its third file; the standby is promoted; then pgbk goes on.
        let process = try s.spawnPgbkStopped(["backup", "-B", repo] + standbyArgs(standby) + primary.connectionArgs,
                                             at: "backup-file-copied@3")
        try standby.execute("SELECT pg_promote()")
        try standby.waitForPromotion()
        process.resume()
        let r = process.wait()
        #expect(failsWithOneError(r) && r.stderr.contains("standby was promoted"), "\(r)")
        let id = try #require(try Repository.open(repo).backupIDs().last)
        #expect(![.done, .ok].contains(try Repository.open(repo).loadBackup(id).status), "a backup from a promoted standby is never usable")
        _ = try s.pgbk(["validate", "-B", repo])
        #expect(try Repository.open(repo).loadBackup(id).status == .error)
    }
}

extension StandbyBackupTests {
    /// BASE_BACKUP from a standby (--method protocol with --standby-host), as an incremental
    /// on top of a full backup read from disk: one catalog whichever way the files came. The
    /// primary switches WAL at the end, and the chain restores to the primary's data.
    @Test func overTheReplicationProtocolFromAStandbyOnTopOfALocalFull() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let (primary, standby) = try pair(s, repo: repo)
        defer { primary.stopIfRunning(); standby.stopIfRunning() }
        try primary.execute("UPDATE pgbench_accounts SET abalance = abalance + 7 WHERE aid <= 300")
        let sum = "SELECT sum(abalance)::text || '/' || count(*) FROM pgbench_accounts"
        let expected = try primary.scalar(sum)
        let r = try s.pgbk(["backup", "-B", repo, "-b", "incremental", "--method", "protocol", "--standby-host", standby.socketDir,
                            "--standby-port", String(standby.port)] + primary.connectionArgs)
        #expect(r.succeeded && r.stderr.contains("on top of"), "\(r)")
        #expect(try s.pgbk(["validate", "-B", repo]).succeeded)
        let info = try Repository.open(repo).loadBackup(try #require(try Repository.open(repo).backupIDs().last))
        #expect(info.status == .ok && info.method == .protocol && info.mode == .incremental
                && info.label.contains("from standby \(standby.socketDir):\(standby.port)"), "\(info)")
        try primary.switchWALAndWaitForArchive(repository: repo)
        try standby.stop()
        try primary.stop()
        let target = try s.makeDirectory("restored-protocol")
        let restore = try s.pgbk(["restore", "-B", repo, "-D", target])
        #expect(restore.succeeded, "\(restore)")
        // A standby's standby.signal came with BASE_BACKUP and was left out: recovery ends.
        let restored = try TestCluster.startRestored(target, scratch: s, name: "r-protocol")
        defer { restored.stopIfRunning() }
        #expect(try restored.scalar(sum) == expected)
    }
}
