import Testing
import Repository

/// pg_rman's server-log backup (issue 15, item 7): `backup -s` copies the server's log
/// directory (log_directory, or -S for Debian's /var/log/postgresql) into the backup;
/// validate checks the copies; --keep-srvlog-files/-days expires them, not the backups.
@Suite(.ownThread) struct ServerLogTests {
    @Test func serverLogsAreCopiedCheckedAndExpiredByTheirOwnRetention() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let cluster = try TestCluster.create(s, name: "db", repository: repo)
        try cluster.appendConfig("logging_collector = on\nlog_directory = 'log'\n")
        #expect(try s.pgbk(["init", "-B", repo, "-D", cluster.dataDir]).succeeded)
        try cluster.start()
        defer { cluster.stopIfRunning() }
        let backup = ["backup", "-B", repo, "-D", cluster.dataDir] + cluster.connectionArgs

        // log_directory of the server (relative to its data directory).
        let first = try s.pgbk(backup + ["-s"])
        #expect(first.succeeded && first.stderr.contains("server log: "), "\(first)")
        let firstID = try #require(try Repository.open(repo).backupIDs().last)
        let fromServer = try #require(try Repository.open(repo).loadServerLogList(firstID))
        #expect(!fromServer.isEmpty && fromServer.allSatisfy { $0.path.hasSuffix(".log") }, "\(fromServer)")

        // -S: a directory of its own (Debian's /var/log/postgresql), subdirectories included.
        let logs = try s.makeDirectory("serverlogs")
        try s.makeDirectory("serverlogs/old")
        try s.writeFile(logs + "/postgresql-15-main.log", "LOG:  database system is ready to accept connections\n")
        try s.writeFile(logs + "/old/postgresql-15-main.log.1", String(repeating: "LOG:  checkpoint complete\n", count: 2000))
        var ids: [String] = []
        for _ in 0..<3 {
            let r = try s.pgbk(backup + ["-s", "-S", logs, "--compress", "zstd"])
            #expect(r.succeeded, "\(r)")
            ids.append(try #require(try Repository.open(repo).backupIDs().last))
        }
        let copied = try #require(try Repository.open(repo).loadServerLogList(ids[0]))
        #expect(copied.map(\.path).sorted() == ["old/postgresql-15-main.log.1", "postgresql-15-main.log"], "\(copied)")
        let validated = try s.pgbk(["validate", "-B", repo])
        #expect(validated.succeeded, "\(validated)")

        // A damaged copy makes its backup CORRUPT, named as a server log.
        let repository = try Repository.open(repo)
        let stored = repository.storage.describe(repository.serverLogName(ids[0], path: "old/postgresql-15-main.log.1", compression: .zstd))
        try flipByte(stored, at: 20)
        let damaged = try s.pgbk(["validate", "-B", repo, ids[0]])
        #expect(!damaged.succeeded && damaged.stderr.contains("server log old/postgresql-15-main.log.1"), "\(damaged)")

        // Keep the newest 2 log files: the copies of the two older -S backups and of the first go.
        let expired = try s.pgbk(["expire", "-B", repo, "--keep-srvlog-files", "2"])
        #expect(expired.succeeded, "\(expired)")
        let after = try Repository.open(repo)
        #expect(try after.loadServerLogList(ids[2]) != nil)
        for id in [firstID, ids[0], ids[1]] {
            #expect(try after.loadServerLogList(id) == nil && !(try after.storage.exists(after.serverLogRootName(id))), "\(id)")
            #expect(try after.loadBackup(id).status != .deleted, "the backup itself stays")
        }
        let noPath = try s.pgbk(backup + ["-S", logs])
        #expect(!noPath.succeeded && oneLine(noPath) && noPath.stderr.contains("-s/--with-serverlog"), "\(noPath)")
    }
}
