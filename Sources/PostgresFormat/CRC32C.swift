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

    /// Of the string's UTF-8, read in place (a catalog text of megabytes is not copied).
    public static func checksum<S: StringProtocol>(_ string: S) -> UInt32 {
        let inPlace = string.utf8.withContiguousStorageIfAvailable { bytes -> UInt32 in
            var crc = CRC32C()
            crc.update(UnsafeRawBufferPointer(bytes))
            return crc.value
        }
        return inPlace ?? checksum(Array(string.utf8))
    }

    /// The CRC of `a` followed by `b`, from the CRCs of each and the length of `b`: parts of
    /// one file checksummed on different workers give the checksum of the whole file.
    /// CRC arithmetic is linear over GF(2): appending n bytes multiplies the first CRC by
    /// x^(8n) modulo the (reflected) Castagnoli polynomial.
    public static func combine(_ a: UInt32, _ b: UInt32, lengthOfB: UInt64) -> UInt32 {
        var result: UInt32 = 1 << 31  // x^0 in reflected bit order
        var power: UInt32 = 1 << 23   // x^8: one byte
        var n = lengthOfB
        while n > 0 {
            if n & 1 != 0 { result = multiplyModP(result, power) }
            power = multiplyModP(power, power)
            n >>= 1
        }
        return multiplyModP(result, a) ^ b
    }

    /// The CRC of `count` zero bytes (a sparse file's), by doubling: zeros(2n) is zeros(n)
    /// followed by zeros(n).
    public static func zeros(count: UInt64) -> UInt32 {
        var result = CRC32C().value
        var block = checksum([0])  // one zero byte
        var length: UInt64 = 1
        var n = count
        while n > 0 {
            if n & 1 != 0 { result = combine(result, block, lengthOfB: length) }
            block = combine(block, block, lengthOfB: length)
            length *= 2
            n >>= 1
        }
        return result
    }

    /// a * b modulo the polynomial, both in reflected bit order (bit 31 is x^0).
    static func multiplyModP(_ a: UInt32, _ b: UInt32) -> UInt32 {
        let polynomial: UInt32 = 0x82F6_3B78
        var product: UInt32 = 0
        var b = b
        var bit: UInt32 = 1 << 31
        while bit != 0 {
            if a & bit != 0 { product ^= b }
            b = b & 1 != 0 ? (b >> 1) ^ polynomial : b >> 1
            bit >>= 1
        }
        return product
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
