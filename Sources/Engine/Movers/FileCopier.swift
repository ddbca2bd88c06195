import StorageInterface
import PostgresFormat
import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Copies one source file into the repository in large chunks through a reused buffer:
/// memory stays constant whatever the file size. Independent per file, so a later `-j N`
/// can run several copiers side by side, each with its own buffer.
struct FileCopier {
    /// The repository's storage; files are given by repository-relative names.
    let storage: any RepositoryStorage
    let compression: Compression
    let level: Int32
    let buffer = AlignedBuffer(count: 1 << 20)
    /// `--max-rate`: every byte read from the cluster is counted against it.
    var limiter: RateLimiter?
    /// Bytes copyRelation read from its last source file (its length, for a map's copy).
    private(set) var lastFileBytesRead: UInt64 = 0
    /// Bytes of pages a map's copy actually read.
    private(set) var lastBytesScanned: UInt64 = 0

    init(storage: any RepositoryStorage, compression: Compression, level: Int32) {
        self.storage = storage
        self.compression = compression
        self.level = level
    }

    /// Copies up to `limit` bytes (the size seen when the file was listed: anything written
    /// later is in the WAL the backup requires). Returns nil when the file vanished first.
    /// `offset` > 0 copies a part of the file from there.
    mutating func copy(from source: String, to storedName: String, offset: UInt64 = 0, limit: UInt64) throws -> StoredFileSummary? {
        let input: OpenFile
        do { input = try OpenFile(reading: source) } catch let e as SystemError where e.isNotFound { return nil }
        defer { input.close() }
        input.adviseSequential()
        if offset > 0 { try input.seek(to: offset) }
        let writer = try StoredFileWriter(storage: storage, name: storedName, compression: compression, level: level, expectedSize: limit)
        do {
            var remaining = limit
            while remaining > 0 {
                let n = try buffer.read(from: input, count: Int(min(UInt64(buffer.count), remaining)))
                limiter?.take(n)
                if n == 0 { break }  // the file shrank while we read it: WAL replay restores the rest
                try buffer.withUnsafeBytes { try writer.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                remaining -= UInt64(n)
            }
            return try writer.commit()
        } catch {
            writer.abandon()
            throw error
        }
    }

    enum CopyOutcome { case stored(StoredFileSummary), unchanged(size: UInt64, checksum: UInt32), vanished }

    /// For an incremental: a small file whose content is what the parent recorded (same size
    /// and checksum) is not stored again. Larger files are copied as usual.
    mutating func copyUnlessUnchanged(from source: String, to storedName: String, limit: UInt64,
                                      previous: FileEntry, scanner: inout PageScanner?) throws -> CopyOutcome {
        guard limit <= UInt64(buffer.count), previous.kind == .file || previous.kind == .unchanged else {
            return try copy(from: source, to: storedName, limit: limit).map { .stored($0) } ?? .vanished
        }
        let input: OpenFile
        do { input = try OpenFile(reading: source) } catch let e as SystemError where e.isNotFound { return .vanished }
        defer { input.close() }
        let n = try buffer.read(from: input, count: Int(limit))
        limiter?.take(n)
        if var pageScanner = scanner {
            // Relation forks stored whole (FSM, VM) are verified like any relation file.
            let pages = n / pageScanner.blockSize
            let blockSize = pageScanner.blockSize
            _ = try buffer.withUnsafeMutableBytes { raw in
                try pageScanner.scan(UnsafeMutableRawBufferPointer(rebasing: raw[0..<pages * blockSize]), chunkFirstBlock: 0,
                                     reread: Self.rereader(input, blockSize: blockSize))
            }
            scanner = pageScanner
        }
        let checksum = buffer.withUnsafeBytes { raw in
            var crc = CRC32C()
            crc.update(UnsafeRawBufferPointer(rebasing: raw[0..<n]))
            return crc.value
        }
        if UInt64(n) == previous.size && checksum == previous.checksum {
            return .unchanged(size: UInt64(n), checksum: checksum)
        }
        let writer = try StoredFileWriter(storage: storage, name: storedName, compression: compression, level: level, expectedSize: UInt64(n))
        do {
            try buffer.withUnsafeBytes { try writer.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            return .stored(try writer.commit())
        } catch {
            writer.abandon()
            throw error
        }
    }

    /// Copies a relation segment file (or `limit` bytes of it from `offset`, a multiple of the
    /// block size) through a PageScanner: every page verified; all pages stored whole
    /// (`delta == false`), or only the kept ones as a PageDelta stream.
    /// `parentSize`: for a delta, the parent's size of the file; a delta that keeps no page of
    /// a file of that size is not written at all (the caller records the file as unchanged),
    /// and the summary is that of the empty stream, with nothing stored.
    /// `blocks` (a delta from a changed-block map): read only these pages of the file, sorted,
    /// in runs of consecutive ones, instead of every page.
    mutating func copyRelation(from source: String, to storedName: String, offset: UInt64 = 0, limit: UInt64, delta: Bool,
                               parentSize: UInt64? = nil, blocks: [UInt32]? = nil, scanner: inout PageScanner) throws -> StoredFileSummary? {
        let input: OpenFile
        do { input = try OpenFile(reading: source) } catch let e as SystemError where e.isNotFound { return nil }
        defer { input.close() }
        input.adviseSequential()
        let blockSize = scanner.blockSize
        precondition(offset % UInt64(blockSize) == 0, "parts start on a page boundary")
        if offset > 0 { try input.seek(to: offset) }
        let header = PageDelta.header(blockSize: UInt32(blockSize))
        var writer: StoredFileWriter?
        func output() throws -> StoredFileWriter {
            if let writer { return writer }
            let created = try StoredFileWriter(storage: storage, name: storedName, compression: compression, level: level, expectedSize: limit)
            writer = created
            if delta { try created.write(header) }
            return created
        }
        do {
            if !delta || parentSize == nil { _ = try output() }
            if delta, let blocks {
                (lastFileBytesRead, lastBytesScanned) = try copyBlocks(blocks, from: input, offset: offset, limit: limit,
                                                                       scanner: &scanner, output: output)
                if writer == nil && lastFileBytesRead == parentSize {
                    return StoredFileSummary(size: UInt64(header.count), storedSize: 0, checksum: CRC32C.checksum(header))
                }
                return try output().commit()
            }
            var remaining = limit
            var block = UInt32(offset / UInt64(blockSize))
            // Whole pages only: a chunk is a multiple of the block size.
            let chunkSize = buffer.count / blockSize * blockSize
            while remaining > 0 {
                let n = try buffer.read(from: input, count: Int(min(UInt64(chunkSize), remaining)))
                limiter?.take(n)
                if n == 0 { break }
                let pages = n / blockSize
                let kept = try buffer.withUnsafeMutableBytes { raw in
                    try scanner.scan(UnsafeMutableRawBufferPointer(rebasing: raw[0..<pages * blockSize]), chunkFirstBlock: block,
                                     reread: Self.rereader(input, blockSize: blockSize))
                }
                if delta {
                    for index in kept {
                        let out = try output()
                        try out.write(PageDelta.littleEndian(block + UInt32(index)))
                        try buffer.withUnsafeBytes { try out.write(UnsafeRawBufferPointer(rebasing: $0[index * blockSize..<(index + 1) * blockSize])) }
                    }
                } else {
                    // A partial trailing page (a file caught mid-extension) is kept as read.
                    try buffer.withUnsafeBytes { try output().write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                }
                block += UInt32(pages)
                remaining -= UInt64(n)
                if n % blockSize != 0 { break }
            }
            lastFileBytesRead = limit - remaining
            lastBytesScanned = lastFileBytesRead
            if writer == nil && lastFileBytesRead == parentSize {
                return StoredFileSummary(size: UInt64(header.count), storedSize: 0, checksum: CRC32C.checksum(header))
            }
            return try output().commit()
        } catch {
            writer?.abandon()
            throw error
        }
    }

    /// The map's way: only `blocks` (within the part `offset` ..< `offset + limit`), read in
    /// runs of consecutive pages, verified and kept as the scanner decides.
    /// Returns the file's bytes in the part and the bytes of pages read.
    private func copyBlocks(_ blocks: [UInt32], from input: OpenFile, offset: UInt64, limit: UInt64,
                            scanner: inout PageScanner, output: () throws -> StoredFileWriter) throws -> (UInt64, UInt64) {
        let blockSize = scanner.blockSize
        let size = try FileSystem.status(input.path, followLinks: true).size
        let end = min(offset + limit, size)
        let firstBlock = UInt32(offset / UInt64(blockSize)), endBlock = UInt32(end / UInt64(blockSize))
        let runLimit = buffer.count / blockSize
        var i = blocks.firstIndex { $0 >= firstBlock } ?? blocks.count
        var scanned: UInt64 = 0
        while i < blocks.count, blocks[i] < endBlock {
            let first = blocks[i]
            var count = 1
            while i + count < blocks.count, count < runLimit, blocks[i + count] == first + UInt32(count), blocks[i + count] < endBlock {
                count += 1
            }
            let n = try buffer.withUnsafeMutableBytes { raw in
                try input.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<count * blockSize]), at: UInt64(first) * UInt64(blockSize))
            }
            limiter?.take(n)
            let pages = n / blockSize
            let kept = try buffer.withUnsafeMutableBytes { raw in
                try scanner.scan(UnsafeMutableRawBufferPointer(rebasing: raw[0..<pages * blockSize]), chunkFirstBlock: first,
                                 reread: Self.rereader(input, blockSize: blockSize))
            }
            for index in kept {
                let out = try output()
                try out.write(PageDelta.littleEndian(first + UInt32(index)))
                try buffer.withUnsafeBytes { try out.write(UnsafeRawBufferPointer(rebasing: $0[index * blockSize..<(index + 1) * blockSize])) }
            }
            scanned += UInt64(n)
            if pages < count { break }  // the file shrank meanwhile: WAL replay has the rest
            i += count
        }
        return (end - min(end, offset), scanned)
    }

    /// pg_control is stored only as a read whose CRC checks out (see DataDirectory).
    mutating func copyControlFile(from source: String, to storedName: String) throws -> StoredFileSummary? {
        let bytes = try DataDirectory.readControlFile(source).bytes
        let writer = try StoredFileWriter(storage: storage, name: storedName, compression: compression, level: level,
                                          expectedSize: UInt64(bytes.count))
        do {
            try bytes.withUnsafeBytes { try writer.write($0) }
            return try writer.commit()
        } catch {
            writer.abandon()
            throw error
        }
    }

    /// Reads one page again, a moment later: the server may have been writing it.
    static func rereader(_ input: OpenFile, blockSize: Int) -> (UInt32) throws -> [UInt8]? {
        { block in
            usleep(20_000)
            return try input.read(count: blockSize, at: UInt64(block) * UInt64(blockSize))
        }
    }
}
