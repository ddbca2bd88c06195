import Testing
@testable import PostgresFormat

/// The replication protocol's CopyData messages, byte by byte as protocol-replication.html
/// lays them out (network byte order).
@Suite struct ReplicationMessageTests {
    func be(_ value: UInt64) -> [UInt8] { (0..<8).reversed().map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }

    @Test func walDataAndKeepaliveAreRead() throws {
        let wal = [UInt8(ascii: "w")] + be(0x1_0000_2000) + be(0x1_0000_5000) + be(12345) + [1, 2, 3]
        #expect(try ReplicationMessage.parse(wal) == .walData(start: LSN(0x1_0000_2000), serverEnd: LSN(0x1_0000_5000), sendTime: 12345, payloadOffset: 25))
        let keepalive = [UInt8(ascii: "k")] + be(0x2_0000_0000) + be(UInt64(bitPattern: -7)) + [1]
        #expect(try ReplicationMessage.parse(keepalive) == .keepalive(serverEnd: LSN(0x2_0000_0000), sendTime: -7, replyRequested: true))
    }

    @Test func shortOrUnknownMessagesAreErrors() {
        #expect(throws: FormatError.self) { try ReplicationMessage.parse([]) }
        #expect(throws: FormatError.self) { try ReplicationMessage.parse([UInt8(ascii: "w")] + [UInt8](repeating: 0, count: 23)) }
        #expect(throws: FormatError.self) { try ReplicationMessage.parse([UInt8(ascii: "k")] + [UInt8](repeating: 0, count: 16)) }
        #expect(throws: FormatError.self) { try ReplicationMessage.parse([UInt8(ascii: "x"), 0]) }
    }

    @Test func theStandbyStatusUpdateIsThirtyFourBytes() {
        let status = ReplicationMessage.standbyStatus(written: LSN(0x10), flushed: LSN(0x0F), applied: LSN(0), at: 0x0102, replyRequested: true)
        #expect(status == [UInt8(ascii: "r")] + be(0x10) + be(0x0F) + be(0) + be(0x0102) + [1])
        #expect(status.count == 34)
        // 2000-01-01 00:00:00 UTC is PostgreSQL's zero.
        #expect(ReplicationMessage.postgresTime(unixMicros: 946_684_800_000_000) == 0)
    }
}
