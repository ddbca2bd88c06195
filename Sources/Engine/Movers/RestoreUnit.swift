import PostgresFormat
import Repository

/// One piece of restore work: a whole file, one part of a split stored file, or one block
/// range of a relation rebuilt from the chain.
struct RestoreUnit: Sendable {
    enum Work: Sendable {
        /// A stored whole file (`part` nil) or one part of it, from backup `from`.
        case copy(stored: FileEntry, from: BackupInfo, part: Int?)
        /// Rebuilt from page deltas down `chain`: all blocks (nil) or a range.
        case assemble(entry: FileEntry, chain: [ChainMember], blocks: Range<Int>?)
    }

    let entry: FileEntry
    let path: String
    let work: Work
    let bytes: UInt64

    /// Whether this unit is a whole file or the last piece of one (for progress counts).
    var finishesFile: Bool {
        switch work {
        case .copy(let stored, _, let part): return part.map { $0 == stored.partCount - 1 } ?? true
        case .assemble(let stored, let chain, let blocks):
            return blocks.map { UInt64($0.upperBound) * UInt64(chain[0].info.blockSize) >= stored.size } ?? true
        }
    }

    /// Restores the unit; returns where in the file its content went and that content's CRC.
    func run(with writer: inout RestoreWriter) throws -> ContentPiece {
        switch work {
        case .copy(let stored, let from, nil):
            return ContentPiece(offset: 0, length: stored.size, crc: try writer.restoreFile(stored, to: path, from: from))
        case .copy(let stored, let from, let part?):
            let offset = UInt64(part) * stored.partSize
            return ContentPiece(offset: offset, length: min(stored.partSize, stored.size - offset),
                                crc: try writer.restorePart(stored, part: part, to: path, from: from))
        case .assemble(let stored, let chain, let blocks):
            let blockSize = UInt64(chain[0].info.blockSize)
            let crc = try writer.assembleRelation(stored, to: path, chain: chain, blocks: blocks)
            guard let blocks else { return ContentPiece(offset: 0, length: stored.size, crc: crc) }
            return ContentPiece(offset: UInt64(blocks.lowerBound) * blockSize, length: UInt64(blocks.count) * blockSize, crc: crc)
        }
    }

    /// The units that restore `entry` (an entry of the newest backup, `chain[0]`) to `path`.
    /// An entry marked unchanged comes from the nearest older member that stored it.
    static func units(for entry: FileEntry, path: String, chain: [ChainMember], repository: Repository) throws -> [RestoreUnit] {
        var index = 0
        var stored = entry
        while stored.kind == .unchanged {
            index += 1
            guard index < chain.count, let older = chain[index].files[entry.path], older.kind != .directory, older.kind != .symlink,
                  older.kind == .unchanged || older.kind == .pageDelta || (older.checksum == entry.checksum && older.size == entry.size) else {
                throw EngineError.corruptFile(path: repository.fileListPath(chain[0].info.id),
                                              reason: "\(entry.path) is marked unchanged, but no older backup of the chain stored that content")
            }
            stored = older
        }
        switch stored.kind {
        case .file where stored.isSplit:
            return (0..<stored.partCount).map { part in
                RestoreUnit(entry: entry, path: path, work: .copy(stored: stored, from: chain[index].info, part: part),
                            bytes: min(stored.partSize, stored.size - UInt64(part) * stored.partSize))
            }
        case .file:
            return [RestoreUnit(entry: entry, path: path, work: .copy(stored: stored, from: chain[index].info, part: nil), bytes: stored.size)]
        case .pageDelta where stored.isSplit:
            let members = Array(chain[index...])
            let blockSize = UInt64(chain[0].info.blockSize)
            let blocks = Int(stored.size / blockSize), partBlocks = Int(stored.partSize / blockSize)
            return stride(from: 0, to: blocks, by: partBlocks).map { first in
                let range = first..<min(blocks, first + partBlocks)
                return RestoreUnit(entry: entry, path: path, work: .assemble(entry: stored, chain: members, blocks: range),
                                   bytes: UInt64(range.count) * blockSize)
            }
        case .pageDelta:
            return [RestoreUnit(entry: entry, path: path, work: .assemble(entry: stored, chain: Array(chain[index...]), blocks: nil),
                                bytes: stored.size)]
        case .unchanged, .directory, .symlink:
            preconditionFailure("resolved above")
        }
    }
}

/// A range of a restored file and the CRC-32C of its content: the pieces of one file, in
/// order, give the whole file's CRC (CRC32C.combine).
struct ContentPiece: Sendable {
    let offset: UInt64
    let length: UInt64
    let crc: UInt32

    static func wholeFileCRC(_ pieces: [ContentPiece]) -> UInt32 {
        pieces.sorted { $0.offset < $1.offset }.reduce(CRC32C().value) { CRC32C.combine($0, $1.crc, lengthOfB: $1.length) }
    }
}
