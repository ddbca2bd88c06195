import Testing
import Foundation
import Repository
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Several repositories for one cluster (issue 24, item 1): named in order by -B or
/// BACKUP_PATH, BACKUP_PATH_2; archive-push stores every segment in each and fails, naming
/// the repository, while one cannot take it; show lists every repository's backups.
@Suite(.ownThread) struct MultipleRepositoryTests {
    /// A cluster whose archive_command pushes into `r1` and `r2`, both made by one init; started.
    func clusterArchivingInto(_ s: Scratch, _ r1: String, _ r2: String) throws -> TestCluster {
        let cluster = try TestCluster.create(s, name: "db", repository: nil)
        try cluster.appendConfig("archive_mode = on\narchive_command = '\(s.pgbk) archive-push -B \(r1) -B \(r2) %p'\n")
        let made = try s.pgbk(["init", "-B", r1, "-B", r2, "-D", cluster.dataDir])
        #expect(made.succeeded && made.stderr.contains("repo1 (\(r1))") && made.stderr.contains("repo2 (\(r2))")
                && made.stderr.contains("archive-push -B \(r1) -B \(r2) %p"), "\(made)")
        try cluster.start()
        return cluster
    }

    @Test func archivePushFillsEveryRepositoryAndNamesTheOneThatFails() throws {
        let s = try Scratch()
        let (r1, r2) = (s.path + "/repo1", s.path + "/repo2")
        let cluster = try clusterArchivingInto(s, r1, r2)
        defer { cluster.stopIfRunning() }
        try cluster.execute("CREATE TABLE t AS SELECT generate_series(1, 1000) AS n")
        try cluster.switchWALAndWaitForArchive(repository: r2)

        // Both hold every segment archived so far, checked as archive-push checks them.
        let names = { (path: String) in try Set(Repository.open(path).wal.listAll().map(\.walName)) }
        try waitUntil("repo1 to hold what repo2 holds") { try names(r1) == names(r2) }
        #expect(try !names(r1).isEmpty)

        // repo2 is unreachable (its share unmounted): archive-push fails naming it, repo1
        // still gets the segment.
        try FileSystem.rename(r2, r2 + ".away")
        let segment = try #require(try cluster.scalar("SELECT pg_walfile_name(pg_current_wal_lsn())"))
        try cluster.execute("INSERT INTO t SELECT generate_series(1001, 2000)")
        try cluster.execute("SELECT pg_switch_wal()")
        try waitUntil("\(segment) in repo1") { try Repository.open(r1).wal.find(segment) != nil }
        let pushed = try s.pgbk(["archive-push", "-B", r1, "-B", r2, cluster.dataDir + "/pg_wal/" + segment])
        #expect(failsWithOneError(pushed) && pushed.stderr.contains("archived in 1 of 2 repositories; not in repo2 (\(r2))"), "\(pushed)")
        try waitUntil("PostgreSQL to see archive_command fail") { try cluster.scalar("SELECT failed_count FROM pg_stat_archiver") != "0" }

        // repo2 back: PostgreSQL's retry fills it, repo1 accepts the retry as identical.
        try FileSystem.rename(r2 + ".away", r2)
        try waitUntil("\(segment) in repo2") { try Repository.open(r2).wal.find(segment) != nil }
        try cluster.switchWALAndWaitForArchive(repository: r2)
        #expect(try names(r1) == names(r2))

        // A backup in each; show lists both, each row with its repository.
        for repo in ["1", "2"] {
            let b = try s.pgbk(["backup", "-B", r1, "-B", r2, "--repo", repo, "-b", "full", "-D", cluster.dataDir] + cluster.connectionArgs)
            #expect(b.succeeded, "\(b)")
            // Every line names the repository the backup went into.
            let label = "repo\(repo) (\(repo == "1" ? r1 : r2)): "
            #expect(b.stderr.split(separator: "\n").allSatisfy { $0.hasPrefix("pgbk: " + label) || $0.hasPrefix("pgbk: warning: " + label) }, "\(b)")
        }
        let shown = try s.pgbk(["show", "-B", r1, "-B", r2])
        let rows = shown.stdout.split(separator: "\n").filter { $0.contains("FULL") }
        #expect(shown.succeeded && rows.count == 2 && rows.contains { $0.hasPrefix(" repo1 ") } && rows.contains { $0.hasPrefix(" repo2 ") }
                && shown.stdout.contains("repo2 (\(r2))"), "\(shown)")
        let json = try s.pgbk(["show", "-B", r1, "-B", r2, "--json"])
        let objects = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        #expect(Set(objects.compactMap { $0["repo"] as? Int }) == [1, 2] && objects.contains { $0["repository"] as? String == r2 }, "\(json)")
        // check covers both: archiving into each end to end, the server's lines once.
        let both = try s.pgbk(["check", "-B", r1, "-B", r2] + cluster.connectionArgs)
        let lines = both.stdout.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("OK       repo1 archiving ") } && lines.contains { $0.hasPrefix("OK       repo2 archiving ") }
                && lines.contains { $0.contains(" repo2 backup_age ") } && lines.filter { $0.contains(" wal_level ") }.count == 1, "\(both)")
        // The metrics of both, each family once; an unreachable one is up 0, the other written.
        let metrics = try s.pgbk(["show", "-B", r1, "-B", r2, "--metrics"])
        #expect(metrics.succeeded && metrics.stdout.contains("pgbk_repository_up{repository=\"\(r1)\"} 1")
                && metrics.stdout.contains("pgbk_repository_up{repository=\"\(r2)\"} 1")
                && metrics.stdout.contains("pgbk_wal_archived_segments{repository=\"\(r2)\"}")
                && metrics.stdout.components(separatedBy: "# HELP pgbk_backups ").count == 2, "\(metrics)")
        try FileSystem.rename(r2, r2 + ".away")
        let half = try s.pgbk(["show", "-B", r1, "-B", r2, "--metrics"])
        try FileSystem.rename(r2 + ".away", r2)
        #expect(half.succeeded && half.stdout.contains("pgbk_repository_up{repository=\"\(r2)\"} 0")
                && half.stdout.contains("pgbk_wal_archived_segments{repository=\"\(r1)\"}")
                && !half.stdout.contains("pgbk_wal_archived_segments{repository=\"\(r2)\"}") && half.stderr.contains("repo2 (\(r2))"), "\(half)")
        // The HTML report: a section per repository, each with its own element ids.
        let page = s.path + "/report.html"
        let report = try s.pgbk(["report", "-B", r1, "-B", r2, "--html", page])
        let html = try FileSystem.readText(page)
        #expect(report.succeeded && html.contains("<section id=\"repo1\"><h2>repo1 (\(r1))</h2>") && html.contains("<section id=\"repo2\">")
                && html.contains("<svg id=\"timeline-repo2\"") && html.contains("<table id=\"backups-repo1\">") && !html.contains("id=\"timeline\""), "\(report)")
        // check of either repository finds it among archive_command's -B.
        for repo in ["1", "2"] {
            let check = try s.pgbk(["check", "-B", r1, "-B", r2, "--repo", repo, "--no-archive-test"] + cluster.connectionArgs)
            #expect(check.stdout.contains("OK       archive_command"), "\(check)")
        }
        let one = try s.pgbk(["show", "-B", r1, "-B", r2, "--repo", "2", "--json"])
        #expect((try JSONSerialization.jsonObject(with: Data(one.stdout.utf8)) as? [[String: Any]])?.map { $0["repo"] as? Int } == [2], "\(one)")
    }

    /// restore takes the first repository whose backups and WAL prove the target reachable,
    /// says why it passed over the ones before, and restores exactly from it; when none can,
    /// one line names each reason and nothing is written.
    @Test func restoreFallsBackToTheNextRepositoryThatCanReachTheTarget() throws {
        let s = try Scratch()
        let (r1, r2) = (s.path + "/repo1", s.path + "/repo2")
        let cluster = try clusterArchivingInto(s, r1, r2)
        defer { cluster.stopIfRunning() }
        try cluster.execute("CREATE TABLE t AS SELECT generate_series(1, 1000) AS n")
        for repo in ["1", "2"] {
            let b = try s.pgbk(["backup", "-B", r1, "-B", r2, "--repo", repo, "-b", "full", "-D", cluster.dataDir] + cluster.connectionArgs)
            let v = try s.pgbk(["validate", "-B", r1, "-B", r2, "--repo", repo])
            #expect(b.succeeded && v.succeeded, "\(b)\n\(v)")
        }
        try cluster.execute("INSERT INTO t SELECT generate_series(1001, 3000)")
        let segment = try #require(try cluster.scalar("SELECT pg_walfile_name(pg_current_wal_lsn())"))
        let lateLSN = try #require(try cluster.scalar("SELECT pg_current_wal_lsn()"))
        try cluster.switchWALAndWaitForArchive(repository: r1)
        try cluster.switchWALAndWaitForArchive(repository: r2)
        try cluster.stop()
        // The segment with the late rows is damaged in repo1.
        try flipByte(try #require(try Repository.open(r1).wal.find(segment)).path, at: 200_000)

        // validate --recovery-target-* answers from the same choice.
        let asked = try s.pgbk(["validate", "-B", r1, "-B", r2, "--recovery-target-lsn", lateLSN])
        #expect(asked.succeeded && asked.stderr.contains("repo1 (\(r1)) passed over: ") && asked.stderr.contains(segment)
                && asked.stderr.contains("using repo2 (\(r2)), the first repository that can reach the target")
                && asked.stdout.contains("is possible from backup"), "\(asked)")
        let target = s.path + "/restored"
        let r = try s.pgbk(["restore", "-B", r1, "-B", r2, "-D", target])
        #expect(r.succeeded && r.stderr.contains("repo1 (\(r1)) passed over: ") && r.stderr.contains(segment)
                && r.stderr.contains("using repo2 (\(r2)), the first repository that can reach the target"), "\(r)")
        // restore_command names the chosen repository first, then the others.
        let autoConf = try FileSystem.readText(target + "/postgresql.auto.conf")
        #expect(autoConf.contains("-B ''\(r2)'' -B ''\(r1)'' %f %p"), "\(autoConf)")
        let restored = try TestCluster.startRestored(target, scratch: s, name: "restored")
        defer { restored.stopIfRunning() }
        #expect(try restored.scalar("SELECT count(*) FROM t") == "3000")
        try restored.stop()

        // archive-get with both: a segment damaged in repo1 comes from repo2, and says so;
        // one that no repository has is "not archived" (1), which ends recovery.
        let fetched = s.path + "/fetched"
        let get = try s.pgbk(["archive-get", "-B", r1, "-B", r2, segment, fetched])
        #expect(get.succeeded && get.stderr.contains("restored \(segment) from repo2 (\(r2))"), "\(get)")
        let nowhere = try s.pgbk(["archive-get", "-B", r1, "-B", r2, "0000000100000000000000FE", s.path + "/none"])
        #expect(nowhere.status == 1, "\(nowhere)")

        // A drill drills what a restore would use, and is recorded there.
        let drills = try s.makeDirectory("drills")
        let drill = try s.pgbk(["drill", "-B", r1, "-B", r2, "--scratch-dir", drills, "-U", "postgres", "--sql-check", "SELECT count(*) = 3000 FROM t"])
        #expect(drill.succeeded && drill.stderr.contains("repo1 (\(r1)) passed over: ") && drill.stderr.contains("using repo2"), "\(drill)")
        let recorded = try s.pgbk(["show", "-B", r2, "drills"])
        #expect(recorded.stdout.contains(" OK "), "\(recorded)")

        // repo2 gone too: one line with both reasons, nothing written.
        try FileSystem.rename(r2, r2 + ".away")
        let none = try s.pgbk(["restore", "-B", r1, "-B", r2, "-D", s.path + "/nowhere"])
        #expect(failsWithOneError(none) && none.stderr.contains("no repository can reach") && none.stderr.contains("repo1 (\(r1)): ")
                && none.stderr.contains("repo2 (\(r2)): "), "\(none)")
        #expect(!FileSystem.exists(s.path + "/nowhere"))
        // repo2 unreachable: repo1's damaged copy is not handed out, and a segment repo1 lacks
        // is no longer "not archived" (repo2 may hold it): 200, recovery stops.
        let damaged = try s.pgbk(["archive-get", "-B", r1, "-B", r2, segment, s.path + "/fetched2"])
        #expect(damaged.status == 200 && !FileSystem.exists(s.path + "/fetched2"), "\(damaged)")
        let unsure = try s.pgbk(["archive-get", "-B", r1, "-B", r2, "0000000100000000000000FE", s.path + "/none"])
        #expect(unsure.status == 200 && unsure.stderr.contains("could not be read"), "\(unsure)")
        // With one repository named, its own error as before.
        let one = try s.pgbk(["restore", "-B", r1, "-B", r2, "--repo", "1", "-D", s.path + "/nowhere"])
        #expect(failsWithOneError(one) && one.stderr.contains(segment) && !one.stderr.contains("passed over"), "\(one)")
    }

    /// Bad input: a repository number that does not exist, numbering with a gap in the
    /// configuration file; one line, nothing written.
    @Test func aRepositoryThatIsNotThereIsNamedInOneLine() throws {
        let s = try Scratch()
        let (r1, r2) = (s.path + "/repo1", s.path + "/repo2")
        let seven = try s.pgbk(["backup", "-B", r1, "-B", r2, "--repo", "7"])
        #expect(failsWithOneError(seven) && seven.stderr.contains("--repo 7: there are 2 repositories (repo1 (\(r1)), repo2 (\(r2)))"), "\(seven)")
        let config = s.path + "/pgbk.conf"
        try s.writeFile(config, "BACKUP_PATH=\(r1)\nBACKUP_PATH_3=\(r2)\n")
        let gap = try s.pgbk(["show", "--config", config])
        #expect(failsWithOneError(gap) && gap.stderr.contains("BACKUP_PATH_3 is set but BACKUP_PATH_2 is not"), "\(gap)")
        try s.writeFile(config, "BACKUP_PATH=\(r1)\nBACKUP_PATH_2=\(r2)\n")
        let two = try s.pgbk(["show", "--config", config, "--repo", "3"])
        #expect(failsWithOneError(two) && two.stderr.contains("there are 2 repositories"), "\(two)")
        // An empty path is not the current directory (archive_command runs in PGDATA).
        let cwd = try s.makeDirectory("cwd")
        let empty = try s.pgbk(["init", "-B", "", "-D", s.path + "/nowhere"], directory: cwd)
        #expect(failsWithOneError(empty) && empty.stderr.contains("repo1: the backup path is empty"), "\(empty)")
        try s.writeFile(config, "BACKUP_PATH=\(r1)\nBACKUP_PATH_2=\n")
        let emptySecond = try s.pgbk(["archive-push", "--config", config, s.path + "/x"], directory: cwd)
        #expect(failsWithOneError(emptySecond) && emptySecond.stderr.contains("repo2: the backup path is empty"), "\(emptySecond)")
        #expect(try FileSystem.list(cwd).isEmpty)
        #expect(!FileSystem.exists(r1) && !FileSystem.exists(r2))
    }
}
