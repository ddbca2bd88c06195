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
        let cursor = try PageDeltaCursor(source, blockSize: blockSize, recordsPerRead: 64)
        var pages = 0
        while let block = cursor.block {
            try body(block, cursor.page)
            pages += 1
            try cursor.advance()
        }
        return pages
    }
}

/// A delta stream read one page at a time, in block order, so that a restore can merge
/// several streams and a base file chunk by chunk. Memory: `recordsPerRead` pages.
public final class PageDeltaCursor {
    public let source: StoredFileReader
    private let record: Int
    private let buffer: UnsafeMutableRawBufferPointer
    private var filled = 0
    private var offset = 0
    /// The current page's block number; nil once the stream has ended.
    public private(set) var block: UInt32?

    public init(_ source: StoredFileReader, blockSize: Int, recordsPerRead: Int = 16) throws {
        self.source = source
        record = 4 + blockSize
        var header = [UInt8](repeating: 0, count: PageDelta.headerSize)
        guard try source.read(into: &header) == PageDelta.headerSize, Array(header[0..<8]) == PageDelta.magic else {
            throw CatalogError.corrupt(source.path, "not a pgbk page delta (bad header)")
        }
        let stored = Int(UInt32(header[8]) | UInt32(header[9]) << 8 | UInt32(header[10]) << 16 | UInt32(header[11]) << 24)
        guard stored == blockSize else {
            throw CatalogError.corrupt(source.path, "page delta block size \(stored), expected \(blockSize)")
        }
        buffer = .allocate(byteCount: recordsPerRead * record, alignment: 16)
        offset = -record
        try advance()
    }

    deinit { buffer.deallocate() }

    /// The current page (valid until the next `advance`).
    public var page: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: buffer[offset + 4..<offset + record])
    }

    public func advance() throws {
        offset += record
        if offset >= filled {
            // Reads fill the buffer unless the stream ends, so chunks hold whole records.
            filled = try source.read(into: buffer)
            offset = 0
            guard filled % record == 0 else { throw CatalogError.corrupt(source.path, "page delta ends inside a page record") }
            if filled == 0 { block = nil; return }
        }
        let next = UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        if let block, next <= block {
            throw CatalogError.corrupt(source.path, "page delta blocks out of order at block \(next)")
        }
        block = next
    }
}
