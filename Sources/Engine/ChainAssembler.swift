import PostgresFormat
import Repository

/// One member of a restore chain: a backup and its files by path.
struct ChainMember: Sendable {
    let info: BackupInfo
    let files: [String: FileEntry]
}

/// Rebuilds a relation file from an incremental chain (newest first, ending with a full
/// backup): each block comes from the newest backup that holds it and is written once; the
/// file is then cut to the block count the newest backup recorded, so blocks VACUUM
/// truncated away do not come back.
struct ChainAssembler {
    let repository: Repository
    var buffer = [UInt8](repeating: 0, count: 1 << 20)

    /// Returns the bytes written.
    mutating func assemble(_ entry: FileEntry, into output: DirectFile, chain: [ChainMember]) throws -> UInt64 {
        let blockSize = Int(chain[0].info.blockSize)
        let blockCount = Int(entry.size / UInt64(blockSize))
        var written = [Bool](repeating: false, count: blockCount)
        var missing = blockCount
        var bytes: UInt64 = 0

        for member in chain where missing > 0 {
            guard let stored = member.files[entry.path] else { break }  // older backups never had it
            if stored.kind == .unchanged { continue }  // same content as further up the chain
            let path = repository.storedPath(member.info.id, stored, compression: member.info.compression)
            let reader = try StoredFileReader(path: path, compression: member.info.compression)
            defer { reader.close() }
            switch stored.kind {
            case .pageDelta:
                try PageDelta.readPages(reader, blockSize: blockSize) { block, page in
                    let b = Int(block)
                    guard b < blockCount, !written[b] else { return }
                    try output.write(page, at: UInt64(b) * UInt64(blockSize))
                    written[b] = true
                    missing -= 1
                    bytes += UInt64(blockSize)
                }
                try check(reader, stored, path: path, size: nil)
            case .file:
                bytes += try writeBase(reader, into: output, blockSize: blockSize, written: &written, missing: &missing)
                try check(reader, stored, path: path, size: stored.size)
            case .directory, .symlink, .unchanged:
                throw EngineError.corruptFile(path: repository.fileListPath(member.info.id), reason: "\(entry.path) is not a file in this backup")
            }
            if stored.kind == .file { break }  // a whole file is the base of the chain
        }
        guard missing == 0 else {
            let first = written.firstIndex(of: false) ?? 0
            throw EngineError.corruptFile(path: repository.backupDirectory(chain[0].info.id),
                                          reason: "\(entry.path): \(missing) block(s), the first \(first), are in no backup of the chain")
        }
        try output.truncate(to: UInt64(blockCount) * UInt64(blockSize))
        return bytes
    }

    /// Writes the blocks of a whole stored file that no newer backup supplied, in runs.
    private mutating func writeBase(_ reader: StoredFileReader, into output: DirectFile, blockSize: Int,
                                    written: inout [Bool], missing: inout Int) throws -> UInt64 {
        let blockCount = written.count
        var block = 0
        var bytes: UInt64 = 0
        while block < blockCount {
            let n = try reader.read(into: &buffer)
            if n == 0 { break }
            let pages = min(n / blockSize, blockCount - block)
            var i = 0
            while i < pages {
                guard !written[block + i] else { i += 1; continue }
                var j = i
                while j < pages && !written[block + j] { written[block + j] = true; j += 1 }
                try buffer.withUnsafeBytes {
                    try output.write(UnsafeRawBufferPointer(rebasing: $0[i * blockSize..<j * blockSize]),
                                     at: UInt64(block + i) * UInt64(blockSize))
                }
                missing -= j - i
                bytes += UInt64((j - i) * blockSize)
                i = j
            }
            block += n / blockSize
        }
        // Read the rest so that the whole stored file is checked against its checksum.
        while try reader.read(into: &buffer) > 0 {}
        return bytes
    }

    private func check(_ reader: StoredFileReader, _ stored: FileEntry, path: String, size: UInt64?) throws {
        if let size, reader.size != size {
            throw EngineError.corruptFile(path: path, reason: "size \(reader.size), the backup recorded \(size)")
        }
        guard reader.checksum == stored.checksum else {
            throw EngineError.corruptFile(path: path, reason: "checksum \(CRC32C.hex(reader.checksum)), the backup recorded \(stored.checksum.map(CRC32C.hex) ?? "none"); restore stopped (the target is incomplete and will not start)")
        }
    }
}
