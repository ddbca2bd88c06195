import Testing
import Foundation
import Repository

/// A directory (repo1) and a bucket (repo2, on Ceph here and on SeaweedFS in SeaweedTests) for one cluster (issue 24):
/// archive_command pushes into both; with the gateway down it fails naming repo2 while repo1
/// still gets every segment, and once the gateway is back both hold everything; copy goes
/// from the directory to the bucket and from the bucket to a new directory, and the bucket
/// alone restores every committed row.
extension S3Scenarios { @Suite struct S3MultipleRepositoryTests {
    @Test func aDirectoryAndABucketBothHoldEverySegmentAndCopyGoesBothWays() throws {
        try Self.aDirectoryAndABucketBothHoldEverySegmentAndCopyGoesBothWays(on: try CephGateway.get())
    }

    static func aDirectoryAndABucketBothHoldEverySegmentAndCopyGoesBothWays(on gateway: any S3Gateway) throws {
        let f = try S3Fixture("tworepos", on: gateway)
        let s = f.scratch
        let directory = s.path + "/repo1"
        // The bucket through a proxy, so that the gateway can go away for this test alone.
        let proxy = try FaultProxy(upstreamPort: f.gateway.port)
        defer { proxy.close() }
        let viaProxy = s.path + "/proxy.conf"
        try f.writeConfig(viaProxy, f.gateway.settings(endpoint: proxy.endpoint))
        let repos = ["--config", viaProxy, "-B", directory, "-B", f.url]
        func pgbk(_ args: [String], env: [String: String] = [:]) throws -> CommandResult {
            try s.pgbk([args[0]] + repos + args.dropFirst(), env: S3Fixture.clearedEnvironment.merging(env) { $1 })
        }
        let source = try TestCluster.create(s, name: "src", repository: nil)
        defer { source.stopIfRunning() }
        try source.appendConfig("archive_mode = on\narchive_command = '\(s.pgbk) archive-push \(repos.joined(separator: " ")) %p'\n")
        #expect(try pgbk(["init", "-D", source.dataDir]).succeeded)
        try source.start()
        try source.execute("CREATE TABLE journal (n int PRIMARY KEY)")
        let journal = Journal(cluster: source)
        try journal.write(1...5)
        let full = try pgbk(["backup", "-D", source.dataDir, "-b", "full"] + source.connectionArgs)
        let validFull = try pgbk(["validate"])
        #expect(full.succeeded && validFull.succeeded, "\(full)\n\(validFull)")

        // The gateway down: archive-push fails naming repo2; repo1 still gets each segment.
        let segment = try #require(try source.scalar("SELECT pg_walfile_name(pg_current_wal_lsn())"))
        proxy.outage()
        try journal.write(6...10)
        try source.execute("SELECT pg_switch_wal()")
        try waitUntil("\(segment) in repo1") { try Repository.open(directory).wal.find(segment) != nil }
        let pushed = try pgbk(["archive-push", source.dataDir + "/pg_wal/" + segment], env: ["S3_RETRIES": "1"])
        #expect(failsWithOneError(pushed) && pushed.stderr.contains("archived in 1 of 2 repositories; not in repo2 (\(f.url))"), "\(pushed)")
        let check = try pgbk(["check", "--no-archive-test"] + source.connectionArgs, env: ["S3_RETRIES": "1"])
        #expect(check.status == 2 && check.stdout.contains("CRITICAL repo2 repository ") && check.stdout.contains("OK       repo1 repository "), "\(check)")
        proxy.endOutage()
        try waitUntil("\(segment) in repo2") { try f.repository().wal.find(segment) != nil }
        try f.switchWALAndWaitForArchive(source)
        let names = { (repo: Repository) in try Set(repo.wal.listAll().map(\.walName)) }
        try waitUntil("both repositories to hold the same WAL") { try names(Repository.open(directory)) == names(f.repository()) }

        // repo1's chain (a full and two incrementals) copied into the bucket, which has no
        // backup of its own.
        for rows in [11...15, 16...20] {
            try journal.write(rows)
            let incremental = try pgbk(["backup", "-D", source.dataDir, "-b", "incremental"] + source.connectionArgs)
            let validIncremental = try pgbk(["validate"])
            #expect(incremental.succeeded && validIncremental.succeeded, "\(incremental)\n\(validIncremental)")
        }
        try f.switchWALAndWaitForArchive(source)
        let expectedDump = try dumpLines(source)
        // Into the bucket bundled (BUNDLE_2: repo2's setting), as a backup there would be.
        let copied = try pgbk(["copy", "--from-repo", "1", "--to-repo", "2"], env: ["BUNDLE_2": "on"])
        #expect(copied.succeeded && copied.stderr.contains("3 backup(s)"), "\(copied)")
        #expect(try f.backups().map { $0["status"] as? String } == ["OK", "OK", "OK"])
        #expect(try f.backups().map { $0["bundled"] as? Bool } == [true, true, true])

        // The bucket copied into a new directory: the same backups, OK there.
        let third = s.path + "/repo3"
        let toThird = try s.pgbk(["init", "-B", third, "-D", source.dataDir])
        #expect(toThird.succeeded, "\(toThird)")
        let back = try s.pgbk(["copy", "--config", f.config, "-B", f.url, "-B", third, "--from-repo", "1", "--to-repo", "2"],
                              env: S3Fixture.clearedEnvironment)
        #expect(back.succeeded && back.stderr.contains("3 backup(s)"), "\(back)")
        let validated = try s.pgbk(["validate", "-B", third, "--recheck"])
        #expect(validated.succeeded, "\(validated)")
        // And bucket to bucket.
        let otherBucket = "tworepos-b-\(getpid())"
        _ = try f.gateway.makeBucket(otherBucket)
        let fourth = "s3://\(otherBucket)/repo"
        #expect(try s.pgbk(["init", "--config", f.config, "-B", fourth, "-D", source.dataDir], env: S3Fixture.clearedEnvironment).succeeded)
        let across = try s.pgbk(["copy", "--config", f.config, "-B", f.url, "-B", fourth, "--from-repo", "1", "--to-repo", "2"],
                                env: S3Fixture.clearedEnvironment)
        #expect(across.succeeded && across.stderr.contains("3 backup(s)"), "\(across)")
        let fourthValid = try s.pgbk(["validate", "--config", f.config, "-B", fourth, "--recheck"], env: S3Fixture.clearedEnvironment)
        #expect(fourthValid.succeeded, "\(fourthValid)")

        // Without the cluster and the directory, the bucket alone has every committed row:
        // pg_dump equal, pg_amcheck and pg_checksums clean.
        try source.stop()
        try FileSystem.removeTree(source.dataDir)
        try FileSystem.removeTree(directory)
        #expect(try f.restoreJournal(as: "from-bucket", []) == Array(1...20))
        let target = try s.makeDirectory("dumped")
        let restore = try f.pgbk("restore", ["-D", target, "--recovery-target-action", "promote"])
        #expect(restore.succeeded, "\(restore)")
        let restored = try TestCluster.startRestored(target, scratch: s, name: "dumped")
        defer { restored.stopIfRunning() }
        #expect(try dumpLines(restored) == expectedDump)
        try restored.stop()
        let checksums = try restored.runClient("pg_checksums", ["--check", "-D", target])
        #expect(checksums.succeeded, "\(checksums)")
    }
} }
