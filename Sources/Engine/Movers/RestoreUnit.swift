import PostgresFormat
import Repository

/// One piece of restore work: a whole file, one part of a split stored file, or one block
/// range of a relation rebuilt from the chain. It carries its file and that file's stored
/// versions: a restore streams its files, holding those of a window, not of the list.
struct RestoreUnit: Sendable {
    enum Work: Sendable {
        /// The newest stored version, whole (`part` nil) or one part of it.
        case copy(part: Int?)
        /// Rebuilt from page deltas down the chain: all blocks (nil) or a range.
        case assemble(blocks: Range<Int>?)
    }

    let file: PlannedFile
    let work: Work
    let bytes: UInt64
    /// Whether this unit is a whole file or the last piece of one.
    let finishesFile: Bool
    /// Whether the file is restored in several units, into a file `prepare` made.
    let isPiece: Bool

    /// Restores the unit into `target`; `members`: the chain the versions index, newest
    /// first. Returns where in the file its content went and that content's CRC.
    func run(with writer: inout RestoreWriter, members: [BackupInfo], target: String) throws -> ContentPiece {
        let path = target + "/" + file.entry.path
        let newest = file.versions[0]
        let stored = newest.entry, from = members[newest.member]
        switch work {
        case .copy(nil):
            return ContentPiece(offset: 0, length: stored.size, crc: try writer.restoreFile(stored, to: path, from: from))
        case .copy(let part?):
            let offset = UInt64(part) * stored.partSize
            return ContentPiece(offset: offset, length: min(stored.partSize, stored.size - offset),
                                crc: try writer.restorePart(stored, part: part, to: path, from: from))
        case .assemble(let blocks):
            let blockSize = UInt64(members[0].blockSize)
            let versions = file.versions.map { (info: members[$0.member], entry: $0.entry) }
            let crc = try writer.assembleRelation(stored, to: path, versions: versions, blocks: blocks)
            guard let blocks else { return ContentPiece(offset: 0, length: stored.size, crc: crc) }
            return ContentPiece(offset: UInt64(blocks.lowerBound) * blockSize, length: UInt64(blocks.count) * blockSize, crc: crc)
        }
    }

    /// A file restored empty (`--db-exclude`), written where it was planned: no work left.
    static func zeroed(_ file: PlannedFile) -> RestoreUnit {
        RestoreUnit(file: file, work: .copy(part: nil), bytes: file.entry.size, finishesFile: true, isPiece: false)
    }

    /// The units that restore `file`, in order.
    static func units(for file: PlannedFile, blockSize: UInt64) -> [RestoreUnit] {
        let stored = file.versions[0].entry
        let work: [(Work, UInt64)]
        switch stored.kind {
        case .file where stored.isSplit:
            work = (0..<stored.partCount).map { part in (.copy(part: part), min(stored.partSize, stored.size - UInt64(part) * stored.partSize)) }
        case .file:
            work = [(.copy(part: nil), stored.size)]
        case .pageDelta where stored.isSplit:
            let blocks = Int(stored.size / blockSize), partBlocks = Int(stored.partSize / blockSize)
            work = stride(from: 0, to: blocks, by: partBlocks).map { first in
                let range = first..<min(blocks, first + partBlocks)
                return (.assemble(blocks: range), UInt64(range.count) * blockSize)
            }
        case .pageDelta:
            work = [(.assemble(blocks: nil), stored.size)]
        case .unchanged, .directory, .symlink:
            preconditionFailure("StoredVersions keeps stored versions only")
        }
        return work.enumerated().map { n, unit in
            RestoreUnit(file: file, work: unit.0, bytes: unit.1, finishesFile: n == work.count - 1, isPiece: work.count > 1)
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
