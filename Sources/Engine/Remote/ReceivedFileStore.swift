import StorageInterface
import PostgresFormat
import Repository
import TarStream

/// Stores the members of BASE_BACKUP's archives as they arrive, the way BackupFileCopier
/// stores a data directory's files, so that restore, validate and retention cannot tell the
/// two apart: relation files through a PageScanner (every page verified; for an incremental,
/// only the pages changed since the parent's start), a small file the parent recorded with
/// the same content as `unchanged`, everything through StoredFileWriter (CRC-32C,
/// compression). One buffer, whatever the cluster's size; nothing is ever read twice, since
/// the stream cannot be.
struct ReceivedFileStore {
    let repository: Repository
    /// Files are made durable together (BackupSteps.publish syncs the backup before DONE).
    let storage: any RepositoryStorage
    let info: BackupInfo
    let cluster: RemoteCluster
    let parent: BackupFileCopier.ParentFiles?
    let buffer = AlignedBuffer(count: 1 << 20)
    /// The content of backup_label and pg_control, which the backup reads as well as stores.
    private(set) var captured: [String: [UInt8]] = [:]
    static let capturedNames: Set<String> = ["backup_label", "global/pg_control"]

    init(repository: Repository, info: BackupInfo, cluster: RemoteCluster, parent: BackupFileCopier.ParentFiles?) {
        self.repository = repository
        storage = repository.storage.deferringDurability()
        self.info = info
        self.cluster = cluster
        self.parent = parent
    }

    private var blockSize: Int { Int(cluster.blockSize) }

    /// One regular file of `size` bytes, read from `reader`, recorded as `path`.
    mutating func store(path: String, size: UInt64, mode: UInt32, mtime: Int64, from reader: TarReader) throws -> FileOutcome {
        if path == "backup_label" { return try storeLabel(size: size, mode: mode, mtime: mtime, from: reader) }
        let relation = RelationPath.parse(path).flatMap { size % UInt64(blockSize) == 0 ? $0 : nil }
        let previous = parent?.files[path]
        var scanner = relation.map {
            PageScanner(path: path, blockSize: blockSize, firstBlock: $0.segment * cluster.segmentBlocks,
                        checksums: cluster.dataChecksums, backupStartLSN: info.startLSN!, parent: nil)
        }
        var outcome: FileOutcome
        if let relation, var scanner, relation.fork == .main || relation.fork == .`init` || previous == nil {
            let deltaParent = previous.flatMap { FileList.isStored($0) || $0.kind == .unchanged ? $0 : nil }
            outcome = try storeRelation(path: path, size: size, from: reader, scanner: &scanner, previous: parent == nil ? nil : deltaParent)
            outcome.pageErrors = scanner.errors
        } else if let previous, size <= UInt64(buffer.count), previous.kind == .file || previous.kind == .unchanged,
                  path != "global/pg_control" {
            // pg_control is stored in every backup, as a local one stores it: restore reads the
            // newest backup's own.
            outcome = try storeUnlessUnchanged(path: path, size: size, from: reader, previous: previous, scanner: &scanner)
            outcome.pageErrors = scanner?.errors ?? []
        } else {
            outcome = try storeWhole(path: path, size: size, from: reader, scanner: &scanner)
            outcome.pageErrors = scanner?.errors ?? []
        }
        outcome.entry?.mode = mode
        outcome.entry?.mtime = mtime
        return outcome
    }

    /// backup_label, without the `INCREMENTAL FROM` lines an incremental BASE_BACKUP adds:
    /// PostgreSQL refuses to start from a label that has them (they say the directory still
    /// needs pg_combinebackup), and what pgbk restores is the reconstructed directory, as
    /// pg_combinebackup writes its label.
    private mutating func storeLabel(size: UInt64, mode: UInt32, mtime: Int64, from reader: TarReader) throws -> FileOutcome {
        guard size <= 1 << 16 else { throw EngineError.serverNotReady("BASE_BACKUP's backup_label is \(size) bytes") }
        var bytes = [UInt8](repeating: 0, count: Int(size))
        guard try bytes.withUnsafeMutableBytes({ try reader.read(into: $0) }) == bytes.count else {
            throw truncated("backup_label", size: size, read: 0)
        }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        let label = Array(lines.filter { !$0.hasPrefix("INCREMENTAL FROM ") }.joined(separator: "\n").utf8)
        captured["backup_label"] = label
        let writer = try StoredFileWriter(storage: storage, name: storedName("backup_label"), compression: info.compression,
                                          level: info.compressLevel, expectedSize: UInt64(label.count))
        do {
            try writer.write(label)
            var outcome = stored("backup_label", try writer.commit(), into: FileOutcome())
            outcome.totalBytes = UInt64(label.count)
            outcome.scannedBytes = size
            outcome.entry?.mode = mode
            outcome.entry?.mtime = mtime
            return outcome
        } catch {
            writer.abandon()
            throw error
        }
    }

    /// An `INCREMENTAL.<name>` file: the pages the server's WAL summaries say changed since
    /// the parent, verified and stored as a PageDelta, with zero pages for blocks beyond the
    /// parent's end of the file that the server did not send (never WAL-logged: zeros, as
    /// pg_combinebackup rebuilds them), so that the chain holds every block it lists.
    mutating func storeIncremental(path: String, size: UInt64, mode: UInt32, mtime: Int64, from reader: TarReader) throws -> FileOutcome {
        guard let previous = parent?.files[path], FileList.isStored(previous) || previous.kind == .unchanged,
              let relation = RelationPath.parse(path) else {
            throw IncrementalFileHeader.problem(path, "names a file the parent backup does not hold")
        }
        let header = try IncrementalFileHeader.read(path: path, blockSize: blockSize, segmentBlocks: cluster.segmentBlocks) {
            try reader.read(into: $0)
        }
        guard UInt64(header.length) + UInt64(header.blocks.count) * UInt64(blockSize) == size else {
            throw IncrementalFileHeader.problem(path, "is \(size) bytes, not its header's \(header.length) and \(header.blocks.count) pages")
        }
        let fileBlocks = header.reconstructedBlocks
        var outcome = FileOutcome()
        outcome.totalBytes = UInt64(fileBlocks) * UInt64(blockSize)
        if header.blocks.isEmpty && outcome.totalBytes == previous.size {
            outcome.entry = FileEntry(kind: .unchanged, path: path, mode: mode, size: previous.size, mtime: mtime, checksum: previous.checksum)
            return outcome
        }
        var scanner = PageScanner(path: path, blockSize: blockSize, firstBlock: relation.segment * cluster.segmentBlocks,
                                  checksums: cluster.dataChecksums, backupStartLSN: info.startLSN!, parent: nil)
        let writer = try StoredFileWriter(storage: storage, name: repository.storedName(info.id, path: path, delta: true, compression: info.compression),
                                          compression: info.compression, level: info.compressLevel)
        do {
            try writer.write(PageDelta.header(blockSize: UInt32(blockSize)))
            let parentBlocks = UInt32(previous.size / UInt64(blockSize))
            let zero = [UInt8](repeating: 0, count: blockSize)
            var next = parentBlocks  // the next block beyond the parent's end not yet written
            func zeros(upTo end: UInt32) throws {
                while next < end {
                    try writer.write(PageDelta.littleEndian(next))
                    try writer.write(zero)
                    next += 1
                }
            }
            for block in header.blocks {
                try zeros(upTo: block)
                try buffer.withUnsafeMutableBytes { raw in
                    let page = UnsafeMutableRawBufferPointer(rebasing: raw[0..<blockSize])
                    guard try reader.read(into: page) == blockSize else { throw truncated(path, size: size, read: 0) }
                    _ = scanner.scan(page, chunkFirstBlock: block) { _ in nil }
                    try writer.write(PageDelta.littleEndian(block))
                    try writer.write(UnsafeRawBufferPointer(page))
                }
                next = max(next, block + 1)
            }
            try zeros(upTo: fileBlocks)
            let summary = try writer.commit()
            outcome.readBytes = UInt64(header.blocks.count * blockSize)
            outcome.scannedBytes = outcome.readBytes
            outcome.writtenBytes = summary.storedSize
            outcome.pageErrors = scanner.errors
            outcome.entry = FileEntry(kind: .pageDelta, path: path, mode: mode, size: outcome.totalBytes, mtime: mtime,
                                      checksum: summary.checksum, storedSize: summary.storedSize)
            return outcome
        } catch {
            writer.abandon()
            throw error
        }
    }

    /// A main or init fork page by page: whole, or, with `previous` (the parent's entry), as
    /// a PageDelta of the pages changed since the parent's start; a delta that kept nothing
    /// of a file of the parent's size is the parent's content, recorded as unchanged.
    private func storeRelation(path: String, size: UInt64, from reader: TarReader, scanner: inout PageScanner,
                               previous: FileEntry?) throws -> FileOutcome {
        let delta = previous != nil
        if let previous, let parentStart = parent?.info.startLSN {
            scanner = PageScanner(path: path, blockSize: blockSize, firstBlock: scanner.firstBlock, checksums: scanner.checksums,
                                  backupStartLSN: info.startLSN!, parent: (parentStart, UInt32(previous.size / UInt64(blockSize))))
        }
        let name = repository.storedName(info.id, path: path, delta: delta, compression: info.compression)
        var writer: StoredFileWriter?
        func output() throws -> StoredFileWriter {
            if let writer { return writer }
            let created = try StoredFileWriter(storage: storage, name: name, compression: info.compression, level: info.compressLevel,
                                               expectedSize: size)
            writer = created
            if delta { try created.write(PageDelta.header(blockSize: UInt32(blockSize))) }
            return created
        }
        do {
            if !delta { _ = try output() }
            try pump(reader, path: path, size: size) { chunk, offset in
                let first = UInt32(offset / UInt64(blockSize))
                let kept = scanner.scan(chunk, chunkFirstBlock: first) { _ in nil }
                guard delta else { return try output().write(UnsafeRawBufferPointer(chunk)) }
                for index in kept {
                    let out = try output()
                    try out.write(PageDelta.littleEndian(first + UInt32(index)))
                    try out.write(UnsafeRawBufferPointer(rebasing: chunk[index * blockSize..<(index + 1) * blockSize]))
                }
            }
            var outcome = FileOutcome()
            outcome.totalBytes = size
            outcome.scannedBytes = size
            if let previous, writer == nil, previous.size == size {
                outcome.entry = FileEntry(kind: .unchanged, path: path, mode: 0, size: size, checksum: previous.checksum)
                return outcome
            }
            let summary = try output().commit()
            outcome.readBytes = delta ? UInt64(scanner.keptPages * blockSize) : size
            outcome.writtenBytes = summary.storedSize
            outcome.entry = FileEntry(kind: delta ? .pageDelta : .file, path: path, mode: 0, size: size,
                                      checksum: summary.checksum, storedSize: summary.storedSize)
            return outcome
        } catch {
            writer?.abandon()
            throw error
        }
    }

    /// A file that fits the buffer and that the parent has: read whole, compared with the
    /// parent's size and checksum, stored only when it differs.
    private mutating func storeUnlessUnchanged(path: String, size: UInt64, from reader: TarReader, previous: FileEntry,
                                      scanner: inout PageScanner?) throws -> FileOutcome {
        let n = Int(size)
        let read = try buffer.withUnsafeMutableBytes { try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<n])) }
        guard read == n else { throw truncated(path, size: size, read: UInt64(read)) }
        let checksum = buffer.withUnsafeMutableBytes { raw in
            let bytes = UnsafeMutableRawBufferPointer(rebasing: raw[0..<n])
            if var pageScanner = scanner {
                _ = pageScanner.scan(UnsafeMutableRawBufferPointer(rebasing: bytes[0..<n / blockSize * blockSize]),
                                     chunkFirstBlock: 0) { _ in nil }
                scanner = pageScanner
            }
            var crc = CRC32C()
            crc.update(UnsafeRawBufferPointer(bytes))
            return crc.value
        }
        capture(path, count: n)
        var outcome = FileOutcome()
        outcome.totalBytes = size
        outcome.scannedBytes = size
        if size == previous.size && checksum == previous.checksum {
            outcome.entry = FileEntry(kind: .unchanged, path: path, mode: 0, size: size, checksum: checksum)
            return outcome
        }
        let writer = try StoredFileWriter(storage: storage, name: storedName(path), compression: info.compression,
                                          level: info.compressLevel, expectedSize: size)
        do {
            try buffer.withUnsafeBytes { try writer.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            return stored(path, try writer.commit(), into: outcome)
        } catch {
            writer.abandon()
            throw error
        }
    }

    /// Any other file, as it comes (relation forks stored whole are verified on the way).
    private mutating func storeWhole(path: String, size: UInt64, from reader: TarReader, scanner: inout PageScanner?) throws -> FileOutcome {
        let writer = try StoredFileWriter(storage: storage, name: storedName(path), compression: info.compression,
                                          level: info.compressLevel, expectedSize: size)
        let capturing = Self.capturedNames.contains(path) && size <= 1 << 16
        var kept: [UInt8] = []
        do {
            try pump(reader, path: path, size: size) { chunk, offset in
                if var pageScanner = scanner {
                    let pages = chunk.count / blockSize * blockSize
                    _ = pageScanner.scan(UnsafeMutableRawBufferPointer(rebasing: chunk[0..<pages]),
                                         chunkFirstBlock: UInt32(offset / UInt64(blockSize))) { _ in nil }
                    scanner = pageScanner
                }
                if capturing { kept += UnsafeRawBufferPointer(chunk) }
                try writer.write(UnsafeRawBufferPointer(chunk))
            }
            if capturing { captured[path] = kept }
            var outcome = FileOutcome()
            outcome.totalBytes = size
            outcome.scannedBytes = size
            return stored(path, try writer.commit(), into: outcome)
        } catch {
            writer.abandon()
            throw error
        }
    }

    private func stored(_ path: String, _ summary: StoredFileSummary, into outcome: FileOutcome) -> FileOutcome {
        var outcome = outcome
        outcome.readBytes = summary.size
        outcome.writtenBytes = summary.storedSize
        outcome.entry = FileEntry(kind: .file, path: path, mode: 0, size: summary.size, checksum: summary.checksum,
                                  storedSize: summary.storedSize)
        return outcome
    }

    private func storedName(_ path: String) -> String {
        repository.storedName(info.id, path: path, delta: false, compression: info.compression)
    }

    private mutating func capture(_ path: String, count: Int) {
        guard Self.capturedNames.contains(path) else { return }
        captured[path] = buffer.withUnsafeBytes { Array($0[0..<count]) }
    }

    /// The member's `size` bytes through the buffer, in chunks of whole pages, each handed to
    /// `body` with its offset in the file; a member that ends early is an error.
    private func pump(_ reader: TarReader, path: String, size: UInt64,
                      _ body: (UnsafeMutableRawBufferPointer, UInt64) throws -> Void) throws {
        let chunkSize = buffer.count / blockSize * blockSize
        var offset: UInt64 = 0
        while offset < size {
            let want = Int(min(UInt64(chunkSize), size - offset))
            try buffer.withUnsafeMutableBytes { raw in
                let chunk = UnsafeMutableRawBufferPointer(rebasing: raw[0..<want])
                let n = try reader.read(into: chunk)
                guard n == want else { throw truncated(path, size: size, read: offset + UInt64(n)) }
                try body(chunk, offset)
            }
            offset += UInt64(want)
        }
    }

    private func truncated(_ path: String, size: UInt64, read: UInt64) -> EngineError {
        EngineError.serverNotReady("BASE_BACKUP's archive ended inside \(path): \(read) of its \(size) bytes arrived")
    }
}
