import Testing
import Repository

/// -P/--progress: drawn in place on a terminal (a pseudo-terminal from script(1) here), by
/// default; nothing without one unless asked; never with --quiet (issue 15, item 2).
@Suite(.ownThread) struct ProgressTests {
    /// Runs pgbk on a pseudo-terminal as the postgres user; script(1) copies what it printed.
    func onTerminal(_ s: Scratch, _ args: [String]) throws -> CommandResult {
        let line = ([s.pgbk] + args).map { "'" + $0 + "'" }.joined(separator: " ")
        return try Command.run("/usr/bin/script", ["-qfec", line, "/dev/null"], asPostgres: true, outputDirectory: s.path)
    }

    @Test func backupRestoreAndValidateShowProgressOnATerminalOnly() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let cluster = try TestCluster.createInitialized(s, name: "db", repository: repo)
        defer { cluster.stopIfRunning() }
        try cluster.execute("CREATE TABLE t AS SELECT g, md5(g::text) FROM generate_series(1, 200000) g")
        let backup = ["backup", "-B", repo, "-D", cluster.dataDir] + cluster.connectionArgs

        let drawn = try onTerminal(s, backup)
        #expect(drawn.succeeded, "\(drawn)")
        #expect(drawn.stdout.contains("pgbk: backup 100% ") && drawn.stdout.contains(" files") && drawn.stdout.contains("\u{1B}[K"), "\(drawn)")
        let validate = try onTerminal(s, ["validate", "-B", repo])
        #expect(validate.succeeded && validate.stdout.contains("pgbk: validate ") && validate.stdout.contains("100%"), "\(validate)")
        let target = s.path + "/restored"
        let restore = try onTerminal(s, ["restore", "-B", repo, "-D", target])
        #expect(restore.succeeded && restore.stdout.contains("pgbk: restore 100% "), "\(restore)")

        // Not a terminal (cron): the usual lines only; -P asks for it; --quiet wins.
        let plain = try s.pgbk(backup)
        #expect(plain.succeeded && !plain.stderr.contains("%") && !plain.stderr.contains("\u{1B}"), "\(plain)")
        let asked = try s.pgbk(backup + ["-P"])
        #expect(asked.succeeded && asked.stderr.contains("pgbk: backup 100% ") && !asked.stderr.contains("\u{1B}"), "\(asked)")
        let quiet = try onTerminal(s, backup + ["-q"])
        #expect(quiet.succeeded && !quiet.stdout.contains("%"), "\(quiet)")
    }
}
