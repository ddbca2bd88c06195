import Testing
import Foundation
import PostgresClient
import PostgresFormat
import Repository

/// The replication protocol plumbing (issue 25's foundation) against a real server:
/// IDENTIFY_SYSTEM names the cluster pg_control does, a physical slot is made, and the WAL
/// START_REPLICATION streams from a segment's start is, byte for byte, the segment the server
/// wrote in pg_wal; the server takes the standby status updates.
@Suite(.ownThread) struct ReplicationStreamTests {
    /// On every major (14 has the older slot syntax); a second or two each.
    @Test(arguments: PostgresInstall.matrix)
    func theStreamedWALIsTheServersSegmentByteForByte(_ version: Int) throws {
        let s = try Scratch()
        let cluster = try TestCluster.create(s, name: "db", repository: nil, bin: try PostgresInstall.of(version).bin)
        defer { cluster.stopIfRunning() }
        try cluster.start()
        let major = try #require(Int(try cluster.scalar("SHOW server_version_num") ?? "")) / 10000
        #expect(major == version)
        var parameters = ConnectionParameters(host: cluster.socketDir, port: String(cluster.port), user: "postgres")
        parameters.replication = true
        parameters.applicationName = "pgbk-test"
        let stream = try Connection(parameters)

        let identity = try stream.command("IDENTIFY_SYSTEM")
        #expect(identity.value(0, "systemid") == (try cluster.scalar("SELECT system_identifier::text FROM pg_control_system()")))
        let timeline = try #require(identity.value(0, "timeline"))
        try stream.command(major >= 15 ? "CREATE_REPLICATION_SLOT pgbk_test PHYSICAL (RESERVE_WAL)" : "CREATE_REPLICATION_SLOT pgbk_test PHYSICAL RESERVE_WAL")

        let segmentSize = UInt64(try #require(Int(try cluster.scalar("SELECT setting FROM pg_settings WHERE name = 'wal_segment_size'") ?? "")))
        let current = try #require(LSN(try cluster.scalar("SELECT pg_current_wal_lsn()") ?? ""))
        let start = LSN(current.value - current.value % segmentSize)
        let segment = try #require(try cluster.scalar("SELECT pg_walfile_name('\(current)')"))
        try stream.startCopyBoth("START_REPLICATION SLOT pgbk_test PHYSICAL \(start) TIMELINE \(timeline)")
        try cluster.execute("CREATE TABLE t AS SELECT g FROM generate_series(1, 50000) g")
        try cluster.execute("SELECT pg_switch_wal()")

        var received = [UInt8]()
        var keepalives = 0
        let deadline = Date().addingTimeInterval(60)
        while UInt64(received.count) < segmentSize && Date() < deadline {
            guard case .data(let bytes) = try stream.readCopyData(waitingAtMost: 1000) else { continue }
            switch try ReplicationMessage.parse(bytes) {
            case .walData(let at, _, _, let offset):
                #expect(at.value == start.value + UInt64(received.count), "the stream is contiguous")
                received += bytes[offset...]
            case .keepalive(_, _, let replyRequested):
                keepalives += 1
                if replyRequested || keepalives % 5 == 0 {
                    let end = LSN(start.value + UInt64(received.count))
                    try stream.writeCopyData(ReplicationMessage.standbyStatus(written: end, flushed: end, applied: .invalid,
                                                                              at: ReplicationMessage.postgresTime(unixMicros: Int64(Date().timeIntervalSince1970 * 1e6))))
                }
            }
        }
        #expect(UInt64(received.count) >= segmentSize)
        let onDisk = try #require(FileManager.default.contents(atPath: cluster.dataDir + "/pg_wal/" + segment))
        #expect(Array(received.prefix(Int(segmentSize))) == Array(onDisk), "streamed WAL equals \(segment) in pg_wal")

        // The server took a status update: the slot's flushed position moved.
        let end = LSN(start.value + segmentSize)
        try stream.writeCopyData(ReplicationMessage.standbyStatus(written: end, flushed: end, applied: .invalid, at: 0))
        try waitUntil("the slot to reach \(end)") {
            try cluster.scalar("SELECT restart_lsn >= '\(end)' FROM pg_replication_slots WHERE slot_name = 'pgbk_test'") == "t"
        }
    }
}
