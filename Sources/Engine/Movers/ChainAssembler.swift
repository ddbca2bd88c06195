import StorageInterface
import PostgresFormat
import Repository

/// Rebuilds a relation file, or a range of its blocks, from an incremental chain (newest
/// first, ending with a full backup) in one sequential pass: each chunk of blocks is filled
/// from the base (the full backup's file), then overlaid with the pages of every delta from
/// the oldest to the newest, and written once as one large aligned write. The caller sizes
/// the file to the block count the newest backup recorded, so blocks VACUUM truncated away
/// do not come back. Every stored file (or part) read is read to its end and checked.
struct ChainAssembler {
    let repository: Repository

    /// A stored file (or part) to read: where, which block it starts at, what it must hold.
    private struct Source {
        let storage: any RepositoryStorage
        let name: String
        var path: String { storage.describe(name) }
        let compression: Compression
        let firstBlock: Int
        let size: UInt64?
        let checksum: UInt32?
    }

    /// Writes the blocks in `blocks` (all of the file when nil) into `sink` from the file's
    /// stored versions (newest first, from RestorePlan); returns the CRC-32C of what it wrote
    /// (restore's backup_manifest lists every file's).
    mutating func assemble(_ entry: FileEntry, blocks range: Range<Int>? = nil, into sink: any RestoreSink,
                           versions: [(info: BackupInfo, entry: FileEntry)]) throws -> UInt32 {
        guard let newest = versions.first else { preconditionFailure("a file to assemble has a stored version") }
        let blockSize = Int(newest.info.blockSize)
        let blocks = range ?? 0..<Int(entry.size / UInt64(blockSize))
        var deltas: [Source] = []  // newest first
        var base: [Source] = []
        for (info, stored) in versions {
            let partBlocks = stored.isSplit ? Int(stored.partSize) / blockSize : Int.max
            for part in 0..<stored.partCount {
                let first = part * partBlocks
                guard first < blocks.upperBound else { break }
                if stored.isSplit && first + partBlocks <= blocks.lowerBound { continue }
                let source = Source(storage: repository.storage,
                                    name: repository.storedName(info.id, stored, compression: info.compression, part: part),
                                    compression: info.compression, firstBlock: first,
                                    size: stored.kind == .pageDelta ? nil
                                        : stored.isSplit ? min(stored.partSize, stored.size - UInt64(part) * stored.partSize) : stored.size,
                                    checksum: stored.isSplit ? stored.partChecksums[part] : stored.checksum)
                if stored.kind == .file { base.append(source) } else { deltas.append(source) }
            }
        }

        let cursors = try deltas.reversed().map { source in
            (source, try PageDeltaCursor(try StoredFileReader(storage: source.storage, name: source.name, compression: source.compression),
                                         blockSize: blockSize))
        }
        defer { for (_, cursor) in cursors { cursor.source.close() } }
        var baseReader = BaseReader(sources: base, blockSize: blockSize)
        let chunkBlocks = max(1, (1 << 20) / blockSize)
        // Two chunks: one is written (behind) while the next is filled.
        var chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkBlocks * blockSize, alignment: DirectFile.alignment)
        var nextChunk = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkBlocks * blockSize, alignment: DirectFile.alignment)
        defer {
            try? sink.drain()
            chunk.deallocate()
            nextChunk.deallocate()
        }
        var present = [Bool](repeating: false, count: chunkBlocks)
        var crc = CRC32C()
        for start in stride(from: blocks.lowerBound, to: blocks.upperBound, by: chunkBlocks) {
            let count = min(chunkBlocks, blocks.upperBound - start)
            let fromBase = try baseReader.read(blocks: start..<start + count, into: chunk)
            for i in 0..<count { present[i] = fromBase.contains(start + i) }
            for (_, cursor) in cursors {  // oldest first: newer pages overwrite older ones
                while let block = cursor.block.map(Int.init), block < start + count {
                    if block >= start {
                        (chunk.baseAddress! + (block - start) * blockSize).copyMemory(from: cursor.page.baseAddress!, byteCount: blockSize)
                        present[block - start] = true
                    }
                    try cursor.advance()
                }
            }
            if let gap = present[0..<count].firstIndex(of: false) {
                throw EngineError.corruptFile(path: repository.backupDirectory(newest.info.id),
                                              reason: "\(entry.path): block \(start + gap) is in no backup of the chain")
            }
            let bytes = UnsafeRawBufferPointer(rebasing: chunk[0..<count * blockSize])
            crc.update(bytes)
            try sink.write(bytes, at: UInt64(start) * UInt64(blockSize))
            swap(&chunk, &nextChunk)
        }
        try sink.drain()
        // Whatever lies beyond the range is read too, so that every stored file is checked whole.
        for (source, cursor) in cursors {
            while cursor.block != nil { try cursor.advance() }
            try Self.check(cursor.source, source)
        }
        try baseReader.finish()
        return crc.value
    }

    private static func check(_ reader: StoredFileReader, _ source: Source) throws {
        if let size = source.size, reader.size != size {
            throw EngineError.corruptFile(path: source.path, reason: "size \(reader.size), the backup recorded \(size)")
        }
        guard reader.checksum == source.checksum else {
            throw EngineError.corruptFile(path: source.path, reason: "checksum \(CRC32C.hex(reader.checksum)), the backup recorded \(source.checksum.map(CRC32C.hex) ?? "none"); restore stopped (the target is incomplete and will not start)")
        }
    }

    /// The base's parts read in order as one sequence of blocks.
    private struct BaseReader {
        let sources: [Source]
        let blockSize: Int
        var index = 0
        var reader: StoredFileReader?
        var nextBlock = 0
        var ended = false

        init(sources: [Source], blockSize: Int) {
            self.sources = sources
            self.blockSize = blockSize
        }

        /// Reads the base's blocks of `blocks` into `chunk` (block `blocks.lowerBound` at its
        /// start); returns the blocks it had.
        mutating func read(blocks: Range<Int>, into chunk: UnsafeMutableRawBufferPointer) throws -> Range<Int> {
            var filled = blocks.lowerBound
            while filled < blocks.upperBound {
                guard try open(), nextBlock <= filled else { break }  // no base for the rest
                if nextBlock < filled {
                    // A part starting before the range (parts of another size): skip to it.
                    let skip = min(filled - nextBlock, blocks.count)
                    let n = try reader!.read(into: UnsafeMutableRawBufferPointer(rebasing: chunk[0..<skip * blockSize]))
                    nextBlock += n / blockSize
                    if n < skip * blockSize { try close() }
                    continue
                }
                let offset = (filled - blocks.lowerBound) * blockSize
                let wanted = (blocks.upperBound - filled) * blockSize
                let n = try reader!.read(into: UnsafeMutableRawBufferPointer(rebasing: chunk[offset..<offset + wanted]))
                filled += n / blockSize
                nextBlock = filled
                if n < wanted { try close() }  // this part ended (a partial last page is not a block)
            }
            return blocks.lowerBound..<filled
        }

        /// Reads the rest of the current part, so that it is checked whole.
        mutating func finish() throws {
            guard let reader else { return }
            var scratch = [UInt8](repeating: 0, count: 1 << 16)
            while try reader.read(into: &scratch) > 0 {}
            try close()
        }

        private mutating func open() throws -> Bool {
            if reader != nil { return true }
            guard index < sources.count else { return false }
            reader = try StoredFileReader(storage: sources[index].storage, name: sources[index].name, compression: sources[index].compression)
            nextBlock = sources[index].firstBlock
            return true
        }

        private mutating func close() throws {
            guard let current = reader else { return }
            defer { current.close() }
            try ChainAssembler.check(current, sources[index])
            reader = nil
            index += 1
        }
    }
}
