import PostgresFormat

/// Which blocks of which relation files WAL says changed between two LSNs: what an
/// incremental built from WAL reads instead of every page. Changes that WAL records without
/// block references are kept apart, for the whole files they touch to be read: relation files
/// created or truncated (storage records), and databases created by copying a template
/// (database records). Memory has a budget: past it the largest relation's blocks give way to
/// reading that file whole, which is always correct.
public struct ChangedBlockMap: Sendable {
    public struct RelationFork: Hashable, Sendable {
        public let locator: RelFileLocator
        public let fork: UInt8
    }

    /// What a source of maps (WAL summaries, WAL) gives: a complete map, or why there is
    /// none; never a map in part.
    enum Outcome {
        case map(ChangedBlockMap)
        case unavailable(String)
    }

    public struct Database: Hashable, Sendable {
        public let tablespace: UInt32
        public let database: UInt32
    }

    private(set) var blocks: [RelationFork: BlockSet] = [:]
    /// Relation files to read whole (every fork).
    public private(set) var wholeRelations: Set<RelFileLocator> = []
    /// Databases whose every file is read whole.
    public private(set) var wholeDatabases: Set<Database> = []
    public private(set) var records = 0
    let memoryBudget: Int

    public init(memoryBudget: Int = 32 << 20) { self.memoryBudget = memoryBudget }

    static let storageRmgr: UInt8 = 2, databaseRmgr: UInt8 = 4
    static let smgrCreate: UInt8 = 0x10, smgrTruncate: UInt8 = 0x20

    public mutating func add(_ record: WALRecordScanner.RecordSummary) {
        records += 1
        for b in record.blocks { insert(b.locator, fork: b.fork, block: b.block) }
        guard let main = record.mainData else { return }
        func u32(_ at: Int) -> UInt32? {
            guard main.count >= at + 4 else { return nil }
            return main.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: UInt32.self) }
        }
        switch record.resourceManager {
        case Self.storageRmgr:
            // xl_smgr_create: RelFileLocator, fork; xl_smgr_truncate: block, RelFileLocator, flags.
            let at = record.info & 0xF0 == Self.smgrTruncate ? 4 : 0
            if let spc = u32(at), let db = u32(at + 4), let rel = u32(at + 8) {
                readWhole(RelFileLocator(tablespace: spc, database: db, relation: rel))
            }
        case Self.databaseRmgr:
            // Creations (file copy, WAL log) start with the database's and its tablespace's OIDs.
            if let db = u32(0), let spc = u32(4) { readWhole(Database(tablespace: spc, database: db)) }
        default:
            break
        }
    }

    mutating func insert(_ locator: RelFileLocator, fork: UInt8, block: UInt32) {
        guard !wholeRelations.contains(locator) else { return }
        let key = RelationFork(locator: locator, fork: fork)
        var set = blocks.removeValue(forKey: key) ?? BlockSet()  // changed in place, not copied
        let before = set.count == 0 ? -32 : set.memoryBytes  // a new set: all of it, and its place in the table
        set.insert(block)
        memoryBytes += set.memoryBytes - before
        blocks[key] = set
        if memoryBytes > memoryBudget { giveUpLargest() }
    }

    mutating func readWhole(_ database: Database) { wholeDatabases.insert(database) }

    mutating func readWhole(_ locator: RelFileLocator) {
        wholeRelations.insert(locator)
        for fork: UInt8 in 0...3 {
            if let gone = blocks.removeValue(forKey: RelationFork(locator: locator, fork: fork)) { memoryBytes -= gone.memoryBytes + 32 }
        }
    }

    /// The blocks of one relation fork WAL changed, in order; nil when the file must be read
    /// whole (created, truncated, in a copied database, or over the memory budget).
    public func changedBlocks(_ locator: RelFileLocator, fork: UInt8) -> [UInt32]? {
        if wholeRelations.contains(locator) || wholeDatabases.contains(Database(tablespace: locator.tablespace, database: locator.database)) {
            return nil
        }
        return blocks[RelationFork(locator: locator, fork: fork)]?.sorted ?? []
    }

    public func contains(_ locator: RelFileLocator, fork: UInt8, block: UInt32) -> Bool {
        blocks[RelationFork(locator: locator, fork: fork)]?.contains(block) ?? false
    }

    public var blockCount: Int { blocks.values.reduce(0) { $0 + $1.count } }
    /// Roughly what the map takes in memory, kept as it changes.
    public private(set) var memoryBytes = 0

    private mutating func giveUpLargest() {
        guard let largest = blocks.max(by: { $0.value.memoryBytes < $1.value.memoryBytes })?.key else { return }
        readWhole(largest.locator)
    }
}
