import Testing
import Repository

/// Issue 29, items 4 and 5, on a real server: annotations set by backup and changed by
/// annotate, shown by show, show --json and the report; latest, latest-full and oldest
/// wherever a backup is named; bad input refused in one line with nothing changed.
@Suite(.ownThread) struct CatalogWordsTests {
    func shown(_ s: Scratch, _ repo: String, _ word: String) throws -> [String: Any] {
        let r = try s.pgbk(["show", "-B", repo, word, "--json"])
        guard r.succeeded else { throw CommandError(result: r) }
        return try #require(try parseBackupsJSON(r.stdout).first)
    }

    @Test func annotationsAndShortcutsWorkWhereverABackupIsNamed() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let cluster = try TestCluster.createInitialized(s, name: "db", repository: repo)
        defer { cluster.stopIfRunning() }
        try cluster.execute("CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g")
        let backup = ["backup", "-B", repo, "-D", cluster.dataDir] + cluster.connectionArgs

        // Before any backup: bad input and a word naming nothing are refused, nothing written.
        let bad = try s.pgbk(backup + ["--annotation", "ticket"])
        #expect(bad.status != 0 && oneLine(bad) && bad.stderr.contains("KEY=VALUE"), "\(bad)")
        #expect(try Repository.open(repo).backupIDs().isEmpty, "a refused backup leaves no backup behind")
        let nothing = try s.pgbk(["show", "-B", repo, "latest"])
        #expect(nothing.status != 0 && oneLine(nothing) && nothing.stderr.contains("no usable"), "\(nothing)")

        let first = try s.pgbk(backup + ["--annotation", "ticket=DBA-42", "--annotation", "reason=before the upgrade"])
        #expect(first.succeeded, "\(first)")
        let full = try #require(try Repository.open(repo).backupIDs().last)
        let validated = try s.pgbk(["validate", "-B", repo, "latest"])
        #expect(validated.succeeded && validated.stderr.contains("backup \(full): OK"), "\(validated)")
        try cluster.execute("INSERT INTO t SELECT g FROM generate_series(1, 100) g")
        let incremental = try backupAndValidate(s, repo, cluster, "incremental")

        #expect(try shown(s, repo, "latest")["id"] as? String == incremental)
        #expect(try shown(s, repo, "latest-full")["id"] as? String == full)
        #expect(try shown(s, repo, "oldest")["id"] as? String == full)
        #expect(try shown(s, repo, "latest")["annotations"] as? [String: String] == [:])
        #expect(try shown(s, repo, full)["annotations"] as? [String: String] == ["ticket": "DBA-42", "reason": "before the upgrade"])

        // annotate: KEY= removes, KEY=VALUE sets; kept through validate's own rewrite.
        let changed = try s.pgbk(["annotate", "-B", repo, "latest-full", "ticket=", "owner=ops"])
        #expect(changed.succeeded, "\(changed)")
        #expect(try FileSystem.readText(repo + "/backup/\(full)/backup.ini").contains("ANNOTATION.owner=ops\n"))
        #expect(try s.pgbk(["validate", "-B", repo, full]).succeeded)
        #expect(try shown(s, repo, full)["annotations"] as? [String: String] == ["reason": "before the upgrade", "owner": "ops"])
        let text = try s.pgbk(["show", "-B", repo, full])
        #expect(text.stdout.contains("ANNOTATION.owner=ops") && !text.stdout.contains("ticket"), "\(text)")
        let page = s.path + "/report.html"
        #expect(try s.pgbk(["report", "-B", repo, "--html", page]).succeeded)
        #expect(try FileSystem.readText(page).contains("owner=ops"))

        // Bad annotate calls: one line, non-zero, backup.ini byte for byte as it was.
        let before = try FileSystem.readText(repo + "/backup/\(full)/backup.ini")
        for args in [["20200101-000000F", "k=v"], [full, "novalue"], [full], ["newest", "k=v"], [full, "bad key=v"]] {
            let r = try s.pgbk(["annotate", "-B", repo] + args)
            #expect(r.status != 0 && oneLine(r), "\(args): \(r)")
        }
        #expect(try FileSystem.readText(repo + "/backup/\(full)/backup.ini") == before)

        // A restore of latest-full restores the full, not the newer incremental.
        let dest = s.path + "/restored"
        let restored = try s.pgbk(["restore", "-B", repo, "-D", dest, "--backup-id", "latest-full"])
        #expect(restored.succeeded && restored.stderr.contains("restoring backup \(full) "), "\(restored)")
    }
}
