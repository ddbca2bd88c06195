import Testing
import Foundation
import PostgresClient
import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// pgbk on a backup host (issue 26): an OS user that cannot read the data directory makes
/// the repository from a connection, receives WAL with receive-wal and backs up with
/// BASE_BACKUP over the replication protocol; 14 speaks the older protocol (a COPY per
/// archive), 15 and 18 the typed stream. When not run as root the tests' user owns the
/// clusters, so "cannot read" is only proved under root (as in CI).
@Suite(.ownThread) struct RemoteBackupTests {
    /// Runs pgbk as `nobody` (when root): it can reach the server's socket, not its files.
    static func outsiderArgv(_ s: Scratch, _ args: [String]) -> (String, [String]) {
        Command.isRoot ? ("/usr/bin/setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", s.pgbk] + args) : (s.pgbk, args)
    }

    static func outsider(_ s: Scratch, _ args: [String]) throws -> CommandResult {
        let (exe, argv) = outsiderArgv(s, args)
        return try Command.run(exe, argv, env: try outsiderEnvironment(s), outputDirectory: s.path, directory: s.path)
    }

    /// The outsider's host locks in a directory of its own: the host's /run/lock/pgbk is
    /// the postgres user's in these tests, and one user's lock directory is never another's.
    static func outsiderEnvironment(_ s: Scratch) throws -> [String: String] {
        let locks = s.path + "/outsider-locks"
        if !FileSystem.exists(locks) {
            try FileSystem.makeDirectory(locks, mode: 0o700)
            if Command.isRoot { try FileSystem.setOwner(locks, uid: 65534, gid: 65534) }
        }
        return ["PGBK_LOCK_PATH": locks]
    }

    /// A cluster with checksums, a tablespace and no archive_command, its socket directory
    /// open to others; the backup host's repository directory, owned by the outsider.
    static func backupHost(_ s: Scratch, _ major: Int) throws -> (TestCluster, repo: String, space: String) {
        let pg = try PostgresInstall.of(major)
        let cluster = try TestCluster.create(s, name: "db\(major)", repository: nil, bin: pg.bin)
        // From 17 the server's WAL summaries let BASE_BACKUP send only the changed blocks.
        try cluster.appendConfig("archive_mode = off\nmax_wal_senders = 10\n" + (major >= 17 ? "summarize_wal = on\n" : ""))
        try cluster.start()
        try FileSystem.setMode(cluster.socketDir, 0o755)
        let space = try s.makeDirectory("ts\(major)")
        try cluster.execute("CREATE TABLESPACE ts LOCATION '\(space)'")
        let repo = try s.makeDirectory("backuphost", mode: 0o700)
        if Command.isRoot { try FileSystem.setOwner(repo, uid: 65534, gid: 65534) }
        return (cluster, repo + "/repo", space)
    }

    @Test(arguments: [14, 15, 18].filter { PostgresInstall.matrix.contains($0) })
    func aBackupHostBacksUpRestoresAndRecoversToATarget(_ major: Int) throws {
        let s = try Scratch()
        let (cluster, repo, space) = try Self.backupHost(s, major)
        defer { cluster.stopIfRunning() }
        if Command.isRoot {
            let peek = try Command.run("/usr/bin/setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "/bin/ls", cluster.dataDir + "/global"],
                                       outputDirectory: s.path, directory: s.path)
            #expect(!peek.succeeded, "the backup host's user must not read the data directory: \(peek)")
        }
        let made = try Self.outsider(s, ["init", "-B", repo] + cluster.connectionArgs)
        #expect(made.succeeded && made.stderr.contains("receive-wal"), "\(made)")
        // With no archive_command, the slot keeps the WAL receive-wal has not yet stored (as
        // Barman requires): a checkpoint would otherwise recycle a segment it is reading.
        let (exe, argv) = Self.outsiderArgv(s, ["receive-wal", "-B", repo, "--slot", "pgbk", "--create-slot"] + cluster.connectionArgs)
        let receiver = try Command.spawn(exe, argv, env: try Self.outsiderEnvironment(s), outputDirectory: s.path, directory: s.path)
        defer { kill(receiver.pid, SIGKILL); _ = receiver.wait() }
        try waitUntilStreaming(cluster)

        try cluster.execute("CREATE TABLE big (id int PRIMARY KEY, v text) WITH (fillfactor = 90)")
        try cluster.execute("INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 600000) g")
        try cluster.execute("CREATE TABLE spaced (id int, v text) TABLESPACE ts")
        try cluster.execute("INSERT INTO spaced SELECT g, repeat('s', 50) FROM generate_series(1, 5000) g")
        // Hint bits set now, not by the update's scan (with checksums each first setting
        // after a checkpoint logs the whole page, which then counts as changed).
        try cluster.execute("VACUUM (FREEZE)")
        // receive-wal caught up, as on a backup host where it runs all the time.
        try waitUntilFlushed(cluster)
        let full = try Self.outsider(s, ["backup", "-B", repo, "--method", "protocol", "--compress", "lz4", "--max-rate", "1024M", "--archive-timeout", "120"] + cluster.connectionArgs)
        #expect(full.succeeded && full.stderr.contains("over the replication protocol"), "\(major): \(full)")
        #expect(try Self.outsider(s, ["validate", "-B", repo]).succeeded)

        // 0.1% of the rows change: before 17 the incremental receives every file and stores
        // the changed pages; from 17 the server sends only those (and the files it always
        // sends whole: FSM forks, pg_xact...).
        try cluster.execute("UPDATE big SET v = 'changed' WHERE id <= 600")
        try cluster.execute("INSERT INTO spaced VALUES (-1, 'after the full')")
        let incremental = try Self.outsider(s, ["backup", "-B", repo, "-b", "incremental", "--archive-timeout", "120"] + cluster.connectionArgs)
        #expect(incremental.succeeded && incremental.stderr.contains("on top of"), "\(major): \(incremental)")
        let validated = try Self.outsider(s, ["validate", "-B", repo])
        #expect(validated.succeeded, "\(major): \(validated)")
        let backups = try Repository.open(repo).loadAll().backups.sorted { $0.id < $1.id }
        #expect(backups.map(\.status) == [.ok, .ok] && backups.allSatisfy { $0.method == .protocol }, "\(backups)")
        if let last = backups.last, let network = last.networkBytes, let fullNetwork = backups.first?.networkBytes {
            #expect(last.mode == .incremental && last.writeBytes * 20 < fullNetwork,
                    "\(major): the incremental stored \(last.writeBytes) bytes of a \(fullNetwork)-byte cluster")
            if major >= 17 {
                #expect(last.changeSource == "summary" && network * 20 <= fullNetwork,
                        "\(major): \(network) bytes crossed the network for an incremental of a \(fullNetwork)-byte cluster (\(last.changeSourceReason ?? ""))")
            } else {
                #expect(last.changeSource == "scan" && network >= fullNetwork * 9 / 10, "\(major): \(network) of \(fullNetwork)")
            }
        } else {
            Issue.record("\(major): no incremental with its network bytes: \(backups)")
        }
        let detail = try Self.outsider(s, ["show", "-B", repo, "detail"])
        #expect(detail.succeeded && detail.stdout.contains("Network"), "\(detail)")

        // A target after the incremental, reached through receive-wal's WAL.
        try cluster.execute("DELETE FROM big WHERE id % 7 = 0")
        try cluster.execute("SELECT pg_create_restore_point('remote')")
        let atTarget = try dumpLines(cluster)
        try cluster.execute("INSERT INTO big VALUES (-5, 'after the target')")
        try cluster.execute("SELECT pg_switch_wal()")
        try waitUntilFlushed(cluster)
        kill(receiver.pid, SIGTERM)
        _ = receiver.wait()

        // The repository handed to the database host (as a read-only mount would be).
        if let user = postgresUser {
            let chown = try Command.run("/bin/chown", ["-R", "\(user.uid):\(user.gid)", FileSystem.parentDirectory(of: repo)])
            #expect(chown.succeeded, "\(chown)")
        }
        let target = s.path + "/restored\(major)"
        let restore = try s.pgbk(["restore", "-B", repo, "-D", target, "--recovery-target-name", "remote",
                                  "--recovery-target-action", "promote", "-T", "\(space)=\(s.path)/ts-restored\(major)"])
        #expect(restore.succeeded, "\(major): \(restore)")
        let pg = try PostgresInstall.of(major)
        let restored = try TestCluster.startRestored(target, scratch: s, name: "restored\(major)", bin: pg.bin)
        #expect(try dumpLines(restored) == atTarget, "\(major): the restored cluster is the source at the restore point")
        #expect(try restored.scalar("SELECT count(*) FROM spaced") == "5001")
        if pg.hasAmcheck {
            let amcheck = try restored.runClient("pg_amcheck", restored.connectionArgs + ["--all", "--install-missing", "--heapallindexed"])
            #expect(amcheck.succeeded, "\(major): \(amcheck)")
        }
        try restored.stop()
        let checksums = try restored.runClient("pg_checksums", ["--check", "-D", target])
        #expect(checksums.succeeded, "\(major): \(checksums)")
    }
}

extension RemoteBackupTests {
    /// What a backup host gets wrong: a role without REPLICATION, a server of another
    /// cluster for an existing repository, options of the other method. Each: one line,
    /// non-zero, and no backup written.
    @Test func badInputIsRefusedWithOneLineAndNothingWritten() throws {
        let s = try Scratch()
        let (cluster, repo, _) = try Self.backupHost(s, 15)
        defer { cluster.stopIfRunning() }
        let other = try TestCluster.create(s, name: "other", repository: nil)
        try other.start()
        defer { other.stopIfRunning() }
        try FileSystem.setMode(other.socketDir, 0o755)
        #expect(try Self.outsider(s, ["init", "-B", repo] + cluster.connectionArgs).succeeded)
        // Enough to read the settings and pg_control, not to replicate.
        try cluster.execute("CREATE ROLE watcher LOGIN NOREPLICATION IN ROLE pg_monitor, pg_read_all_settings")
        let base = ["backup", "-B", repo, "--archive-timeout", "5"]
        let noReplication = try Self.outsider(s, base + ["-h", cluster.socketDir, "-p", String(cluster.port), "-U", "watcher"])
        #expect(failsWithOneError(noReplication) && noReplication.stderr.contains("replication"), "\(noReplication)")
        let otherCluster = try Self.outsider(s, base + other.connectionArgs)
        #expect(failsWithOneError(otherCluster) && otherCluster.stderr.contains("system identifier"), "\(otherCluster)")
        let withPgdata = try Self.outsider(s, base + ["--method", "protocol", "-D", cluster.dataDir] + cluster.connectionArgs)
        #expect(failsWithOneError(withPgdata) && withPgdata.stderr.contains("-D/--pgdata is for --method copy"), "\(withPgdata)")
        for rate in ["10", "2000M", "fast", "99999999999999999999"] {
            let badRate = try Self.outsider(s, base + ["--max-rate", rate] + cluster.connectionArgs)
            #expect(failsWithOneError(badRate) && badRate.stderr.contains("--max-rate"), "\(rate): \(badRate)")
        }
        let written = try Repository.open(repo).loadAll()
        #expect(written.backups.isEmpty && written.unreadable.isEmpty, "\(written.backups.map(\.id))")
        #expect(try FileSystem.list(repo + "/backup").isEmpty)
    }
}
