import Testing
import Repository

/// Issue 29, item 3, on a real server: a pinned backup survives expire and delete of a later
/// date, with the WAL it needs, and restores; show marks it; after unpin the next expire
/// removes it. Bad input changes nothing.
@Suite(.ownThread) struct PinTests {
    @Test func aPinnedBackupSurvivesExpireAndDeleteAndRestoresUntilUnpinned() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let source = try TestCluster.createInitialized(s, name: "src", repository: repo)
        defer { source.stopIfRunning() }
        try source.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        try source.execute("INSERT INTO t SELECT g, 'before the upgrade' FROM generate_series(1, 5000) g")
        let pinned = try backupAndValidate(s, repo, source, "full")
        let expected = try dumpLines(source)

        // Bad input first: one line, non-zero, backup.ini as it was.
        let ini = repo + "/backup/\(pinned)/backup.ini"
        let before = try FileSystem.readText(ini)
        for args in [["pin", "20200101-000000F"], ["pin", pinned, "--until", "someday"], ["pin", pinned, "--until", "2001-01-01"],
                     ["pin", "newest"], ["unpin", "20200101-000000F"]] {
            let r = try s.pgbk([args[0], "-B", repo] + args.dropFirst())
            #expect(r.status != 0 && oneLine(r), "\(args): \(r)")
        }
        #expect(try FileSystem.readText(ini) == before)

        let pin = try s.pgbk(["pin", "-B", repo, "latest-full", "--until", "2100-01-01"])
        #expect(pin.succeeded && pin.stderr.contains(pinned), "\(pin)")
        #expect(try latestBackup(s, repo)["pinned_until"] as? String == "2100-01-01 00:00:00+00")
        #expect(try s.pgbk(["show", "-B", repo]).stdout.contains("OK pinned"))

        try source.execute("UPDATE t SET v = 'after'")
        let middle = try backupAndValidate(s, repo, source, "full")
        try source.execute("UPDATE t SET v = 'later'")
        let newest = try backupAndValidate(s, repo, source, "full")
        let expire = try s.pgbk(["expire", "-B", repo, "--keep-data-generations", "1"])
        #expect(expire.succeeded, "\(expire)")
        var statuses = Dictionary(uniqueKeysWithValues: try parseBackupsJSON(try s.pgbk(["show", "-B", repo, "--json", "-a"]).stdout)
            .map { ($0["id"] as? String ?? "", $0["status"] as? String ?? "") })
        #expect(statuses[pinned] == "OK" && statuses[middle] == "DELETED" && statuses[newest] == "OK", "\(statuses)")

        // delete of a date after every backup: what restores to it (the newest) and the
        // pinned one stay.
        let delete = try s.pgbk(["delete", "-B", repo, "2100-01-01"])
        #expect(delete.succeeded, "\(delete)")
        #expect(try Repository.open(repo).loadBackup(pinned).status == .ok)
        #expect(try Repository.open(repo).loadBackup(newest).status == .ok)

        // It restores, with the WAL that makes it consistent.
        let target = s.path + "/restored"
        let restore = try s.pgbk(["restore", "-B", repo, "-D", target, "--backup-id", pinned,
                                  "--recovery-target", "immediate", "--recovery-target-action", "promote"])
        #expect(restore.succeeded, "\(restore)")
        let restored = try TestCluster.startRestored(target, scratch: s, name: "restored")
        #expect(try dumpLines(restored) == expected)
        try restored.stop()

        let unpin = try s.pgbk(["unpin", "-B", repo, pinned])
        #expect(unpin.succeeded && unpin.stderr.contains("no longer pinned"), "\(unpin)")
        #expect(try s.pgbk(["expire", "-B", repo, "--keep-data-generations", "1"]).succeeded)
        statuses = Dictionary(uniqueKeysWithValues: try parseBackupsJSON(try s.pgbk(["show", "-B", repo, "--json", "-a"]).stdout)
            .map { ($0["id"] as? String ?? "", $0["status"] as? String ?? "") })
        #expect(statuses[pinned] == "DELETED", "\(statuses)")
    }
}
