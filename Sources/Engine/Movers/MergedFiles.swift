import PostgresFormat
import Repository
import StorageInterface

/// The files of a merged full backup (`pgbk merge`), made from the chain's stored files
/// alone: an entry whose content lies in one stored file somewhere down the chain is that
/// file's bytes copied as they are (read against its catalog entry on the way, never
/// decompressed and compressed again when the compression is the same); a relation stored as
/// page deltas is rebuilt block by block as restore rebuilds it (ChainAssembler) and stored
/// whole. Entries go through an OrderedWorkPool in the newest list's order and come back in
/// it, each line written to the new list as its file is done: a window of files is held.
struct MergedFiles {
    let repository: Repository
    /// The chain, newest (the incremental merged) first.
    let members: [BackupInfo]
    /// The new backup's record (its ID, compression and level).
    let merged: BackupInfo
    let jobs: Int
    /// Parts of a rebuilt relation, as a backup stores a large file.
    var partSize: UInt64 = 64 << 20

    struct Totals {
        var bytes: UInt64 = 0
        var stored: UInt64 = 0
        var copied = 0
        var rebuilt = 0
    }

    /// One piece of work: an entry with nothing stored, a stored file's part copied, or a
    /// block range of a relation rebuilt (one part of the new file).
    struct Unit: Sendable {
        enum Work: Sendable {
            case listOnly
            case copy(part: Int)
            case rebuild(blocks: Range<Int>)
        }
        let file: PlannedFile
        let work: Work
        let part: Int
        let finishesFile: Bool
    }

    /// What a unit stored.
    struct Piece: Sendable {
        let unit: Unit
        let summary: StoredFileSummary?
    }

    func run(_ entries: inout some RestoreEntries, into list: FileListWriter, storage: any RepositoryStorage) throws -> Totals {
        var totals = Totals()
        var pieces: [StoredFileSummary] = []
        let pool = makePool(storage: storage) { piece in
            guard let summary = piece.summary else { return try list.append(piece.unit.file.entry) }
            pieces.append(summary)
            guard piece.unit.finishesFile else { return }
            let entry = try self.entry(for: piece.unit, pieces: pieces)
            pieces = []
            totals.bytes += entry.size
            totals.stored += entry.storedSize
            if case .copy = piece.unit.work { totals.copied += 1 } else { totals.rebuilt += 1 }
            try list.append(entry)
        }
        defer { pool.cancel() }
        let blockSize = Int(members[0].blockSize)
        while let planned = try entries.next() {
            for unit in units(for: planned, blockSize: blockSize) { try pool.submit(unit) }
        }
        try pool.finish()
        try entries.finish()
        return totals
    }

    /// The units that make `file`'s stored content in the merged backup, in order.
    func units(for file: PlannedFile, blockSize: Int) -> [Unit] {
        guard let newest = file.versions.first?.entry else { return [Unit(file: file, work: .listOnly, part: 0, finishesFile: true)] }
        if newest.kind == .file {
            return (0..<newest.partCount).map { Unit(file: file, work: .copy(part: $0), part: $0, finishesFile: $0 == newest.partCount - 1) }
        }
        let blocks = Int((file.entry.size + UInt64(blockSize) - 1) / UInt64(blockSize))
        let partBlocks = Int(partSize) / blockSize
        let starts = Array(stride(from: 0, to: max(blocks, 1), by: partBlocks))
        return starts.enumerated().map { n, first in
            Unit(file: file, work: .rebuild(blocks: first..<min(blocks, first + partBlocks)), part: n, finishesFile: n == starts.count - 1)
        }
    }

    /// The merged list's line for a file: the newest entry's mode and time, the content's
    /// size and CRC-32C (combined from the parts'), stored whole.
    private func entry(for unit: Unit, pieces: [StoredFileSummary]) throws -> FileEntry {
        let source = unit.file.entry
        var entry = FileEntry(kind: .file, path: source.path, mode: source.mode, size: 0, mtime: source.mtime)
        var crc = CRC32C().value
        for piece in pieces {
            entry.size += piece.size
            entry.storedSize += piece.storedSize
            crc = CRC32C.combine(crc, piece.checksum, lengthOfB: piece.size)
        }
        entry.checksum = crc
        if pieces.count > 1 {
            entry.partChecksums = pieces.map(\.checksum)
            if case .copy = unit.work { entry.partSize = unit.file.versions[0].entry.partSize } else { entry.partSize = partSize }
        }
        // A rebuilt relation's entries record their deltas' CRCs, not the content's: its
        // check is that every stored piece read back whole, which ChainAssembler did.
        let rebuilt = unit.file.versions[0].entry.kind == .pageDelta
        guard entry.size == source.size, rebuilt || entry.checksum == source.checksum else {
            throw EngineError.corruptFile(path: repository.fileListPath(members[0].id),
                                          reason: "\(source.path): the merged content (\(entry.size) bytes, CRC \(CRC32C.hex(crc))) is not what the list records (\(source.size) bytes, CRC \(source.checksum.map(CRC32C.hex) ?? "-")); nothing was merged")
        }
        return entry
    }

    private func makePool(storage: any RepositoryStorage, consume: @escaping (Piece) throws -> Void) -> OrderedWorkPool<Unit, Piece> {
        let (repository, members, merged) = (repository, members, merged)
        return OrderedWorkPool(jobs: jobs, window: max(256, jobs * 64), makeState: { [UInt8](repeating: 0, count: 1 << 20) },
                               work: { unit, buffer in
            let summary: StoredFileSummary?
            switch unit.work {
            case .listOnly: summary = nil
            case .copy(let part): summary = try Self.copy(unit.file, part: part, repository: repository, members: members,
                                                          merged: merged, storage: storage, buffer: &buffer)
            case .rebuild(let blocks): summary = try Self.rebuild(unit, blocks: blocks, repository: repository, members: members,
                                                                   merged: merged, storage: storage)
            }
            try FaultInjection.point("merge-file-written")
            return Piece(unit: unit, summary: summary)
        }, consume: consume)
    }

    /// Part `part` of the newest stored version, under the merged backup's name: its bytes as
    /// stored when the compression is the same (not decoded here: the merged full is read back
    /// whole before anything is retired, which checks the copy and its source at once), read
    /// against the catalog and stored again otherwise.
    private static func copy(_ file: PlannedFile, part: Int, repository: Repository, members: [BackupInfo], merged: BackupInfo,
                             storage: any RepositoryStorage, buffer: inout [UInt8]) throws -> StoredFileSummary {
        let version = file.versions[0], from = members[version.member]
        let source = repository.storedName(from.id, version.entry, compression: from.compression, part: part)
        let target = repository.storedName(merged.id, path: file.entry.path, delta: false, compression: merged.compression, part: part)
        let content = StoredContent(version.entry, part: part, blockSize: Int(from.blockSize))
        guard from.compression == merged.compression else {
            return try transcode(source, compression: from.compression, content: content, to: target, storage: storage, repository: repository,
                                 merged: merged, buffer: &buffer)
        }
        let bytes = try CopyOperation.copyObject(source, from: repository.storage, to: storage, as: target, buffer: &buffer)
        return StoredFileSummary(size: content.size ?? 0, storedSize: bytes, checksum: content.checksum)
    }

    /// A stored file of another compression than the merged full's: decoded, checked against
    /// the catalog, and stored again.
    private static func transcode(_ source: String, compression: Compression, content: StoredContent, to target: String,
                                  storage: any RepositoryStorage, repository: Repository, merged: BackupInfo,
                                  buffer: inout [UInt8]) throws -> StoredFileSummary {
        let reader = try StoredFileReader(storage: repository.storage, name: source, compression: compression)
        defer { reader.close() }
        let writer = try StoredFileWriter(storage: storage, name: target, compression: merged.compression, level: merged.compressLevel,
                                          expectedSize: content.size)
        do {
            while true {
                let n = try reader.read(into: &buffer)
                if n == 0 { break }
                try buffer.withUnsafeBytes { try writer.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            }
            guard reader.size == content.size, reader.checksum == content.checksum else {
                throw EngineError.corruptFile(path: reader.path, reason: "\(reader.size) bytes with CRC \(CRC32C.hex(reader.checksum)), the backup recorded \(content.size ?? 0) with \(CRC32C.hex(content.checksum)); nothing was merged")
            }
            return try writer.commit()
        } catch {
            writer.abandon()
            throw error
        }
    }

    /// One part of a relation rebuilt from the chain (base, then every delta, oldest first),
    /// as restore rebuilds it, and stored whole.
    private static func rebuild(_ unit: Unit, blocks: Range<Int>, repository: Repository, members: [BackupInfo], merged: BackupInfo,
                                storage: any RepositoryStorage) throws -> StoredFileSummary {
        let file = unit.file
        let blockSize = UInt64(members[0].blockSize)
        let name = repository.storedName(merged.id, path: file.entry.path, delta: false, compression: merged.compression, part: unit.part)
        let end = min(file.entry.size, UInt64(blocks.upperBound) * blockSize)
        let writer = try StoredFileWriter(storage: storage, name: name, compression: merged.compression, level: merged.compressLevel,
                                          expectedSize: end - UInt64(blocks.lowerBound) * blockSize)
        do {
            let sink = StoredFileSink(writer, start: UInt64(blocks.lowerBound) * blockSize)
            var assembler = ChainAssembler(repository: repository)
            let whole = Int(file.entry.size / blockSize)
            let versions = file.versions.map { (info: members[$0.member], entry: $0.entry) }
            if blocks.lowerBound < whole {
                _ = try assembler.assemble(file.entry, blocks: blocks.lowerBound..<min(blocks.upperBound, whole), into: sink, versions: versions)
            }
            // A trailing partial page (a file caught mid-extension): restore leaves zeros there.
            if end > sink.position { try writer.write([UInt8](repeating: 0, count: Int(end - sink.position))) }
            return try writer.commit()
        } catch {
            writer.abandon()
            throw error
        }
    }
}

/// ChainAssembler's output into a stored file: its writes arrive in order, from `start`.
private final class StoredFileSink: RestoreSink {
    let writer: StoredFileWriter
    private(set) var position: UInt64
    private(set) var bytesWritten: UInt64 = 0

    init(_ writer: StoredFileWriter, start: UInt64) {
        self.writer = writer
        position = start
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        precondition(offset == position, "a rebuilt relation is written in order")
        try writer.write(bytes)
        position += UInt64(bytes.count)
        bytesWritten += UInt64(bytes.count)
    }

    func drain() throws {}
    func truncate(to size: UInt64) throws {}
    func finish(sync: Bool) throws {}
    func close() {}
}
