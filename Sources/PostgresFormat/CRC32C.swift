import CShims

/// CRC-32C, as PostgreSQL uses for WAL records, pg_control and backup manifests.
/// pgbk uses it for every file it stores. Feed chunks in order; `value` is the result so far.
public struct CRC32C: Sendable, Equatable {
    public private(set) var value: UInt32 = 0

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        value = pgbk_crc32c_update(value, base, bytes.count)
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var crc = CRC32C()
        crc.update(bytes)
        return crc.value
    }

    public static func checksum(_ string: String) -> UInt32 {
        checksum(Array(string.utf8))
    }

    /// Eight lower-case hex digits: the form pgbk writes into manifests and file names.
    public var hex: String { Self.hex(value) }

    public static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }

    public static func parseHex(_ text: Substring) -> UInt32? {
        guard text.count == 8 else { return nil }
        return UInt32(text, radix: 16)
    }
}
