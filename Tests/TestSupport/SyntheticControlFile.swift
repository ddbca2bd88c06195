import PostgresFormat

/// Builds pg_control bytes with the layout of `version` (catalog/pg_control.h of each
/// release branch) and a correct CRC: 1800 adds default_char_signedness after
/// data_checksum_version, so its CRC sits at 292 instead of 288.
public func syntheticControlFile(systemIdentifier: UInt64 = 7_311_222_333_444_555_666, version: UInt32 = 1300,
                          checksums: UInt32 = 1, corruptCRC: Bool = false) -> [UInt8] {
    var b = [UInt8](repeating: 0, count: 8192)
    func put<T: FixedWidthInteger>(_ v: T, _ at: Int) {
        withUnsafeBytes(of: v.littleEndian) { for (i, byte) in $0.enumerated() { b[at + i] = byte } }
    }
    put(systemIdentifier, 0)
    put(version, 8)
    put(UInt32(202_209_061), 12)
    put(UInt32(6), 16)                 // in production
    put(UInt64(0x0000_0001_0200_0060), 32)
    put(UInt64(0x0000_0001_0200_0028), 40)
    put(UInt32(3), 48)                 // timeline
    put(UInt32(8192), 216)
    put(UInt32(131_072), 220)
    put(UInt32(8192), 224)
    put(UInt32(16 << 20), 228)
    put(checksums, 252)
    let crcOffset = version >= 1800 ? 292 : 288
    if version >= 1800 { b[256] = 1 }  // default_char_signedness
    for i in (version >= 1800 ? 257 : 256)..<crcOffset { b[i] = UInt8(truncatingIfNeeded: i * 7) }  // mock_authentication_nonce
    var crc = CRC32C.checksum(Array(b[0..<crcOffset]))
    if corruptCRC { crc ^= 1 }
    put(crc, crcOffset)
    return b
}

