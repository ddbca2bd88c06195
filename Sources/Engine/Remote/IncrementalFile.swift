import PostgresFormat
import Repository
import TarStream

/// What an `INCREMENTAL.<name>` file of BASE_BACKUP ( INCREMENTAL ) holds (PostgreSQL 17 on,
/// src/backend/backup/basebackup_incremental.c): a header of three 32-bit words in the
/// server's byte order (the magic 0xd3ae1f0d, the block count, the truncation block length),
/// the relative numbers of the blocks sent, ascending, padded to a page when any is sent; then
/// those pages. The reconstructed file is as long as the truncation length or the highest
/// block sent, whichever is more; a block below it that neither this file nor an older
/// backup holds was never WAL-logged, and is zeros (as pg_combinebackup rebuilds it).
struct IncrementalFileHeader: Equatable {
    static let magic: UInt32 = 0xd3ae_1f0d
    let blocks: [UInt32]
    let truncationBlocks: UInt32
    /// Bytes before the first page.
    let length: Int

    /// The file's reconstructed length, in blocks.
    var reconstructedBlocks: UInt32 { max(truncationBlocks, blocks.last.map { $0 + 1 } ?? 0) }

    /// Reads the header from `read` (which fills its buffer), checking it against the
    /// segment's size; `path` names the file in errors.
    static func read(path: String, blockSize: Int, segmentBlocks: UInt32,
                     _ read: (UnsafeMutableRawBufferPointer) throws -> Int) throws -> IncrementalFileHeader {
        func words(_ count: Int) throws -> [UInt32] {
            var values = [UInt32](repeating: 0, count: count)
            let n = try values.withUnsafeMutableBytes { try read($0) }
            guard n == count * 4 else { throw problem(path, "ends inside its header") }
            return values.map { UInt32(littleEndian: $0) }
        }
        let fixed = try words(3)
        guard fixed[0] == magic else { throw problem(path, "has magic 0x\(String(fixed[0], radix: 16)), not 0x\(String(magic, radix: 16))") }
        guard fixed[1] <= segmentBlocks, fixed[2] <= segmentBlocks else {
            throw problem(path, "names \(fixed[1]) blocks and a length of \(fixed[2]), beyond a segment's \(segmentBlocks)")
        }
        let blocks = try fixed[1] == 0 ? [] : words(Int(fixed[1]))
        guard zip(blocks, blocks.dropFirst()).allSatisfy({ $0 < $1 }), blocks.last.map({ $0 < segmentBlocks }) ?? true else {
            throw problem(path, "lists its blocks out of order or beyond the segment")
        }
        var length = 12 + 4 * blocks.count
        if !blocks.isEmpty && length % blockSize != 0 {
            let padding = blockSize - length % blockSize
            var skipped = [UInt8](repeating: 0, count: padding)
            guard try skipped.withUnsafeMutableBytes({ try read($0) }) == padding else { throw problem(path, "ends inside its header") }
            length += padding
        }
        return IncrementalFileHeader(blocks: blocks, truncationBlocks: fixed[2], length: length)
    }

    static func problem(_ path: String, _ what: String) -> EngineError {
        EngineError.serverNotReady("BASE_BACKUP's incremental file for \(path) \(what)")
    }

    /// `INCREMENTAL.16384.1` in `base/5` is `base/5/16384.1`; nil for any other name.
    static func relationPath(of member: String) -> String? {
        let slash = member.lastIndex(of: "/")
        let name = slash.map { member[member.index(after: $0)...] } ?? member[...]
        guard name.hasPrefix("INCREMENTAL."), name.count > "INCREMENTAL.".count else { return nil }
        let directory = slash.map { String(member[...$0]) } ?? ""
        return directory + name.dropFirst("INCREMENTAL.".count)
    }
}
