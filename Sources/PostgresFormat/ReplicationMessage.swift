/// The messages inside the CopyData of a physical replication stream (PostgreSQL's
/// "Streaming Replication Protocol"): integers in network byte order, times in microseconds
/// since 2000-01-01 00:00 UTC.
public enum ReplicationMessage: Sendable, Equatable {
    /// `w`: WAL from `start` on, in the message's bytes from `payloadOffset`.
    case walData(start: LSN, serverEnd: LSN, sendTime: Int64, payloadOffset: Int)
    /// `k`: the server's end of WAL; with `replyRequested`, a status update is due now.
    case keepalive(serverEnd: LSN, sendTime: Int64, replyRequested: Bool)

    public static let walDataHeaderSize = 25

    public static func parse(_ bytes: [UInt8]) throws -> ReplicationMessage {
        guard let kind = bytes.first else { throw FormatError("replication message", "empty") }
        switch kind {
        case UInt8(ascii: "w"):
            guard bytes.count >= walDataHeaderSize else { throw FormatError("WAL data message", "\(bytes.count) bytes, shorter than its header") }
            return .walData(start: LSN(bytes.bigEndian64(at: 1)), serverEnd: LSN(bytes.bigEndian64(at: 9)),
                            sendTime: Int64(bitPattern: bytes.bigEndian64(at: 17)), payloadOffset: walDataHeaderSize)
        case UInt8(ascii: "k"):
            guard bytes.count >= 18 else { throw FormatError("keepalive message", "\(bytes.count) bytes, expected 18") }
            return .keepalive(serverEnd: LSN(bytes.bigEndian64(at: 1)), sendTime: Int64(bitPattern: bytes.bigEndian64(at: 9)),
                              replyRequested: bytes[17] != 0)
        default:
            throw FormatError("replication message", "unknown type \(Character(Unicode.Scalar(kind)))")
        }
    }

    /// `r`, the standby status update: each position is the byte after the last one written,
    /// flushed (durable) and applied.
    public static func standbyStatus(written: LSN, flushed: LSN, applied: LSN, at time: Int64, replyRequested: Bool = false) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "r")]
        for value in [written.value, flushed.value, applied.value, UInt64(bitPattern: time)] {
            out += (0..<8).reversed().map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
        }
        out.append(replyRequested ? 1 : 0)
        return out
    }

    /// PostgreSQL's time for a Unix time in microseconds.
    public static func postgresTime(unixMicros: Int64) -> Int64 { unixMicros - 946_684_800_000_000 }
}

extension Array where Element == UInt8 {
    func bigEndian64(at offset: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<8 { v = v << 8 | UInt64(self[offset + i]) }
        return v
    }
}
