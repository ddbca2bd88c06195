import Testing
import Foundation
import PostgresFormat
import Repository
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `pgbk receive-wal` into a bucket (issue 25): the segment being received is spooled locally
/// and its partial object replaced every --partial-interval; the server hears it flushed
/// only once the object is stored, so what it reports flushed survives the primary's loss.
/// archive_command archives nothing after the backup: receive-wal alone fills the archive.
extension S3Scenarios { @Suite struct S3ReceiveWALTests {
    @Test func receiveWALIntoABucketKeepsEveryFlushedCommit() throws {
        let f = try S3Fixture("receivewal")
        let primary = try f.journalCluster()
        defer { primary.stopIfRunning() }
        _ = try f.backup(primary, "full")
        try primary.execute("ALTER SYSTEM SET archive_command = 'true'")
        try primary.execute("SELECT pg_reload_conf()")
        let spool = f.scratch.path + "/spool"
        let args = ["-h", primary.socketDir, "-p", String(primary.port), "-U", "postgres", "--slot", "pgbk_s3",
                    "--partial-interval", "1", "--spool-path", spool, "-v"]
        let receiver = try f.spawn("receive-wal", args + ["--create-slot"], env: [:])
        defer { kill(receiver.pid, SIGKILL); _ = receiver.wait() }
        try waitUntilStreaming(primary)
        // One receiver per spool: a second one is refused in one line.
        let second = try f.pgbk("receive-wal", args)
        #expect(failsWithOneError(second) && second.stderr.contains("another pgbk receive-wal"), "\(second)")

        // Rows in a fresh segment, reported flushed: its partial object holds them.
        try primary.execute("SELECT pg_switch_wal()")
        try insert(1...50, into: primary)
        let first = try #require(try primary.scalar("SELECT pg_walfile_name(pg_current_wal_lsn())"))
        try waitUntilFlushed(primary)
        #expect(try f.storage.info(ReceivedPartials.name(of: first)) != nil)
        // Once whole, the segment is archived as archive-push stores it, and its partial goes.
        try primary.execute("SELECT pg_switch_wal()")
        try waitUntil("receive-wal to archive \(first)") { try f.repository().wal.find(first) != nil }
        try waitUntil("the partial of \(first) to go") { try f.storage.info(ReceivedPartials.name(of: first)) == nil }
        try insert(51...100, into: primary)
        try waitUntilFlushed(primary)
        // Killed, not stopped: only what it had stored and reported flushed is in the bucket.
        kill(receiver.pid, SIGKILL)
        _ = receiver.wait()
        try primary.stop(mode: "immediate")

        // The primary gone: the bucket alone restores all 100 rows, the last 50 from the partial.
        try FileSystem.removeTree(primary.dataDir)
        let validated = try f.pgbk("validate")
        #expect(validated.succeeded, "\(validated)")
        #expect(try f.restoreJournal(as: "restored", []) == Array(1...100))
    }

    func insert(_ rows: ClosedRange<Int>, into cluster: TestCluster) throws {
        let connection = try cluster.connect()
        for n in rows { try connection.query("INSERT INTO journal VALUES ($1)", [String(n)]) }
    }
} }
