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
    /// XLOG_PAGE_MAGIC of the page being read: record layouts differ between major versions.
    private var pageMagic: UInt16 = 0

    public init(pageSize: Int, startLSN: LSN) {
        self.pageSize = pageSize
        self.startLSN = startLSN
    }

    static let recordHeaderSize = 24
    static let xlogRmgr: UInt8 = 0, xactRmgr: UInt8 = 1
    static let switchInfo: UInt8 = 0x40, restorePointInfo: UInt8 = 0x70

    /// Feeds one page that starts at `pageLSN`; events go to `emit`.
    public mutating func feed(_ page: UnsafeRawBufferPointer, at pageLSN: LSN, emit: (WALEvent) -> Void) -> PageResult {
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
                keepBody = (rmid == Self.xactRmgr || rmid == Self.xlogRmgr) && total <= 1 << 20
                body.removeAll(keepingCapacity: true)
            }
            let take = min(remaining, pageSize - pos)
            if keepBody { body.append(contentsOf: UnsafeRawBufferPointer(rebasing: page[pos..<pos + take])) }
            remaining -= take
            pos += take
            if remaining > 0 { return .more }
            // A whole record.
            let isSwitch = finishRecord(emit: emit)
            pos = align(pos)
            if isSwitch { return .nextSegment }
        }
        return .more
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
        var p = 0
        var blockData = 0
        var mainLength = 0
        func u8() -> Int? { guard p < body.count else { return nil }; defer { p += 1 }; return Int(body[p]) }
        func u16() -> Int? { guard p + 2 <= body.count else { return nil }; defer { p += 2 }; return Int(body[p]) | Int(body[p + 1]) << 8 }
        func u32() -> Int? {
            guard p + 4 <= body.count else { return nil }
            defer { p += 4 }
            return Int(body[p]) | Int(body[p + 1]) << 8 | Int(body[p + 2]) << 16 | Int(body[p + 3]) << 24
        }
        while p < body.count - blockData {
            guard let id = u8() else { return nil }
            switch id {
            case 255: guard let n = u8() else { return nil }; mainLength = n
            case 254: guard let n = u32() else { return nil }; mainLength = n
            case 253: p += 2; continue
            case 252: p += 4; continue
            case 0...32:
                guard let flags = u8(), let dataLength = u16() else { return nil }
                blockData += dataLength
                if flags & 0x10 != 0 {
                    guard let imageLength = u16(), u16() != nil, let imageInfo = u8() else { return nil }
                    blockData += imageLength
                    if imageInfo & 0x01 != 0 && PostgresMajor.imageIsCompressed(UInt8(imageInfo), pageMagic: pageMagic) { p += 2 }
                }
                if flags & 0x80 == 0 { p += 12 }
                p += 4
                continue
            default:
                return nil
            }
            break
        }
        guard mainLength > 0, mainLength <= body.count else { return nil }
        return body[(body.count - mainLength)...]
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
