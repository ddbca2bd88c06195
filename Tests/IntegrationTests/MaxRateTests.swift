import Testing
import Repository

/// Issue 29, item 7: --max-rate is taken by backup (from a data directory), restore and copy;
/// what comes out is exact; bad values are one line and change nothing. The rate itself is
/// measured by make bench (bench.sh), never timed here.
@Suite(.ownThread) struct MaxRateTests {
    @Test func backupRestoreAndCopyTakeAMaxRateAndRefuseBadOnes() throws {
        let s = try Scratch()
        let repo = s.path + "/repo", second = s.path + "/repo2"
        let source = try TestCluster.createInitialized(s, name: "src", repository: repo)
        defer { source.stopIfRunning() }
        #expect(try s.pgbk(["init", "-B", second, "-D", source.dataDir]).succeeded)
        try source.execute("CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 50000) g")
        let backup = try s.pgbk(["backup", "-B", repo, "-D", source.dataDir, "-j", "2", "--max-rate", "512M"] + source.connectionArgs)
        #expect(backup.succeeded, "\(backup)")
        #expect(try s.pgbk(["validate", "-B", repo]).succeeded)
        let expected = try dumpLines(source)

        for (command, rate) in [("restore", "10"), ("restore", "2000M"), ("copy", "fast"), ("backup", "0")] {
            let args: [String]
            switch command {
            case "restore": args = ["restore", "-B", repo, "-D", s.path + "/never"]
            case "copy": args = ["copy", "-B", repo, "-B", second, "--from-repo", "1", "--to-repo", "2"]
            default: args = ["backup", "-B", repo, "-D", source.dataDir] + source.connectionArgs
            }
            let r = try s.pgbk(args + ["--max-rate", rate])
            #expect(r.status != 0 && oneLine(r) && r.stderr.contains("--max-rate"), "\(command) \(rate): \(r)")
        }
        #expect(!FileSystem.exists(s.path + "/never"))
        #expect(try Repository.open(second).backupIDs().isEmpty)
        #expect(try Repository.open(repo).backupIDs().count == 1)

        let copy = try s.pgbk(["copy", "-B", repo, "-B", second, "--from-repo", "1", "--to-repo", "2", "--max-rate", "512M"])
        #expect(copy.succeeded, "\(copy)")
        let target = s.path + "/restored"
        let restore = try s.pgbk(["restore", "-B", second, "-D", target, "--max-rate", "512M", "-j", "2",
                                  "--recovery-target", "immediate", "--recovery-target-action", "promote"])
        #expect(restore.succeeded, "\(restore)")
        let restored = try TestCluster.startRestored(target, scratch: s, name: "restored")
        #expect(try dumpLines(restored) == expected)
        try restored.stop()
    }
}
