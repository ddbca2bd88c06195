import PostgresFormat

/// A page that failed verification and did not heal on re-reading.
public struct PageError: Sendable, Equatable, CustomStringConvertible {
    public let path: String
    public let block: UInt32
    public let problem: PageProblem
    public var description: String { "\(path) block \(block): \(problem)" }
}

/// Decides, page by page, what a backup keeps of a relation segment file, and verifies every
/// page it reads (header sanity, and the checksum when the cluster has them).
///
/// A page is kept when there is no parent (full backup), when its LSN is 0 (new or zeroed
/// page), when its LSN is at or after the parent's start LSN, or when the parent's copy of
/// the file did not have that block. Changes before the parent's start are in the parent's
/// files; changes after it carry a later LSN, even on a new timeline.
public struct PageScanner {
    public let path: String
    public let blockSize: Int
    /// Block number of this segment file's first page within its fork (for checksums).
    public let firstBlock: UInt32
    public let checksums: Bool
    /// Pages this new are being written during the backup; WAL replay rewrites them, so a
    /// torn read of one is not corruption.
    public let backupStartLSN: LSN
    /// The parent's start LSN and its block count for this file; nil for a full copy.
    public let parent: (startLSN: LSN, blockCount: UInt32)?
    public var rereadAttempts = 5

    public private(set) var errors: [PageError] = []
    public private(set) var keptPages = 0

    public init(path: String, blockSize: Int, firstBlock: UInt32, checksums: Bool, backupStartLSN: LSN,
                parent: (startLSN: LSN, blockCount: UInt32)?) {
        self.path = path
        self.blockSize = blockSize
        self.firstBlock = firstBlock
        self.checksums = checksums
        self.backupStartLSN = backupStartLSN
        self.parent = parent
    }

    /// Verifies the pages of `chunk` (whose first page is block `chunkFirstBlock` of the file),
    /// replacing a failing page by a good re-read when one comes, and returns the indexes
    /// (within the chunk) of the pages to keep. `reread(block)` reads one page again.
    public mutating func scan(_ chunk: UnsafeMutableRawBufferPointer, chunkFirstBlock: UInt32,
                              reread: (UInt32) throws -> [UInt8]?) rethrows -> [Int] {
        var kept: [Int] = []
        let pages = chunk.count / blockSize
        for index in 0..<pages {
            let block = chunkFirstBlock + UInt32(index)
            let page = UnsafeMutableRawBufferPointer(rebasing: chunk[index * blockSize..<(index + 1) * blockSize])
            try verify(page, block: block, reread: reread)
            if keep(UnsafeRawBufferPointer(page), block: block) { kept.append(index) }
        }
        keptPages += kept.count
        return kept
    }

    func keep(_ page: UnsafeRawBufferPointer, block: UInt32) -> Bool {
        guard let parent else { return true }
        if block >= parent.blockCount { return true }
        let lsn = PageHeader(page).lsn
        return lsn == .invalid || lsn >= parent.startLSN
    }

    private mutating func verify(_ page: UnsafeMutableRawBufferPointer, block: UInt32,
                                 reread: (UInt32) throws -> [UInt8]?) rethrows {
        var problem = PageVerifier.problem(UnsafeRawBufferPointer(page), blockNumber: firstBlock + block, checksums: checksums)
        var attempt = 0
        while problem != nil && attempt < rereadAttempts {
            attempt += 1
            // The server may have been writing this page as we read it: read it again.
            guard let fresh = try reread(block), fresh.count == blockSize else { break }
            fresh.withUnsafeBytes { page.copyMemory(from: $0) }
            problem = PageVerifier.problem(UnsafeRawBufferPointer(page), blockNumber: firstBlock + block, checksums: checksums)
        }
        guard let problem else { return }
        if PageHeader(UnsafeRawBufferPointer(page)).lsn >= backupStartLSN && problem != .nonZeroNewPage { return }
        errors.append(PageError(path: path, block: block, problem: problem))
    }
}
