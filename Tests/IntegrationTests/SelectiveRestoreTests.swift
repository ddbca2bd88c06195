import Testing
import Repository

/// Issue 29, item 6: `restore --db-include` brings the included database back exactly
/// (pg_dump equal) with postgres and the templates; the others (one of them in a tablespace)
/// come back as empty files: the server starts, a connection to one fails, and it can be
/// dropped. pg_verifybackup accepts the result. A database the backup lacks, or a system one
/// excluded, is one line with nothing written. On 15 and 18.
@Suite(.ownThread) struct SelectiveRestoreTests {
    @Test(arguments: [15, 18]) func theIncludedDatabaseIsExactAndTheOthersMustBeDropped(major: Int) throws {
        let install = try PostgresInstall.of(major)
        let s = try Scratch()
        let repo = s.path + "/repo"
        let source = try TestCluster.createInitialized(s, name: "src", repository: repo, bin: install.bin)
        defer { source.stopIfRunning() }
        let tsDir = try s.makeDirectory("ts")
        try source.execute("CREATE TABLESPACE ts LOCATION '\(tsDir)'")
        for (name, clause) in [("app", ""), ("reports", " TABLESPACE ts"), ("other db", "")] {
            try source.execute("CREATE DATABASE \"\(name)\"\(clause)")
            try source.execute("CREATE TABLE t (id int PRIMARY KEY, v text)", database: name)
            try source.execute("INSERT INTO t SELECT g, md5(g::text || '\(name)') FROM generate_series(1, 20000) g", database: name)
        }
        try source.execute("CREATE TABLE kept AS SELECT g FROM generate_series(1, 100) g")
        _ = try backupAndValidate(s, repo, source, "full")
        try source.execute("UPDATE t SET v = 'changed' WHERE id % 10 = 0", database: "app")
        try source.execute("UPDATE t SET v = 'changed' WHERE id % 10 = 0", database: "reports")
        _ = try backupAndValidate(s, repo, source, "incremental")
        let expectedApp = try dumpLines(source, database: "app")
        let expectedPostgres = try dumpLines(source)

        // Bad selections: one line, nothing written.
        for args in [["--db-include", "missing"], ["--db-exclude", "postgres"], ["--db-include", "app", "--db-exclude", "app"],
                     ["--db-include", "app", "--as-standby"]] {
            let target = s.path + "/refused"
            let r = try s.pgbk(["restore", "-B", repo, "-D", target] + args)
            #expect(r.status != 0 && (oneLine(r) || r.stderr.contains("Error: --as-standby")) && !FileSystem.exists(target), "\(args): \(r)")
        }

        let target = s.path + "/restored"
        let restore = try s.pgbk(["restore", "-B", repo, "-D", target, "--db-include", "app", "-T", "\(tsDir)=\(s.path)/ts-moved",
                                  "--recovery-target", "immediate", "--recovery-target-action", "promote"])
        #expect(restore.succeeded && restore.stderr.contains("reports (OID") && restore.stderr.contains("other db (OID"), "\(restore)")
        let verified = try source.runClient("pg_verifybackup", ["-n", target])
        #expect(verified.succeeded, "\(verified)")
        let restored = try TestCluster.startRestored(target, scratch: s, name: "restored", bin: install.bin)
        defer { restored.stopIfRunning() }
        #expect(try dumpLines(restored, database: "app") == expectedApp)
        #expect(try dumpLines(restored) == expectedPostgres)
        #expect(try restored.scalar("SELECT count(*) FROM t", database: "app") == "20000")
        // PostgreSQL refuses the connection: the database's relation map is zeros.
        do {
            _ = try restored.scalar("SELECT count(*) FROM t", database: "reports")
            Issue.record("a zeroed database answered a query")
        } catch {
            #expect("\(error)".contains("pg_filenode.map"), "\(error)")
        }
        for name in ["reports", "other db"] { _ = try restored.execute("DROP DATABASE \"\(name)\"") }
        #expect(try restored.scalar("SELECT count(*) FROM pg_database WHERE datname IN ('reports', 'other db')") == "0")
        if install.hasAmcheck {
            let amcheck = try restored.runClient("pg_amcheck", restored.connectionArgs + ["--all", "--install-missing"])
            #expect(amcheck.succeeded && amcheck.stdout.isEmpty, "\(amcheck)")
        }
    }
}
