import Testing
import Foundation
import Repository

/// `pgbk check` on a real server: all OK on a good setup (a drill included); the failing
/// check named, with the Nagios exit status, on a stale backup, a setup never drilled, a
/// broken archive_command, a server or repository that is not there (issue 15, item 1).
@Suite(.ownThread) struct CheckTests {
    func statuses(_ r: CommandResult) -> [String: String] {
        var out: [String: String] = [:]
        for line in r.stdout.split(separator: "\n") where !line.hasPrefix("check:") {
            let words = line.split(separator: " ", maxSplits: 2)
            if words.count >= 2 { out[String(words[1])] = String(words[0]) }
        }
        return out
    }

    @Test func aGoodSetupPassesAndEachBreakageIsNamed() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let cluster = try TestCluster.createInitialized(s, name: "db", repository: repo)
        defer { cluster.stopIfRunning() }
        let check = ["check", "-B", repo] + cluster.connectionArgs

        // No backup yet: everything else passes, the backup age is critical.
        let fresh = try s.pgbk(check)
        #expect(fresh.status == 2 && statuses(fresh)["backup_age"] == "CRITICAL", "\(fresh)")
        _ = try backupAndValidate(s, repo, cluster, "full")
        // Never drilled: a warning, until a drill passes.
        let undrilled = try s.pgbk(check + ["--no-archive-test"])
        #expect(undrilled.status == 1 && statuses(undrilled)["drill"] == "WARNING", "\(undrilled)")
        let drill = try s.pgbk(["drill", "-B", repo, "--scratch-dir", try s.makeDirectory("drills"), "--no-amcheck"])
        #expect(drill.succeeded, "\(drill)")

        let good = try s.pgbk(check)
        #expect(good.succeeded, "\(good)")
        let names = ["repository", "cluster", "wal_level", "archive_mode", "archive_command", "archiver", "archiving", "backup_age", "wal_gaps", "drill"]
        #expect(statuses(good) == Dictionary(uniqueKeysWithValues: names.map { ($0, "OK") }), "\(good)")
        let nagios = try s.pgbk(check + ["--nagios"])
        #expect(nagios.succeeded && nagios.stdout.hasPrefix("PGBK OK - ") && nagios.stdout.split(separator: "\n").count == 1, "\(nagios)")
        let json = try s.pgbk(check + ["--json"])
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(parsed["status"] as? String == "OK" && (parsed["checks"] as? [Any])?.count == names.count, "\(json)")

        // A stale backup: WARNING (exit 1) past one threshold, CRITICAL (exit 2) past the other.
        Thread.sleep(forTimeInterval: 2)
        let warning = try s.pgbk(check + ["--no-archive-test", "--backup-age-warning", "1s", "--nagios"])
        #expect(warning.status == 1 && warning.stdout.hasPrefix("PGBK WARNING - backup_age: "), "\(warning)")
        let critical = try s.pgbk(check + ["--no-archive-test", "--backup-age-warning", "1s", "--backup-age-critical", "1s"])
        #expect(critical.status == 2 && statuses(critical)["backup_age"] == "CRITICAL", "\(critical)")

        // archive_command into another repository, then one that fails.
        try cluster.execute("ALTER SYSTEM SET archive_command = '\(s.pgbk) archive-push -B \(s.path)/elsewhere %p'")
        try cluster.execute("SELECT pg_reload_conf()")
        try waitUntil("the new archive_command") { try cluster.scalar("SHOW archive_command")?.contains("elsewhere") == true }
        let elsewhere = try s.pgbk(check + ["--archive-timeout", "3"])
        #expect(elsewhere.status == 2 && statuses(elsewhere)["archive_command"] == "CRITICAL" && statuses(elsewhere)["archiving"] == "CRITICAL",
                "\(elsewhere)")
        // Issue 23, item 12: as a Nagios plugin the wait fits Nagios's 10 s by default.
        let plugin = try s.pgbk(check + ["--nagios"])
        #expect(plugin.status == 2 && plugin.stdout.contains("did not reach the repository within 8 s (--archive-timeout)"), "\(plugin)")
        try cluster.execute("ALTER SYSTEM SET archive_command = '/bin/false'")
        try cluster.execute("SELECT pg_reload_conf()")
        try waitUntil("archiving to fail") { try cluster.scalar("SELECT failed_count > 0 AND last_failed_time > coalesce(last_archived_time, '-infinity') FROM pg_stat_archiver") == "t" }
        let failing = try s.pgbk(check + ["--archive-timeout", "2", "--nagios"])
        #expect(failing.status == 2 && failing.stdout.hasPrefix("PGBK CRITICAL - archive_command: ") && failing.stdout.contains("archiver: "),
                "\(failing)")
        try cluster.execute("ALTER SYSTEM RESET archive_command")
        try cluster.execute("SELECT pg_reload_conf()")
        try waitUntil("archiving to work again") { try s.pgbk(check + ["--archive-timeout", "10"]).succeeded }

        // A role that is no superuser (a backup host's): the archiving test says what it lacks,
        // and passes once granted.
        try cluster.execute("CREATE ROLE watcher LOGIN IN ROLE pg_monitor, pg_read_all_settings")
        let asWatcher = ["check", "-B", repo, "-h", cluster.socketDir, "-p", String(cluster.port), "-U", "watcher"]
        let denied = try s.pgbk(asWatcher)
        #expect(denied.status == 2 && statuses(denied)["archiving"] == "CRITICAL"
                && denied.stdout.contains("GRANT EXECUTE ON FUNCTION pg_switch_wal(), pg_create_restore_point(text) TO the role"), "\(denied)")
        try cluster.execute("GRANT EXECUTE ON FUNCTION pg_switch_wal(), pg_create_restore_point(text) TO watcher")
        let granted = try s.pgbk(asWatcher + ["--archive-timeout", "10"])
        #expect(statuses(granted)["archiving"] == "OK", "\(granted)")

        // No server, no repository: named, critical, one line each.
        let noServer = try s.pgbk(["check", "-B", repo, "-h", cluster.socketDir, "-p", "1", "-U", "postgres"])
        #expect(noServer.status == 2 && statuses(noServer)["server"] == "CRITICAL", "\(noServer)")
        let noRepo = try s.pgbk(["check", "-B", s.path + "/missing"] + cluster.connectionArgs + ["--no-archive-test"])
        #expect(noRepo.status == 2 && statuses(noRepo)["repository"] == "CRITICAL", "\(noRepo)")
        let badOption = try s.pgbk(check + ["--backup-age-warning", "soon"])
        #expect(!badOption.succeeded && oneLine(badOption) && badOption.stderr.contains("--backup-age-warning"), "\(badOption)")
    }
}
