import Testing
import Repository

/// Issue 29, item 1: `-b diff` builds on the newest OK full, whatever incrementals came
/// since, and `--parent` on the backup it names; both restore exactly (pg_dump equal,
/// pg_amcheck and pg_checksums clean) on 15 and 18. Bad choices of parent are refused in one
/// line with nothing written.
@Suite(.ownThread) struct DifferentialBackupTests {
    @Test(arguments: [15, 18]) func aDiffBuildsOnTheFullAndAChosenParentOnThatBackup(major: Int) throws {
        let install = try PostgresInstall.of(major)
        let s = try Scratch()
        let repo = s.path + "/repo"
        let source = try TestCluster.createInitialized(s, name: "src", repository: repo, bin: install.bin)
        defer { source.stopIfRunning() }
        try source.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        try source.execute("INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000) g")
        let full = try backupAndValidate(s, repo, source, "full")
        try source.execute("UPDATE t SET v = 'one' WHERE id % 10 = 1")
        let incremental = try backupAndValidate(s, repo, source, "incremental")
        try source.execute("UPDATE t SET v = 'two' WHERE id % 10 = 2")
        let diff = try backupAndValidate(s, repo, source, "diff")
        let expected = try dumpLines(source)
        try source.execute("UPDATE t SET v = 'three' WHERE id % 10 = 3")
        let chosen = try s.pgbk(["backup", "-B", repo, "-D", source.dataDir, "-b", "incremental", "--parent", incremental] + source.connectionArgs)
        #expect(chosen.succeeded, "\(chosen)")
        let onIncremental = try #require(try latestBackup(s, repo)["id"] as? String)
        #expect(try s.pgbk(["validate", "-B", repo]).succeeded)

        let shown = try parseBackupsJSON(try s.pgbk(["show", "-B", repo, "--json"]).stdout)
        func record(_ id: String) -> [String: Any]? { shown.first { $0["id"] as? String == id } }
        #expect(record(diff)?["parent_id"] as? String == full, "a diff builds on the full, not on \(incremental)")
        #expect(record(diff)?["differential"] as? Bool == true && record(diff)?["mode"] as? String == "INCREMENTAL")
        #expect(record(onIncremental)?["parent_id"] as? String == incremental && record(onIncremental)?["differential"] as? Bool == false)
        #expect(try s.pgbk(["show", "-B", repo]).stdout.contains("DIFFERENTIAL"))

        // Bad parents: one line, non-zero, no new backup.
        let count = try Repository.open(repo).backupIDs().count
        for args in [["-b", "incremental", "--parent", "20200101-000000F"], ["-b", "full", "--parent", full],
                     ["-b", "diff", "--parent", full], ["-b", "incremental", "--parent", "newest"]] {
            let r = try s.pgbk(["backup", "-B", repo, "-D", source.dataDir] + args + source.connectionArgs)
            #expect(r.status != 0 && failsWithOneError(r) && r.stderr.contains("--parent"), "\(args): \(r)")
        }
        #expect(try Repository.open(repo).backupIDs().count == count)

        // The diff restored alone with its full, to the moment it ended.
        let target = s.path + "/restored"
        let restore = try s.pgbk(["restore", "-B", repo, "-D", target, "--backup-id", diff, "--recovery-target", "immediate", "--recovery-target-action", "promote"])
        #expect(restore.succeeded && restore.stderr.contains("chain of 2: \(diff) <- \(full)"), "\(restore)")
        let restored = try TestCluster.startRestored(target, scratch: s, name: "restored", bin: install.bin)
        defer { restored.stopIfRunning() }
        #expect(try dumpLines(restored) == expected)
        #expect(try restored.scalar("SELECT count(*) FROM t WHERE v = 'two'") == "2000")
        if install.hasAmcheck {
            let amcheck = try restored.runClient("pg_amcheck", restored.connectionArgs + ["--all", "--install-missing"])
            #expect(amcheck.succeeded && amcheck.stdout.isEmpty, "\(amcheck)")
        }
        try restored.stop()
        let checksums = try restored.runClient("pg_checksums", ["--check", "-D", target])
        #expect(checksums.succeeded, "\(checksums)")
    }
}
