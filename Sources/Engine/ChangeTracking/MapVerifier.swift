import PostgresFormat
import Repository

/// `backup --verify-map`: the proof that a changed-block map built from WAL is complete. The
/// incremental is taken by the LSN scan as always; then every page it stored whose LSN lies
/// between the parent's start and this backup's must be in the map, or in a file the map
/// has read whole, or beyond the parent's end of that file. The free space map and the
/// visibility map are not checked: PostgreSQL changes them without block references, so a
/// WAL-based incremental reads them whole.
struct MapVerifier {
    let repository: Repository
    let map: ChangedBlockMap
    /// Where the map came from ("summary", "wal"), for the error.
    let source: String
    let after: LSN
    let upTo: LSN

    struct Miss: Error, CustomStringConvertible {
        let source: String
        let path: String
        let block: UInt32
        let pageLSN: LSN
        var description: String {
            "--verify-map: the \(source) map misses block \(block) of \(path) (page LSN \(pageLSN)), which the LSN scan found changed"
        }
    }

    /// Checks the backup's page deltas, reading its file list as it goes and the parent's
    /// alongside (ParentEntries: the list a backup just wrote is in the walk's order);
    /// returns how many pages were checked.
    func verify(_ info: BackupInfo, parent: ParentEntries) throws -> Int {
        let blockSize = Int(info.blockSize)
        let segmentBlocks = UInt32((1 << 30) / blockSize)
        var checked = 0
        let list = try FileListReader(repository: repository, info: info)
        while let entry = try list.next() {
            guard entry.kind == .pageDelta, let (locator, fork, segment) = RelationPath.locator(entry.path), fork == 0 || fork == 3,
                  map.changedBlocks(locator, fork: fork) != nil else { continue }
            let parentBlocks = try parent.entry(for: entry.path).map { UInt32($0.size / UInt64(blockSize)) } ?? 0
            for part in 0..<entry.partCount {
                let reader = try repository.storedFileReader(info.id, entry, compression: info.compression, part: part)
                defer { reader.close() }
                try PageDelta.readPages(reader, blockSize: blockSize) { block, page in
                    let pageLSN = LSN(high: page.loadUnaligned(fromByteOffset: 0, as: UInt32.self),
                                      low: page.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
                    guard pageLSN > after, pageLSN <= upTo, block < parentBlocks else { return }
                    checked += 1
                    if !map.contains(locator, fork: fork, block: segment * segmentBlocks + block) {
                        throw Miss(source: source, path: entry.path, block: segment * segmentBlocks + block, pageLSN: pageLSN)
                    }
                }
            }
        }
        return checked
    }
}
