/// The stored form of a relation file in an incremental backup: only the pages that changed
/// since the parent, each with its block number. The file's full size (its block count) is
/// in the file list, so a restore truncates files that shrank.
///
///     offset 0   "PGBKPGD1"                 magic and version
///     offset 8   UInt32 block size          little-endian
///     offset 12  UInt32 0                   reserved
///     then per page, in increasing block order:
///                UInt32 block number (within this segment file), then the page's bytes
///
/// The stream is checksummed (CRC-32C, in the file list) and compressed like any stored file.
public enum PageDelta {
    public static let magic: [UInt8] = Array("PGBKPGD1".utf8)
    public static let headerSize = 16
    public static let fileSuffix = ".delta"

    public static func header(blockSize: UInt32) -> [UInt8] {
        magic + littleEndian(blockSize) + littleEndian(UInt32(0))
    }

    public static func littleEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value & 0xff), UInt8(value >> 8 & 0xff), UInt8(value >> 16 & 0xff), UInt8(value >> 24)]
    }

    /// Reads a delta stream, handing each page and its block number to `body` in block order.
    /// Returns the page count; throws, naming the file, when the structure is damaged.
    @discardableResult
    public static func readPages(_ source: StoredFileReader, blockSize: Int,
                                 _ body: (UInt32, UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        var header = [UInt8](repeating: 0, count: headerSize)
        guard try source.read(into: &header) == headerSize, Array(header[0..<8]) == magic else {
            throw CatalogError.corrupt(source.path, "not a pgbk page delta (bad header)")
        }
        let stored = Int(UInt32(header[8]) | UInt32(header[9]) << 8 | UInt32(header[10]) << 16 | UInt32(header[11]) << 24)
        guard stored == blockSize else {
            throw CatalogError.corrupt(source.path, "page delta block size \(stored), expected \(blockSize)")
        }
        let record = 4 + blockSize
        // Reads fill the buffer unless the stream ends, so chunks hold whole records.
        var buffer = [UInt8](repeating: 0, count: 64 * record)
        var pages = 0
        var last: Int64 = -1
        while true {
            let n = try source.read(into: &buffer)
            if n == 0 { break }
            guard n % record == 0 else { throw CatalogError.corrupt(source.path, "page delta ends inside a page record") }
            try buffer.withUnsafeBytes { raw in
                for offset in stride(from: 0, to: n, by: record) {
                    let block = raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
                    guard Int64(block) > last else {
                        throw CatalogError.corrupt(source.path, "page delta blocks out of order at block \(block)")
                    }
                    last = Int64(block)
                    try body(block, UnsafeRawBufferPointer(rebasing: raw[offset + 4..<offset + record]))
                    pages += 1
                }
            }
            if n < buffer.count { break }
        }
        return pages
    }
}
