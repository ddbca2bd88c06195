import Testing
import Foundation
import Repository

/// md5 of a pg_dump (or pg_dumpall) of the cluster: equal dumps, equal data.
func dumpFingerprint(_ cluster: TestCluster, all: Bool = false, database: String = "postgres") throws -> String {
    let tool = all ? "pg_dumpall" : "pg_dump"
    let target = all ? "" : " -d \(database)"
    // A fixed --restrict-key: pg_dump otherwise writes a random one into every dump.
    let r = try Command.run("/bin/sh", ["-c", "\(pgBin)/\(tool) --restrict-key=pgbktest -h \(cluster.socketDir) -p \(cluster.port) -U postgres\(target) | md5sum"],
                            asPostgres: true, outputDirectory: cluster.scratch.path)
    guard r.succeeded, r.stdout.count >= 32 else { throw CommandError(result: r) }
    return String(r.stdout.prefix(32))
}

/// pg_dump's lines, with the cluster's own binaries. From 15.14 on pg_dump brackets its output
/// with \restrict KEY lines, a new random key each run (and older ones lack --restrict-key):
/// those lines are left out.
func dumpLines(_ cluster: TestCluster, database: String = "postgres") throws -> [Substring] {
    let r = try cluster.runClient("pg_dump", cluster.connectionArgs + ["-d", database])
    guard r.succeeded else { throw CommandError(result: r) }
    return r.stdout.split(separator: "\n").filter { !$0.hasPrefix("\\restrict") && !$0.hasPrefix("\\unrestrict") }
}

func latestBackup(_ s: Scratch, _ repo: String) throws -> [String: Any] {
    let all = try parseBackupsJSON(try s.pgbk(["show", "-B", repo, "--json"]).stdout)
    return try #require(all.last)
}

@Suite(.ownThread) struct IncrementalBackupTests {
    /// pg_rman's promise: changing a few rows of a large table makes a small incremental.
    @Test func smallChangesToALargeTableMakeSmallIncrementalsThatRestoreExactly() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let source = try TestCluster.create(s, name: "src", checksums: true, repository: repo)
        defer { source.stopIfRunning() }
        // No background activity: the sizes measured are those of the changes made here.
        try source.appendConfig("autovacuum = off\n")
        #expect(try s.pgbk(["init", "-B", repo, "-D", source.dataDir]).succeeded)
        try source.start()
        try source.execute("CREATE TABLE big (id int PRIMARY KEY, filler text)")
        try source.execute("INSERT INTO big SELECT g, md5(g::text) || md5((g + 1)::text) || md5((g + 2)::text) FROM generate_series(1, 1500000) g")
        // Hint bits set now rather than by the first reads after the full backup.
        try source.execute("VACUUM (FREEZE, ANALYZE) big")
        let tableBytes = Int(try source.scalar("SELECT pg_relation_size('big')") ?? "0") ?? 0
        #expect(tableBytes >= 100 << 20)
        let bigFile = try #require(try source.scalar("SELECT pg_relation_filepath('big')"))

        let full = try s.pgbk(["backup", "-B", repo, "-D", source.dataDir, "-b", "full"] + source.connectionArgs)
        #expect(full.succeeded, "\(full)")
        #expect(try s.pgbk(["validate", "-B", repo]).succeeded)
        let fullInfo = try latestBackup(s, repo)
        let fullBytes = try #require(fullInfo["read_data_bytes"] as? Int)

        // (a) 0.1% of the rows, one contiguous key range.
        try source.execute("UPDATE big SET filler = upper(filler) WHERE id BETWEEN 700001 AND 701500")
        let inc1 = try s.pgbk(["backup", "-B", repo, "-D", source.dataDir, "-b", "incremental"] + source.connectionArgs)
        #expect(inc1.succeeded, "\(inc1)")
        #expect(try s.pgbk(["validate", "-B", repo]).succeeded)
        let inc1Info = try latestBackup(s, repo)
        #expect(inc1Info["mode"] as? String == "INCREMENTAL")
        #expect(inc1Info["parent_id"] as? String == fullInfo["id"] as? String)

        // (b) 100 rows scattered over the whole table.
        try source.execute("UPDATE big SET filler = upper(filler) WHERE id % 15000 = 7000")
        let inc2 = try s.pgbk(["backup", "-B", repo, "-D", source.dataDir, "-b", "incremental"] + source.connectionArgs)
        #expect(inc2.succeeded, "\(inc2)")
        #expect(try s.pgbk(["validate", "-B", repo]).succeeded)
        let inc2Info = try latestBackup(s, repo)
        #expect(inc2Info["parent_id"] as? String == inc1Info["id"] as? String)

        for (name, info) in [("contiguous 0.1%", inc1Info), ("100 scattered rows", inc2Info)] {
            let stored = try #require(info["read_data_bytes"] as? Int)
            let written = try #require(info["write_bytes"] as? Int)
            print("incremental size: \(name): \(stored) data bytes (\(written) written) vs full \(fullBytes) (\(String(format: "%.3f", Double(stored) * 100 / Double(fullBytes)))%)")
            #expect(stored * 100 < fullBytes, "\(name): \(stored) bytes is not under 1% of \(fullBytes)")
            #expect(written * 100 < fullBytes)
        }

        try source.execute("INSERT INTO big VALUES (0, 'after the last backup')")
        try source.switchWALAndWaitForArchive(repository: repo)
        let expected = try dumpFingerprint(source)
        try source.stop()

        let target = try s.makeDirectory("restored")
        let restore = try s.pgbk(["restore", "-B", repo, "-D", target])
        #expect(restore.succeeded && restore.stderr.contains("chain of 3"), "\(restore)")
        let restored = try TestCluster.adopt(target, scratch: s, name: "restored")
        defer { restored.stopIfRunning() }
        try restored.start()
        try restored.waitForPromotion()
        #expect(try dumpFingerprint(restored) == expected)
        let amcheck = try restored.runClient("pg_amcheck", restored.connectionArgs + ["--all", "--install-missing"])
        #expect(amcheck.succeeded && amcheck.stdout.isEmpty, "\(amcheck)")

        // The table is larger than a part: the full stored it in parts, the incrementals their
        // deltas too, and the restore above went range by range. A damaged part is found by
        // restore itself and by validate, each naming the part.
        let repository = try Repository.open(repo)
        let fullBackup = try repository.loadBackup(try #require(fullInfo["id"] as? String))
        let split = try #require(try repository.loadFileList(fullBackup).first { $0.path == bigFile })
        #expect(split.kind == .file && split.partCount >= 3 && split.size == UInt64(tableBytes), "\(split)")
        let inc2Backup = try repository.loadBackup(try #require(inc2Info["id"] as? String))
        let delta = try #require(try repository.loadFileList(inc2Backup).first { $0.path == bigFile })
        #expect(delta.kind == .pageDelta && delta.isSplit, "\(delta)")
        let part = repository.storedPath(fullBackup.id, split, compression: fullBackup.compression, part: 2)
        try flipByte(part, at: 5000)
        let broken = try s.pgbk(["restore", "-B", repo, "-D", try s.makeDirectory("from-damaged-part")])
        #expect(!broken.succeeded && broken.stderr.contains(part), "\(broken)")
        let validate = try s.pgbk(["validate", "-B", repo, fullBackup.id])
        #expect(!validate.succeeded && validate.stderr.contains(part) && validate.stderr.contains("CORRUPT"), "\(validate)")
    }
}
