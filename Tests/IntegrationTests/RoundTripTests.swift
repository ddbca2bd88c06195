import Testing
import Foundation
import Repository
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Content fingerprints compared between source and restored cluster.
let fingerprintSQL = [
    "accounts": "SELECT count(*) || ':' || md5(string_agg(id || '=' || owner || '/' || balance, ',' ORDER BY id)) FROM accounts",
    "in_ts": "SELECT count(*) || ':' || md5(string_agg(id || '=' || v, ',' ORDER BY id)) FROM in_ts",
]

func fingerprints(_ cluster: TestCluster) throws -> [String: String] {
    try fingerprintSQL.mapValues { try cluster.scalar($0) ?? "" }
}

@Suite(.ownThread) struct FullBackupRoundTripTests {
    /// The main acceptance path: rows before and after the backup, a user tablespace, an
    /// unlogged table, a file with an awkward name; restore run by the invoking user (root in
    /// CI: files must end up owned by postgres), tablespace remapped; pg_amcheck and
    /// pg_checksums on the result.
    @Test func everyCommittedRowComesBackWithTablespaceAndChecksums() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let source = try TestCluster.create(s, name: "src", checksums: true, repository: repo)
        defer { source.stopIfRunning() }
        let initResult = try s.pgbk(["init", "-B", repo, "-D", source.dataDir])
        #expect(initResult.succeeded, "\(initResult)")
        try source.start()

        let tsDir = try s.makeDirectory("ts1")
        try source.execute("CREATE TABLESPACE ts1 LOCATION '\(tsDir)'")
        try source.execute("CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric)")
        try source.execute("INSERT INTO accounts SELECT g, md5(g::text), g * 3 FROM generate_series(1, 20000) g")
        try source.execute("CREATE TABLE in_ts (id int, v text) TABLESPACE ts1")
        try source.execute("INSERT INTO in_ts SELECT g, repeat(md5(g::text), 3) FROM generate_series(1, 5000) g")
        try source.execute("CREATE UNLOGGED TABLE scratchpad AS SELECT g FROM generate_series(1, 100) g")
        let awkwardDir = try s.makeDirectory("src/notes dir")
        let awkwardFile = awkwardDir + "/it's ünïcode \"quoted\".txt"
        try s.writeFile(awkwardFile, "keep me\n")

        let backup = try s.pgbk(["backup", "-B", repo, "-D", source.dataDir, "-b", "full"] + source.connectionArgs)
        #expect(backup.succeeded, "\(backup)")

        // Committed after the backup: these come back only through the archive.
        try source.execute("INSERT INTO accounts SELECT g, 'late', 0 FROM generate_series(20001, 21000) g")
        try source.execute("UPDATE in_ts SET v = 'changed' WHERE id % 7 = 0")
        try source.execute("DELETE FROM accounts WHERE id % 13 = 0")
        try source.switchWALAndWaitForArchive(repository: repo)
        let expected = try fingerprints(source)
        try source.stop()

        let validate = try s.pgbk(["validate", "-B", repo])
        #expect(validate.succeeded, "\(validate)")
        let shown = try parseBackupsJSON(try s.pgbk(["show", "-B", repo, "--json"]).stdout)
        #expect(shown.count == 1)
        let info = try #require(shown.first)
        #expect(info["status"] as? String == "OK")
        #expect(info["mode"] as? String == "FULL")
        #expect(info["timeline"] as? Int == 1)
        #expect(info["parent_id"] is NSNull)
        #expect((info["start_lsn"] as? String)?.contains("/") == true)
        #expect((info["stop_lsn"] as? String)?.contains("/") == true)
        #expect((info["total_data_bytes"] as? Int ?? 0) > 20_000_000)
        #expect(info["recovery_xid"] is Int && info["recovery_time"] is String && info["end_time"] is String)
        #expect(info["data_checksums"] as? Bool == true)

        // The source's tablespace directory is still there: restoring over it is refused
        // before anything is written.
        let refused = try s.pgbk(["restore", "-B", repo, "-D", s.path + "/not-created"], asCurrentUser: true)
        #expect(refused.status != 0 && refused.stderr.contains(tsDir) && refused.stderr.contains("already holds PG_"), "\(refused)")
        #expect(!FileSystem.exists(s.path + "/not-created"))

        // Restore as the invoking user (root in CI) into a directory postgres owns.
        let target = try s.makeDirectory("restored")
        let tsTarget = s.path + "/ts1-restored"
        let restore = try s.pgbk(["restore", "-B", repo, "-D", target, "-T", "\(tsDir)=\(tsTarget)"], asCurrentUser: true)
        #expect(restore.succeeded, "\(restore)")
        #expect(FileSystem.exists(target + "/recovery.signal"))
        let control = try FileSystem.status(target + "/global/pg_control")
        #expect(control.mode == 0o600)
        #expect(try FileSystem.status(target + "/base").mode == 0o700)
        if let user = postgresUser {
            #expect(control.uid == user.uid)
            #expect(try FileSystem.status(tsTarget).uid == user.uid)
        }
        #expect(try FileSystem.readLink(target + "/pg_tblspc/" + (try FileSystem.list(target + "/pg_tblspc")).first!) == tsTarget)
        #expect(try FileSystem.readText(target + "/notes dir/it's ünïcode \"quoted\".txt") == "keep me\n")

        let restored = try TestCluster.adopt(target, scratch: s, name: "restored")
        defer { restored.stopIfRunning() }
        try restored.start()
        try restored.waitForPromotion()
        #expect(try fingerprints(restored) == expected)
        #expect(try restored.scalar("SELECT pg_tablespace_location(oid) FROM pg_tablespace WHERE spcname = 'ts1'") == tsTarget)
        #expect(try restored.scalar("SELECT count(*) FROM scratchpad") == "0")  // unlogged: reset, not lost

        let amcheck = try restored.runClient("pg_amcheck", restored.connectionArgs + ["--all", "--install-missing", "--heapallindexed"])
        #expect(amcheck.succeeded && amcheck.stdout.isEmpty, "\(amcheck)")
        try restored.stop()
        let checksums = try restored.runClient("pg_checksums", ["--check", "-D", target])
        #expect(checksums.succeeded, "\(checksums)")
    }

    /// Compressed backup (and WAL) of a cluster without data checksums, restored by the
    /// postgres user into the original locations after the cluster and its tablespace were
    /// deleted; one run per compression.
    @Test(arguments: ["zlib", "zstd", "lz4"])
    func compressedBackupRestoresInPlaceAfterTheClusterIsGone(_ compression: String) throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let source = try TestCluster.create(s, name: "src", checksums: false, repository: repo)
        defer { source.stopIfRunning() }
        #expect(try s.pgbk(["init", "-B", repo, "-D", source.dataDir, "--compress", compression]).succeeded)
        try source.start()
        let tsDir = try s.makeDirectory("ts")
        try source.execute("CREATE TABLESPACE ts LOCATION '\(tsDir)'")
        try source.execute("CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric)")
        try source.execute("INSERT INTO accounts SELECT g, md5(g::text), g FROM generate_series(1, 30000) g")
        try source.execute("CREATE TABLE in_ts (id int, v text) TABLESPACE ts")
        try source.execute("INSERT INTO in_ts SELECT g, md5(g::text) FROM generate_series(1, 3000) g")

        let backup = try s.pgbk(["backup", "-B", repo, "-D", source.dataDir] + source.connectionArgs)
        #expect(backup.succeeded, "\(backup)")
        let shown = try parseBackupsJSON(try s.pgbk(["show", "-B", repo, "--json"]).stdout)
        let info = try #require(shown.first)
        #expect(info["compress"] as? String == compression)
        #expect((info["write_bytes"] as? Int ?? .max) < (info["read_data_bytes"] as? Int ?? 0) * 2 / 3)
        // Stored files are in the tools' own formats: readable with gzip/zstd/lz4 at 3 a.m.
        let id = try #require(info["id"] as? String)
        let tool = ["zlib": "gzip -t", "zstd": "zstd -q -t", "lz4": "lz4 -q -t"][compression]!
        let suffix = ["zlib": ".gz", "zstd": ".zst", "lz4": ".lz4"][compression]!
        let check = try Command.run("/bin/sh", ["-c", "\(tool) \(repo)/backup/\(id)/data/global/pg_control\(suffix)"])
        #expect(check.succeeded, "\(check)")
        // (Not archive-push's lock, nor the temp file of a push in flight: the archiver may be
        // pushing the backup's .backup file right now.)
        let walFiles = try allFiles(repo + "/wal").filter {
            !$0.hasSuffix("/.publish.lock") && !AtomicFile.isTemporaryName(FileSystem.baseName(of: $0))
        }
        #expect(!walFiles.isEmpty && walFiles.allSatisfy { $0.hasSuffix(suffix) || $0.contains(".history") }, "\(walFiles)")

        try source.execute("UPDATE accounts SET balance = balance * 2 WHERE id <= 500")
        try source.switchWALAndWaitForArchive(repository: repo)
        let expected = try fingerprints(source)
        try source.stop(mode: "immediate")
        try FileSystem.removeTree(source.dataDir)
        try FileSystem.removeTree(tsDir)

        #expect(try s.pgbk(["validate", "-B", repo]).succeeded)
        let restore = try s.pgbk(["restore", "-B", repo, "-D", source.dataDir])
        #expect(restore.succeeded, "\(restore)")
        let restored = try TestCluster.adopt(source.dataDir, scratch: s, name: "restored")
        defer { restored.stopIfRunning() }
        try restored.start()
        try restored.waitForPromotion()
        #expect(try fingerprints(restored) == expected)
        #expect(try restored.scalar("SELECT pg_tablespace_location(oid) FROM pg_tablespace WHERE spcname = 'ts'") == tsDir)
        let amcheck = try restored.runClient("pg_amcheck", restored.connectionArgs + ["--all", "--install-missing"])
        #expect(amcheck.succeeded && amcheck.stdout.isEmpty, "\(amcheck)")
    }
}
