/// The WAL events a recovery target can name.
public enum WALEvent: Sendable, Equatable {
    /// A transaction's commit or abort record, with its timestamp (microseconds since 1970).
    case transactionEnd(lsn: LSN, xid: UInt32, commit: Bool, time: Int64)
    /// `pg_create_restore_point(name)`.
    case restorePoint(lsn: LSN, name: String, time: Int64)

    public var lsn: LSN {
        switch self {
        case .transactionEnd(let lsn, _, _, _), .restorePoint(let lsn, _, _): return lsn
        }
    }
}

/// Reads WAL records page by page (access/xlog_internal.h, access/xlogrecord.h): page headers
/// are skipped, records reassembled across page and segment boundaries, and only the small
/// records that matter to recovery targets (XACT commit/abort, XLOG restore point and
/// switch) are decoded; everything else is skipped by length. Memory: one record of interest.
public struct WALRecordScanner {
    public enum PageResult: Sendable, Equatable {
        case more                 // feed the next page
        case nextSegment          // an XLOG_SWITCH: the rest of this segment is unused
        case end                  // no valid WAL follows (zeroed or recycled page)
        case malformed(LSN)       // with collectBlocks: a record whose block headers do not parse
    }

    let pageSize: Int
    /// Where the record being read started, and how much of it is still to come.
    private var recordLSN = LSN.invalid
    private var remaining = 0
    private var header: [UInt8] = []
    private var body: [UInt8] = []
    private var keepBody = false
    /// Records before this LSN are not reported (the scan may start mid-segment).
    public var startLSN: LSN
    public private(set) var lastRecordLSN = LSN.invalid
    /// Where the last whole record read ended (a partial segment's usable end).
    public private(set) var endOfLastRecord = LSN.invalid
    /// XLOG_PAGE_MAGIC of the page being read: record layouts differ between major versions.
    private var pageMagic: UInt16 = 0
    /// Report every record's block references (`feed`'s `records`): the front of every body
    /// is kept, enough for its headers (at most 33 block headers of 27 bytes).
    public var collectBlocks = false
    static let headerPrefixLimit = 2048
    private var prefixOnly = false

    public init(pageSize: Int, startLSN: LSN) {
        self.pageSize = pageSize
        self.startLSN = startLSN
    }

    static let recordHeaderSize = 24
    static let xlogRmgr: UInt8 = 0, xactRmgr: UInt8 = 1
    static let switchInfo: UInt8 = 0x40, restorePointInfo: UInt8 = 0x70

    /// What `feed` reports of every record when `collectBlocks` is on.
    public struct RecordSummary: Sendable, Equatable {
        public let lsn: LSN
        public let resourceManager: UInt8
        public let info: UInt8
        public let blocks: [BlockReference]
        /// The main data of the records that change relation files without block references
        /// (storage and database records), which a changed-block map must know; else nil.
        public let mainData: [UInt8]?

        public init(lsn: LSN, resourceManager: UInt8, info: UInt8, blocks: [BlockReference], mainData: [UInt8]?) {
            self.lsn = lsn
            self.resourceManager = resourceManager
            self.info = info
            self.blocks = blocks
            self.mainData = mainData
        }
    }

    /// Resource managers whose records change files without block references (storage:
    /// create and truncate; database: create and drop), and whose main data is kept.
    static let storageRmgr: UInt8 = 2, databaseRmgr: UInt8 = 4

    /// Feeds one page that starts at `pageLSN`; events go to `emit`, and with `collectBlocks`
    /// every whole record's block references to `records`.
    public mutating func feed(_ page: UnsafeRawBufferPointer, at pageLSN: LSN, emit: (WALEvent) -> Void,
                              records: ((RecordSummary) -> Void)? = nil) -> PageResult {
        // A page must sit where its header says, at a page boundary that real WAL can reach
        // (a crafted address near 2^64 would overflow the record positions).
        guard page.count == pageSize, pageSize >= 64, page.loadUnaligned(fromByteOffset: 8, as: UInt64.self) == pageLSN.value,
              pageLSN.value % UInt64(pageSize) == 0, pageLSN.value <= UInt64.max - UInt64(pageSize) else {
            return .end
        }
        pageMagic = page.loadUnaligned(fromByteOffset: 0, as: UInt16.self)
        let info = page.loadUnaligned(fromByteOffset: 2, as: UInt16.self)
        let remLen = Int(page.loadUnaligned(fromByteOffset: 16, as: UInt32.self))
        var pos = info & 0x0002 != 0 ? 40 : 24
        let continuation = info & 0x0001 != 0

        if remaining > 0 || !header.isEmpty {
            // Mid-record: this page must continue it.
            guard continuation else { reset(); return .end }
        } else if continuation {
            // A record that began before the scan did: skip its tail.
            if remLen >= pageSize - pos { return .more }
            pos = align(pos + remLen)
        }

        while pos < pageSize {
            if remaining == 0 {
                // Reading the 24-byte record header, possibly split across pages.
                let need = Self.recordHeaderSize - header.count
                let take = min(need, pageSize - pos)
                if header.isEmpty {
                    recordLSN = LSN(pageLSN.value + UInt64(pos))
                    if take >= 4 && page.loadUnaligned(fromByteOffset: pos, as: UInt32.self) == 0 { return .end }
                }
                header.append(contentsOf: UnsafeRawBufferPointer(rebasing: page[pos..<pos + take]))
                pos += take
                guard header.count == Self.recordHeaderSize else { return .more }
                let total = Int(header.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 0, as: UInt32.self) })
                guard total >= Self.recordHeaderSize else { reset(); return .end }
                remaining = total - Self.recordHeaderSize
                let rmid = header[17]
                keepBody = (rmid == Self.xactRmgr || rmid == Self.xlogRmgr
                            || (collectBlocks && (rmid == Self.storageRmgr || rmid == Self.databaseRmgr))) && total <= 1 << 20
                prefixOnly = collectBlocks && !keepBody
                body.removeAll(keepingCapacity: true)
            }
            let take = min(remaining, pageSize - pos)
            if keepBody {
                body.append(contentsOf: UnsafeRawBufferPointer(rebasing: page[pos..<pos + take]))
            } else if prefixOnly && body.count < Self.headerPrefixLimit {
                let kept = min(take, Self.headerPrefixLimit - body.count)
                body.append(contentsOf: UnsafeRawBufferPointer(rebasing: page[pos..<pos + kept]))
            }
            remaining -= take
            pos += take
            if remaining > 0 { return .more }
            // A whole record.
            if let records, collectBlocks, recordLSN >= startLSN {
                let length = Int(header.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 0, as: UInt32.self) }) - Self.recordHeaderSize
                let layout = body.withUnsafeBytes { WALRecordLayout.parse($0, length: length, pageMagic: pageMagic) }
                let rmid = header[17]
                let keepsMain = rmid == Self.storageRmgr || rmid == Self.databaseRmgr
                let main = keepsMain ? layout.map { Array(body[(body.count - $0.mainDataLength)...]) } : nil
                records(RecordSummary(lsn: recordLSN, resourceManager: rmid, info: header[16], blocks: layout?.blocks ?? [], mainData: main))
                if layout == nil { return .malformed(recordLSN) }
            }
            // A record of interest whose CRC fails ends the WAL, as it ends recovery: a
            // partial segment cut inside it, or damage.
            if keepBody && !crcMatches() { reset(); return .end }
            // Where the next record may begin, as pg_current_wal_lsn reports an end.
            endOfLastRecord = LSN(pageLSN.value + UInt64(align(pos)))
            let isSwitch = finishRecord(emit: emit)
            pos = align(pos)
            if isSwitch { return .nextSegment }
        }
        return .more
    }

    /// xl_crc: CRC-32C of the record's data after its header, then of the header up to xl_crc.
    private func crcMatches() -> Bool {
        var crc = CRC32C()
        crc.update(body)
        header.withUnsafeBytes { crc.update(UnsafeRawBufferPointer(rebasing: $0[0..<20])) }
        return crc.value == header.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 20, as: UInt32.self) }
    }

    /// Decodes the finished record; returns true for XLOG_SWITCH.
    private mutating func finishRecord(emit: (WALEvent) -> Void) -> Bool {
        defer { header.removeAll(keepingCapacity: true) }
        let xid = header.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self) }
        let info = header[16], rmid = header[17]
        lastRecordLSN = recordLSN
        guard recordLSN >= startLSN, keepBody, let slice = mainData() else {
            return rmid == Self.xlogRmgr && info & 0xF0 == Self.switchInfo
        }
        let main = Array(slice)  // zero-based: the slice keeps the record's offsets
        if rmid == Self.xactRmgr, main.count >= 8 {
            let op = info & 0x70
            let time = pgTimeToUnixMicros(main.withUnsafeBytes { $0.loadUnaligned(as: Int64.self) })
            switch op {
            case XactRecord.commit, XactRecord.abort:
                emit(.transactionEnd(lsn: recordLSN, xid: xid, commit: op == XactRecord.commit, time: time))
            case XactRecord.commitPrepared, XactRecord.abortPrepared:
                // Recovery matches these by the prepared transaction's xid and by their time.
                let isCommit = op == XactRecord.commitPrepared
                if let prepared = XactRecord.preparedXID(main: main, info: info, isCommit: isCommit,
                                                         statsItemSize: XactRecord.statsItemSize(pageMagic: pageMagic)) {
                    emit(.transactionEnd(lsn: recordLSN, xid: prepared, commit: isCommit, time: time))
                }
            default:
                break
            }
        } else if rmid == Self.xlogRmgr {
            let op = info & 0xF0
            if op == Self.restorePointInfo, main.count >= 8 + 64 {
                let time = pgTimeToUnixMicros(main.withUnsafeBytes { $0.loadUnaligned(as: Int64.self) })
                let nameBytes = main[8..<72].prefix { $0 != 0 }
                emit(.restorePoint(lsn: recordLSN, name: String(decoding: nameBytes, as: UTF8.self), time: time))
            }
            return op == Self.switchInfo
        }
        return false
    }

    /// The record's main data: it follows the block headers and block data (DecodeXLogRecord).
    private func mainData() -> ArraySlice<UInt8>? {
        guard let layout = body.withUnsafeBytes({ WALRecordLayout.parse($0, length: body.count, pageMagic: pageMagic) }),
              layout.mainDataLength > 0 else {
            return nil
        }
        return body[(body.count - layout.mainDataLength)...]
    }

    private func align(_ pos: Int) -> Int { (pos + 7) & ~7 }

    private mutating func reset() {
        header.removeAll()
        body.removeAll()
        remaining = 0
    }
}

/// PostgreSQL timestamps count microseconds from 2000-01-01 00:00:00 UTC.
public func pgTimeToUnixMicros(_ value: Int64) -> Int64 { value + 946_684_800 * 1_000_000 }
