import PostgresFormat
import Repository

/// One piece of restore work: a whole file, one part of a split stored file, or one block
/// range of a relation rebuilt from the chain. Small (the file is an index into the plan):
/// a restore of many files keeps one per file.
struct RestoreUnit: Sendable {
    enum Work: Sendable {
        /// The newest stored version, whole (`part` nil) or one part of it.
        case copy(part: Int?)
        /// Rebuilt from page deltas down the chain: all blocks (nil) or a range.
        case assemble(blocks: Range<Int>?)
    }

    /// Index into the plan's files.
    let file: Int
    let work: Work
    let bytes: UInt64

    /// Whether this unit is a whole file or the last piece of one (for progress counts).
    func finishesFile(in plan: RestorePlan) -> Bool {
        let stored = plan.versions[file][0].entry
        switch work {
        case .copy(let part): return part.map { $0 == stored.partCount - 1 } ?? true
        case .assemble(let blocks):
            return blocks.map { UInt64($0.upperBound) * UInt64(plan.members[0].blockSize) >= stored.size } ?? true
        }
    }

    /// Restores the unit into `target`; returns where in the file its content went and that
    /// content's CRC.
    func run(with writer: inout RestoreWriter, plan: RestorePlan, target: String) throws -> ContentPiece {
        let path = target + "/" + plan.files[file].path
        let newest = plan.versions[file][0]
        let stored = newest.entry, from = plan.members[newest.member]
        switch work {
        case .copy(nil):
            return ContentPiece(offset: 0, length: stored.size, crc: try writer.restoreFile(stored, to: path, from: from))
        case .copy(let part?):
            let offset = UInt64(part) * stored.partSize
            return ContentPiece(offset: offset, length: min(stored.partSize, stored.size - offset),
                                crc: try writer.restorePart(stored, part: part, to: path, from: from))
        case .assemble(let blocks):
            let blockSize = UInt64(plan.members[0].blockSize)
            let versions = plan.versions[file].map { (info: plan.members[$0.member], entry: $0.entry) }
            let crc = try writer.assembleRelation(stored, to: path, versions: versions, blocks: blocks)
            guard let blocks else { return ContentPiece(offset: 0, length: stored.size, crc: crc) }
            return ContentPiece(offset: UInt64(blocks.lowerBound) * blockSize, length: UInt64(blocks.count) * blockSize, crc: crc)
        }
    }

    /// The units that restore file `file` of the plan.
    static func units(for file: Int, in plan: RestorePlan) -> [RestoreUnit] {
        let stored = plan.versions[file][0].entry
        switch stored.kind {
        case .file where stored.isSplit:
            return (0..<stored.partCount).map { part in
                RestoreUnit(file: file, work: .copy(part: part), bytes: min(stored.partSize, stored.size - UInt64(part) * stored.partSize))
            }
        case .file:
            return [RestoreUnit(file: file, work: .copy(part: nil), bytes: stored.size)]
        case .pageDelta where stored.isSplit:
            let blockSize = UInt64(plan.members[0].blockSize)
            let blocks = Int(stored.size / blockSize), partBlocks = Int(stored.partSize / blockSize)
            return stride(from: 0, to: blocks, by: partBlocks).map { first in
                let range = first..<min(blocks, first + partBlocks)
                return RestoreUnit(file: file, work: .assemble(blocks: range), bytes: UInt64(range.count) * blockSize)
            }
        case .pageDelta:
            return [RestoreUnit(file: file, work: .assemble(blocks: nil), bytes: stored.size)]
        case .unchanged, .directory, .symlink:
            preconditionFailure("RestorePlan keeps stored versions only")
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
