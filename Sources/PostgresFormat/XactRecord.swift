/// The parts of an XACT commit or abort record's main data that recovery targets use
/// (access/xact.h; the order of the optional parts is ParseCommitRecord's and
/// ParseAbortRecord's in rmgrdesc/xactdesc.c).
public enum XactRecord {
    public static let commit: UInt8 = 0x00, abort: UInt8 = 0x20
    public static let commitPrepared: UInt8 = 0x30, abortPrepared: UInt8 = 0x40
    static let hasInfo: UInt8 = 0x80

    static let hasDBInfo: UInt32 = 1 << 0, hasSubxacts: UInt32 = 1 << 1, hasRelfileLocators: UInt32 = 1 << 2
    static let hasInvals: UInt32 = 1 << 3, hasTwoPhase: UInt32 = 1 << 4, hasDroppedStats: UInt32 = 1 << 8

    /// xl_xact_stats_item: kind, dboid, objoid (12 bytes) until PostgreSQL 17; 18 stores
    /// the object id as two uint32 (16 bytes). The WAL page magic tells the version.
    public static func statsItemSize(pageMagic: UInt16) -> Int { pageMagic > 0xD116 ? 16 : 12 }

    /// The prepared transaction's xid from a COMMIT PREPARED or ROLLBACK PREPARED record:
    /// the record header's xid is that of the session that finished it, usually 0. nil when
    /// the record carries none or is cut short.
    public static func preparedXID(main: [UInt8], info: UInt8, isCommit: Bool, statsItemSize: Int) -> UInt32? {
        var p = 8  // xact_time
        func u32() -> UInt32? {
            guard p >= 0, p + 4 <= main.count else { return nil }
            defer { p += 4 }
            return UInt32(main[p]) | UInt32(main[p + 1]) << 8 | UInt32(main[p + 2]) << 16 | UInt32(main[p + 3]) << 24
        }
        func skipArray(_ itemSize: Int) -> Bool {
            guard let n = u32(), n <= 1 << 24 else { return false }
            p += Int(n) * itemSize
            return p <= main.count
        }
        var xinfo: UInt32 = 0
        if info & hasInfo != 0 {
            guard let x = u32() else { return nil }
            xinfo = x
        }
        if xinfo & hasDBInfo != 0 { p += 8 }
        if xinfo & hasSubxacts != 0 { guard skipArray(4) else { return nil } }
        if xinfo & hasRelfileLocators != 0 { guard skipArray(12) else { return nil } }
        if xinfo & hasDroppedStats != 0 { guard skipArray(statsItemSize) else { return nil } }
        if isCommit && xinfo & hasInvals != 0 { guard skipArray(16) else { return nil } }
        guard xinfo & hasTwoPhase != 0, let xid = u32(), xid != 0 else { return nil }
        return xid
    }
}
