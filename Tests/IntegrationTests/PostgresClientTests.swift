import Testing
import PostgresClient
import Repository

/// The libpq wrapper against a real server.
@Suite(.ownThread, .sharedClusters) struct PostgresClientTests {
    @Test func parametersTravelSeparatelyFromSQL() throws {
        let c = try SharedClusters.get()
        let conn = try c.primary.connect()
        let tricky = "it's a \"test\"; DROP TABLE t; --"
        let r = try conn.query("SELECT $1::text AS v, $2::text IS NULL AS n, length($1) AS len", [tricky, nil])
        #expect(r.value(0, "v") == tricky)
        #expect(r.value(0, "n") == "t")
        #expect(r.value(0, "len") == String(tricky.count))
        #expect(try c.primary.scalar("SELECT count(*) FROM t") == "10000")
    }

    @Test func serverErrorsCarrySQLStateAndMessage() throws {
        let c = try SharedClusters.get()
        let conn = try c.primary.connect()
        do {
            try conn.query("SELECT * FROM no_such_table")
            Issue.record("query succeeded")
        } catch let error as PostgresError {
            #expect(error.sqlState == "42P01")
            #expect(error.message.contains("no_such_table"))
            #expect(error.description.contains("[SQLSTATE 42P01]"))
            #expect(!error.description.contains("\n"))
        }
        // The connection is still usable after an error.
        #expect(try conn.query("SELECT 1").single == "1")
    }

    @Test func connectionErrorsNeverShowThePassword() throws {
        let c = try SharedClusters.get()
        let secret = "s3cret-Pa55word"
        do {
            _ = try Connection(ConnectionParameters(host: c.primary.socketDir, port: "1", user: "postgres",
                                                    database: "dbname=postgres password=\(secret)"))
            Issue.record("connected to a port nobody listens on")
        } catch let error as PostgresError {
            #expect(error.kind == .connection)
            #expect(!error.description.contains(secret))
            #expect(error.description.contains("could not connect"))
        }
        // Through pgbk: the one-line error names the problem and not the password.
        let r = try c.scratch.pgbk(["backup", "-B", c.repository, "-D", c.primary.dataDir, "-h", c.primary.socketDir,
                                    "-p", "1", "-d", "dbname=postgres password=\(secret)"])
        #expect(r.status != 0 && r.stderr.contains("could not connect") && !r.stderr.contains(secret), "\(r)")
        #expect(!r.stdout.contains(secret))
    }
}
