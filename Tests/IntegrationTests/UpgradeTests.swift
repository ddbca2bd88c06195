import Testing
import Repository

/// Issue 29, item 8: pg_upgrade from 15 to 16 and from 16 to 18, each followed by
/// `upgrade-repository`: the new cluster's WAL is refused until then and archived after;
/// every generation's backups restore with their own major's binaries (pg_dump equal);
/// show lists the generation of each backup; retention counts across generations and takes
/// an earlier generation's WAL with its last backup. Bad input changes nothing.
@Suite(.ownThread) struct UpgradeTests {
    @Test func everyGenerationsBackupsRestoreAcrossTwoUpgrades() throws {
        let (v15, v16, v18) = (try PostgresInstall.of(15), try PostgresInstall.of(16), try PostgresInstall.of(18))
        let s = try Scratch()
        let repo = s.path + "/repo"
        let pg15 = try TestCluster.createInitialized(s, name: "pg15", repository: repo, bin: v15.bin)
        defer { pg15.stopIfRunning() }
        // A second repository, upgraded alongside: copy carries every generation into it.
        let second = s.path + "/repo2"
        #expect(try s.pgbk(["init", "-B", second, "-D", pg15.dataDir]).succeeded)
        try pg15.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        try pg15.execute("INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000) g")
        _ = try backupAndValidate(s, repo, pg15, "full")
        try pg15.execute("UPDATE t SET v = 'fifteen' WHERE id % 10 = 0")
        let backup15 = try backupAndValidate(s, repo, pg15, "incremental")
        let expected15 = try dumpLines(pg15)
        try pg15.stop()

        let pg16 = try upgrade(pg15, to: v16, name: "pg16", s: s)
        defer { pg16.stopIfRunning() }
        let identityFile = repo + "/repository.ini"
        let before = try FileSystem.readText(identityFile)
        // Before upgrade-repository the new cluster's WAL belongs to no generation.
        try pg16.start()
        let segment = try #require(try pg16.scalar("SELECT pg_walfile_name(pg_current_wal_lsn())"))
        try pg16.stop()
        let refused = try s.pgbk(["archive-push", "-B", repo, pg16.dataDir + "/pg_wal/" + segment])
        #expect(refused.status != 0 && refused.stderr.contains("upgrade-repository"), "\(refused)")
        for args in [["-D", pg15.dataDir], ["-D", s.path + "/nowhere"], []] {
            let r = try s.pgbk(["upgrade-repository", "-B", repo] + args, env: ["PGDATA": ""])
            #expect(failsWithOneError(r), "\(args): \(r)")
        }
        #expect(try FileSystem.readText(identityFile) == before)

        let upgraded = try s.pgbk(["upgrade-repository", "-B", repo, "-D", pg16.dataDir])
        #expect(upgraded.succeeded && upgraded.stderr.contains("generation 2"), "\(upgraded)")
        #expect(try Repository.open(repo).identity.generation == 2)
        let unmatched = try s.pgbk(["copy", "-B", repo, "-B", second, "--from-repo", "1", "--to-repo", "2"])
        #expect(failsWithOneError(unmatched), "a repository not yet upgraded is refused: \(unmatched)")
        #expect(try s.pgbk(["upgrade-repository", "-B", second, "-D", pg16.dataDir]).succeeded)
        try pg16.appendConfig("archive_mode = on\narchive_command = '\(s.pgbk) archive-push -B \(repo) %p'\n")
        try pg16.start()
        try pg16.execute("UPDATE t SET v = 'sixteen' WHERE id % 10 = 1")
        let backup16 = try backupAndValidate(s, repo, pg16, "full")
        let expected16 = try dumpLines(pg16)
        try pg16.stop()

        let pg18 = try upgrade(pg16, to: v18, name: "pg18", s: s)
        defer { pg18.stopIfRunning() }
        #expect(try s.pgbk(["upgrade-repository", "-B", repo, "-D", pg18.dataDir]).succeeded)
        #expect(try s.pgbk(["upgrade-repository", "-B", second, "-D", pg18.dataDir]).succeeded)
        try pg18.appendConfig("archive_mode = on\narchive_command = '\(s.pgbk) archive-push -B \(repo) %p'\n")
        try pg18.start()
        try pg18.execute("UPDATE t SET v = 'eighteen' WHERE id % 10 = 2")
        _ = try backupAndValidate(s, repo, pg18, "full")
        try pg18.execute("UPDATE t SET v = 'later' WHERE id % 10 = 3")
        let newest = try backupAndValidate(s, repo, pg18, "incremental")

        let shown = try parseBackupsJSON(try s.pgbk(["show", "-B", repo, "--json"]).stdout)
        #expect(shown.map { $0["generation"] as? Int } == [1, 1, 2, 3, 3], "\(shown)")
        #expect(try s.pgbk(["show", "-B", repo]).stdout.contains("Gen"))
        // The window and its gaps are the current generation's: the earlier ones' WAL is apart.
        let timeline = try s.pgbk(["show", "timeline", "-B", repo])
        #expect(timeline.succeeded && !timeline.stdout.contains("missing from the archive") && timeline.stdout.contains("recoverable: from"), "\(timeline)")
        let recheck = try s.pgbk(["validate", "-B", repo, "--recheck"])
        #expect(recheck.succeeded, "every generation's backups and archive read back: \(recheck)")

        // Each generation's backup restores with its major's binaries, from its own WAL.
        for (backup, install, expected, name) in [(backup15, v15, expected15, "r15"), (backup16, v16, expected16, "r16")] {
            let target = s.path + "/" + name
            let restore = try s.pgbk(["restore", "-B", repo, "-D", target, "--backup-id", backup,
                                      "--recovery-target", "immediate", "--recovery-target-action", "promote"])
            #expect(restore.succeeded && restore.stderr.contains("generation"), "\(restore)")
            let restored = try TestCluster.startRestored(target, scratch: s, name: name, bin: install.bin)
            defer { restored.stopIfRunning() }
            #expect(try dumpLines(restored) == expected, "\(name)")
        }
        let copy = try s.pgbk(["copy", "-B", repo, "-B", second, "--from-repo", "1", "--to-repo", "2"])
        #expect(copy.succeeded, "\(copy)")
        let copied = try s.pgbk(["validate", "-B", second, "--recheck"])
        #expect(copied.succeeded, "each generation's backups find their WAL in the copy: \(copied)")
        #expect(try Repository.open(second).loadAll().backups.filter { $0.status == .ok }.count == 5)
        // A drill of the first generation's backup, with its major's binaries.
        let drills = try s.makeDirectory("drills")
        let drill = try s.pgbk(["drill", "-B", repo, "--backup-id", backup15, "--scratch-dir", drills, "--pg-bin", v15.bin, "-U", "postgres",
                                "--sql-check", "SELECT count(*) = 2000 FROM t WHERE v = 'fifteen'"])
        #expect(drill.succeeded && drill.stderr.contains(": OK: backup \(backup15)"), "\(drill)")
        // Retention counts across generations; the earlier archives go with their backups.
        #expect(try s.pgbk(["expire", "-B", repo, "--keep-data-generations", "1"]).succeeded)
        let left = try Repository.open(repo).loadAll().backups.filter(\.isUsable).map(\.id)
        #expect(left.last == newest && left.count == 2, "\(left)")
        for root in ["wal", "wal-2"] {
            let segments = try FileSystem.list(repo + "/" + root).filter { $0.count == 16 }
                .flatMap { try FileSystem.list(repo + "/" + root + "/" + $0) }
            #expect(segments.isEmpty, "\(root): \(segments)")
        }
    }

    /// pg_upgrade of a stopped cluster into a new one of `install`'s major (initdb'd alike).
    func upgrade(_ old: TestCluster, to install: PostgresInstall, name: String, s: Scratch) throws -> TestCluster {
        let new = try TestCluster.create(s, name: name, repository: nil, bin: install.bin)
        let sockets = try s.makeDirectory("upgrade-" + name)
        let r = try Command.run(install.bin + "/pg_upgrade", ["-b", old.bin, "-B", install.bin, "-d", old.dataDir, "-D", new.dataDir,
                                                            "-p", String(old.port), "-P", String(new.port), "-s", sockets, "-U", "postgres"],
                                asPostgres: true, outputDirectory: sockets)
        guard r.succeeded else { throw CommandError(result: r) }
        return new
    }
}
