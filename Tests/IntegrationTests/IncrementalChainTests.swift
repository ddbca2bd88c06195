import Testing
import Foundation
import PostgresFormat
import Repository

/// Relation files (main and init forks) under a data directory, with their sizes.
func relationFiles(_ dataDir: String) throws -> [String: UInt64] {
    var result: [String: UInt64] = [:]
    func walk(_ dir: String, _ rel: String) throws {
        for name in try FileSystem.list(dir) {
            let path = dir + "/" + name
            let key = rel.isEmpty ? name : rel + "/" + name
            let st = try FileSystem.status(path, followLinks: true)
            if st.kind == .directory { try walk(path, key); continue }
            if let r = RelationFileName(name), !r.isTemporary, r.fork == .main || r.fork == .`init` { result[key] = st.size }
        }
    }
    try walk(dataDir + "/base", "base")
    try walk(dataDir + "/global", "global")
    try walk(dataDir + "/pg_tblspc", "pg_tblspc")
    return result
}

@Suite(.ownThread) struct IncrementalChainTests {
    /// Three incrementals across the changes that break naive tools, restored exactly.
    @Test func aChainOfIncrementalsAcrossDDLAndTruncationRestoresExactly() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let source = try TestCluster.create(s, name: "src", repository: repo)
        defer { source.stopIfRunning() }
        try source.appendConfig("autovacuum = off\n")
        #expect(try s.pgbk(["init", "-B", repo, "-D", source.dataDir]).succeeded)
        try source.start()
        let tsDir = try s.makeDirectory("ts")
        try source.execute("CREATE TABLESPACE ts LOCATION '\(tsDir)'")
        for table in ["t_keep", "t_trunc", "t_drop", "t_move", "t_upd"] {
            try source.execute("CREATE TABLE \(table) (id int PRIMARY KEY, v text)")
            try source.execute("INSERT INTO \(table) SELECT g, md5(g::text) FROM generate_series(1, 20000) g")
        }
        _ = try backupAndValidate(s, repo, source, "full")
        // From here on small files go into bundles (issue 28): the chain mixes both kinds.
        let bundled = ["BUNDLE": "on", "BUNDLE_SIZE": "1M", "BUNDLE_LIMIT": "256K"]

        try source.execute("INSERT INTO t_keep SELECT g, 'new' FROM generate_series(20001, 25000) g")
        try source.execute("UPDATE t_upd SET v = upper(v) WHERE id % 3 = 0")
        try source.execute("DELETE FROM t_keep WHERE id % 5 = 0")
        try source.execute("CREATE DATABASE db2")
        try source.execute("CREATE TABLE d (id int, v text)", database: "db2")
        try source.execute("INSERT INTO d SELECT g, md5(g::text) FROM generate_series(1, 3000) g", database: "db2")
        _ = try backupAndValidate(s, repo, source, "incremental", env: bundled)

        let before = Int(try source.scalar("SELECT pg_relation_size('t_trunc')") ?? "0") ?? 0
        try source.execute("DELETE FROM t_trunc WHERE id > 2000")
        try source.execute("VACUUM t_trunc")
        let after = Int(try source.scalar("SELECT pg_relation_size('t_trunc')") ?? "0") ?? 0
        try #require(after < before / 2, "VACUUM did not truncate t_trunc (\(before) -> \(after))")
        try source.execute("DROP TABLE t_drop")
        try source.execute("ALTER TABLE t_move SET TABLESPACE ts")
        _ = try backupAndValidate(s, repo, source, "incremental")

        try source.execute("INSERT INTO t_trunc SELECT g, 'refill' FROM generate_series(30001, 30100) g")
        try source.execute("UPDATE t_move SET v = 'moved ' || v WHERE id % 7 = 0")
        try source.execute("INSERT INTO d SELECT g, 'more' FROM generate_series(3001, 4000) g", database: "db2")
        try source.execute("CREATE TABLE t_new AS SELECT g AS id FROM generate_series(1, 1000) g")
        let last = try backupAndValidate(s, repo, source, "incremental", env: bundled)

        let shown = try parseBackupsJSON(try s.pgbk(["show", "-B", repo, "--json"]).stdout)
        #expect(shown.map { $0["mode"] as? String } == ["FULL", "INCREMENTAL", "INCREMENTAL", "INCREMENTAL"])
        #expect(shown.map { $0["bundled"] as? Bool } == [false, true, false, true])
        for (i, b) in shown.enumerated().dropFirst() { #expect(b["parent_id"] as? String == shown[i - 1]["id"] as? String) }

        try source.switchWALAndWaitForArchive(repository: repo)
        // Per database: pg_dumpall would also print the tablespace's location, which the
        // restore deliberately changes.
        let expectedDumps = try ["postgres", "db2"].map { try dumpFingerprint(source, database: $0) }
        let truncRows = try source.scalar("SELECT count(*) FROM t_trunc")
        try source.stop()
        let expectedFiles = try relationFiles(source.dataDir)

        let target = try s.makeDirectory("restored")
        let restore = try s.pgbk(["restore", "-B", repo, "-D", target, "-T", "\(tsDir)=\(s.path)/ts2"])
        #expect(restore.succeeded && restore.stderr.contains("chain of 4"), "\(restore)")
        let restored = try TestCluster.adopt(target, scratch: s, name: "restored")
        defer { restored.stopIfRunning() }
        try restored.start()
        try restored.waitForPromotion()
        #expect(try ["postgres", "db2"].map { try dumpFingerprint(restored, database: $0) } == expectedDumps)
        #expect(try restored.scalar("SELECT pg_tablespace_location(oid) FROM pg_tablespace WHERE spcname = 'ts'") == s.path + "/ts2")
        #expect(try restored.scalar("SELECT count(*) FROM t_move") == "20000")
        #expect(try restored.scalar("SELECT count(*) FROM t_trunc") == truncRows)
        #expect(try restored.scalar("SELECT to_regclass('t_drop') IS NULL") == "t")
        #expect(try restored.scalar("SELECT count(*) FROM d", database: "db2") == "4000")
        let amcheck = try restored.runClient("pg_amcheck", restored.connectionArgs + ["--all", "--install-missing"])
        #expect(amcheck.succeeded && amcheck.stdout.isEmpty, "\(amcheck)")
        try restored.stop()
        // The same relation files, with the same sizes: nothing resurrected, nothing missing.
        let restoredFiles = try relationFiles(target)
        #expect(restoredFiles == expectedFiles, "extra: \(Set(restoredFiles.keys).subtracting(expectedFiles.keys)), missing: \(Set(expectedFiles.keys).subtracting(restoredFiles.keys)), sizes differ: \(expectedFiles.filter { restoredFiles[$0.key] != nil && restoredFiles[$0.key] != $0.value }.map(\.key))")

        try aFlippedByteInABundleIsCorruptNamingTheFile(s, repo, last)
    }

    /// One byte flipped inside a bundle: validate marks the backup CORRUPT naming the file
    /// that holds the byte, not only the bundle, and restore refuses the backup.
    func aFlippedByteInABundleIsCorruptNamingTheFile(_ s: Scratch, _ repo: String, _ id: String) throws {
        let backup = "\(repo)/backup/\(id)"
        let list = try BundleList.decode(try FileSystem.readText(backup + "/bundle.list"), path: "bundle.list")
        let (name, member) = try #require(list.members.filter { $0.value.size > 100 }.min { $0.key < $1.key })
        try flipByte(backup + "/bundle/\(member.bundle)", at: Int(member.offset + member.size / 2))
        let validate = try s.pgbk(["validate", "-B", repo, "--recheck"])
        let path = ["zst", "gz", "lz4", "delta"].reduce(name) { $0.hasSuffix("." + $1) ? String($0.dropLast($1.count + 1)) : $0 }
        #expect(!validate.succeeded && (validate.stdout + validate.stderr).contains("CORRUPT") && (validate.stdout + validate.stderr).contains(path), "\(name): \(validate)")
        #expect(try latestBackup(s, repo)["status"] as? String == "CORRUPT")
        let restore = try s.pgbk(["restore", "-B", repo, "-D", s.path + "/never", "--backup-id", id])
        #expect(!restore.succeeded && !FileSystem.exists(s.path + "/never/PG_VERSION"), "\(restore)")
    }

    /// pgbench writes during the full and the incremental backup; both restores are
    /// consistent: pgbench's balance invariant holds and pg_amcheck is clean.
    @Test func backupsTakenUnderPgbenchLoadRestoreConsistently() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let source = try TestCluster.create(s, name: "src", checksums: true, repository: repo)
        defer { source.stopIfRunning() }
        #expect(try s.pgbk(["init", "-B", repo, "-D", source.dataDir]).succeeded)
        try source.start()
        let initBench = try source.runClient("pgbench", source.connectionArgs + ["-i", "-s", "5", "-q", "postgres"])
        try #require(initBench.succeeded, "\(initBench)")

        let load = try Command.spawn(pgBin + "/pgbench", source.connectionArgs + ["-n", "-c", "4", "-j", "2", "-T", "15", "postgres"],
                                     asPostgres: true, outputDirectory: s.path)
        try waitUntil("pgbench to start writing") { Int(try source.scalar("SELECT count(*) FROM pgbench_history") ?? "0") ?? 0 > 100 }
        _ = try backupAndValidate(s, repo, source, "full")
        let fullID = try #require(try parseBackupsJSON(try s.pgbk(["show", "-B", repo, "--json"]).stdout).last?["id"] as? String)
        _ = try backupAndValidate(s, repo, source, "incremental")
        let bench = load.wait()
        #expect(bench.succeeded, "\(bench)")

        try source.switchWALAndWaitForArchive(repository: repo)
        try source.stop()

        for (name, id) in [("chain", nil as String?), ("full", fullID)] {
            let target = try s.makeDirectory("restored-\(name)")
            let restore = try s.pgbk(["restore", "-B", repo, "-D", target] + (id.map { ["--backup-id", $0] } ?? []))
            #expect(restore.succeeded, "\(restore)")
            let restored = try TestCluster.adopt(target, scratch: s, name: "r-\(name)")
            defer { restored.stopIfRunning() }
            try restored.start()
            try restored.waitForPromotion()
            try expectPgbenchConsistent(restored, name)
            try restored.stop()
        }
    }

    @Test func anIncrementalNeedsAValidatedParentOrTakesAFullWithF() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let source = try TestCluster.create(s, name: "src", repository: repo)
        defer { source.stopIfRunning() }
        #expect(try s.pgbk(["init", "-B", repo, "-D", source.dataDir]).succeeded)
        try source.start()
        let args = ["backup", "-B", repo, "-D", source.dataDir, "-b", "incremental"] + source.connectionArgs

        let none = try s.pgbk(args)
        #expect(none.status != 0 && none.stderr.contains("no usable parent") && none.stderr.contains("-F"), "\(none)")
        #expect(try Repository.open(repo).backupIDs().isEmpty, "nothing is left of the refused backup")

        let withF = try s.pgbk(args + ["-F"])
        #expect(withF.succeeded && withF.stderr.contains("full backup instead"), "\(withF)")
        #expect(try latestBackup(s, repo)["mode"] as? String == "FULL")

        // DONE is not enough: the parent must have been validated.
        let unvalidated = try s.pgbk(args)
        #expect(unvalidated.status != 0 && unvalidated.stderr.contains("no OK"), "\(unvalidated)")
        #expect(try s.pgbk(["validate", "-B", repo]).succeeded)
        let inc = try s.pgbk(args)
        #expect(inc.succeeded, "\(inc)")
        let info = try latestBackup(s, repo)
        #expect(info["mode"] as? String == "INCREMENTAL" && info["parent_id"] is String)

        // A missing parent makes the chain unrestorable, and show says why.
        let parentID = try #require(info["parent_id"] as? String)
        try FileSystem.removeTree(repo + "/backup/" + parentID)
        let show = try s.pgbk(["show", "-B", repo])
        #expect(show.stdout.contains("cannot be restored") && show.stdout.contains(parentID), "\(show)")
        let restore = try s.pgbk(["restore", "-B", repo, "-D", s.path + "/r", "--backup-id", try #require(info["id"] as? String)])
        #expect(restore.status != 0 && restore.stderr.contains(parentID), "\(restore)")
    }

    /// A page that fails its checksum on disk: the backup completes, records file and block,
    /// says so on stderr, and exits 3 so that cron notices. On every major of the matrix.
    @Test(arguments: PostgresInstall.matrix)
    func aCorruptPageInTheClusterIsReportedAndTheBackupExitsThree(major: Int) throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let source = try TestCluster.create(s, name: "src", checksums: true, repository: repo, bin: try PostgresInstall.of(major).bin)
        defer { source.stopIfRunning() }
        #expect(try s.pgbk(["init", "-B", repo, "-D", source.dataDir]).succeeded)
        try source.start()
        try source.execute("CREATE TABLE victim AS SELECT g, md5(g::text) AS v FROM generate_series(1, 20000) g")
        let file = try #require(try source.scalar("SELECT pg_relation_filepath('victim')"))
        try source.stop()
        try flipByte(source.dataDir + "/" + file, at: 3 * 8192 + 5000)
        try source.start()

        let r = try s.pgbk(["backup", "-B", repo, "-D", source.dataDir] + source.connectionArgs)
        #expect(r.status == 3, "\(r)")
        #expect(r.stderr.contains("\(file) block 3") && r.stderr.contains("checksum"), "\(r)")
        let info = try latestBackup(s, repo)
        #expect(info["status"] as? String == "DONE")
        #expect(info["page_errors"] as? Int == 1)
        let detail = try s.pgbk(["show", "-B", repo, try #require(info["id"] as? String)])
        #expect(detail.stdout.contains("PAGE_ERROR_DETAIL=") && detail.stdout.contains(file), "\(detail)")
        let table = try s.pgbk(["show", "-B", repo])
        #expect(table.stdout.contains("failing verification"), "\(table)")
    }

    @Test func aClusterWithMinimalWALIsRefused() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let source = try TestCluster.create(s, name: "src", repository: nil)
        defer { source.stopIfRunning() }
        try source.appendConfig("wal_level = minimal\nmax_wal_senders = 0\narchive_mode = off\n")
        #expect(try s.pgbk(["init", "-B", repo, "-D", source.dataDir]).succeeded)
        try source.start()
        let r = try s.pgbk(["backup", "-B", repo, "-D", source.dataDir] + source.connectionArgs)
        #expect(r.status != 0 && r.stderr.contains("wal_level is minimal"), "\(r)")
    }
}

/// pgbench's balance invariant (accounts, tellers, branches and history sum alike), more
/// than 100 transactions from the load, and a clean pg_amcheck.
func expectPgbenchConsistent(_ restored: TestCluster, _ name: String) throws {
    let sums = try restored.execute("""
        SELECT (SELECT sum(abalance) FROM pgbench_accounts)::text AS a, (SELECT sum(tbalance) FROM pgbench_tellers)::text AS t,
               (SELECT sum(bbalance) FROM pgbench_branches)::text AS b, (SELECT sum(delta) FROM pgbench_history)::text AS h,
               (SELECT count(*) FROM pgbench_history)::text AS n
        """)
    let a = sums.value(0, "a"), n = Int(sums.value(0, "n") ?? "0") ?? 0
    #expect(a != nil && a == sums.value(0, "t") && a == sums.value(0, "b") && a == sums.value(0, "h"), "\(name): \(sums.rows)")
    #expect(n > 100, "\(name): the transactions run under load are there")
    let amcheck = try restored.runClient("pg_amcheck", restored.connectionArgs + ["--all", "--install-missing"])
    #expect(amcheck.succeeded && amcheck.stdout.isEmpty, "\(name): \(amcheck)")
}
