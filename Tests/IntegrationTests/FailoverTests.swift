import Testing
import Repository

/// A primary and a standby rebuilt from the repository, both archiving into it; the standby
/// promoted when the primary goes away; archiving and backups go on on the new timeline,
/// the diverged old primary is rebuilt with --delta as the new primary's standby, and
/// restores reach both sides of the switch (issue 14, items 2 and 4).
@Suite(.ownThread) struct FailoverTests {
    @Test func archivingAndBackupsGoOnAfterTheStandbyIsPromoted() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let primary = try createJournalCluster(s, repo: repo, name: "primary")
        defer { primary.stopIfRunning() }
        let journal = Journal(cluster: primary)
        _ = try backupAndValidate(s, repo, primary, "full")
        try journal.write(1...5)
        try primary.switchWALAndWaitForArchive(repository: repo)

        // The standby, from the repository; with archive_mode = always it pushes the same
        // segments as the primary into the same archive.
        let target = try s.makeDirectory("standby")
        let restored = try s.pgbk(["restore", "-B", repo, "-D", target, "--as-standby", "--primary-conninfo",
                                   "host=\(primary.socketDir) port=\(primary.port) user=postgres application_name=standby"])
        #expect(restored.succeeded, "\(restored)")
        let standby = try TestCluster.adopt(target, scratch: s, name: "standby")
        try standby.appendConfig("archive_mode = always\nhot_standby = on\n")
        defer { standby.stopIfRunning() }
        try standby.start()
        try waitUntil("the standby to catch up") { try standby.scalar("SELECT count(*) FROM journal") == "5" }
        try journal.write(6...10, switchEvery: 2)
        try primary.switchWALAndWaitForArchive(repository: repo)
        try waitUntil("the standby to stream rows 6-10") { try standby.scalar("SELECT count(*) FROM journal") == "10" }
        let time8 = try journal.timeBetween(8, 9)

        // Failover: the primary stops, the standby is promoted (timeline 2).
        try primary.stop()
        try standby.execute("SELECT pg_promote()")
        try standby.waitForPromotion()
        // (pg_control_checkpoint() says so only after the end-of-recovery checkpoint.)
        #expect(try standby.scalar("SELECT pg_walfile_name(pg_current_wal_lsn())")?.hasPrefix("00000002") == true)
        let promoted = Journal(cluster: standby)
        try promoted.write(11...15, switchEvery: 3)
        try standby.switchWALAndWaitForArchive(repository: repo)
        let archive = try Repository.open(repo).wal
        #expect(try archive.find("00000002.history") != nil, "the new timeline's history is archived")
        #expect(try archive.listAll().contains { $0.walName.hasSuffix(".partial") }, "the old timeline's last segment is kept as .partial")

        // Backups go on: an incremental on the new timeline, on the timeline-1 full.
        let incremental = try backupAndValidate(s, repo, standby, "incremental")
        let info = try #require(try parseBackupsJSON(try s.pgbk(["show", "-B", repo, "--json"]).stdout).first { $0["id"] as? String == incremental })
        #expect(info["timeline"] as? Int == 2 && info["mode"] as? String == "INCREMENTAL", "\(info)")
        try promoted.write(16...18)
        try standby.switchWALAndWaitForArchive(repository: repo)
        let timelines = try s.pgbk(["show", "-B", repo, "timeline"])
        #expect(timelines.stdout.contains("latest timeline: 2"), "\(timelines)")

        // The old primary, started alone after the failover (split brain, not archiving),
        // commits rows the new timeline never sees; then it is rebuilt with --delta as a
        // standby of the new primary (issue 14, item 4).
        try primary.appendConfig("archive_mode = off\n")
        try primary.start()
        try Journal(cluster: primary).write(900...905)
        try primary.stop()
        let rebuild = try s.pgbk(["restore", "-B", repo, "-D", primary.dataDir, "--delta", "--as-standby", "--primary-conninfo",
                                  "host=\(standby.socketDir) port=\(standby.port) user=postgres application_name=old-primary"])
        #expect(rebuild.succeeded && rebuild.stderr.contains("already matched the backup"), "\(rebuild)")
        let rebuilt = try TestCluster.adopt(primary.dataDir, scratch: s, name: "rebuilt")
        try rebuilt.appendConfig("archive_mode = off\nhot_standby = on\n")
        defer { rebuilt.stopIfRunning() }
        try rebuilt.start()
        try promoted.write(19...20)
        try standby.switchWALAndWaitForArchive(repository: repo)
        try waitUntil("the rebuilt node to stream from the new primary") {
            try rebuilt.scalar("SELECT status FROM pg_stat_wal_receiver") == "streaming"
        }
        let end = try #require(try standby.scalar("SELECT pg_current_wal_lsn()"))
        try waitUntil("the rebuilt node to replay up to \(end)") {
            try rebuilt.scalar("SELECT (pg_last_wal_replay_lsn() >= '\(end)'::pg_lsn)::text") == "true"
        }
        #expect(try rebuilt.scalar("SELECT string_agg(n::text, ',' ORDER BY n) FROM journal") == (1...20).map(String.init).joined(separator: ","))
        let dumps = try [standby, rebuilt].map { try dumpLines($0) }
        #expect(dumps[0].contains { $0.hasPrefix("COPY public.journal") }, "\(dumps[0].prefix(20))")
        #expect(dumps[0] == dumps[1], "the rebuilt node's data equals the new primary's: \(zip(dumps[0], dumps[1]).first { $0 != $1 }.map { "\($0)" } ?? "")")
        try rebuilt.stop()
        try standby.stop()

        #expect(try restoreJournal(s, repo: repo, as: "latest", []) == Array(1...20))
        #expect(try restoreJournal(s, repo: repo, as: "before-failover", ["--recovery-target-time", time8]) == Array(1...8))
    }
}
