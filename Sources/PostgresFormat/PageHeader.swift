import CShims

/// The header of a relation data page (storage/bufpage.h) and PostgreSQL's own sanity rules
/// for it (PageIsVerifiedExtended): what a backup checks on every page it reads.
public struct PageHeader: Sendable, Equatable {
    public let lsn: LSN
    public let checksum: UInt16
    public let flags: UInt16
    public let lower: UInt16
    public let upper: UInt16
    public let special: UInt16

    static let validFlagBits: UInt16 = 0x0007
    public static let size = 24

    public init(_ page: UnsafeRawBufferPointer) {
        func u16(_ o: Int) -> UInt16 { page.loadUnaligned(fromByteOffset: o, as: UInt16.self) }
        func u32(_ o: Int) -> UInt32 { page.loadUnaligned(fromByteOffset: o, as: UInt32.self) }
        lsn = LSN(high: u32(0), low: u32(4))
        checksum = u16(8)
        flags = u16(10)
        lower = u16(12)
        upper = u16(14)
        special = u16(16)
    }

    /// A page PostgreSQL has not initialised yet (pd_upper == 0); valid only if all zeroes.
    public var isNew: Bool { upper == 0 }
}

/// Why a page failed verification.
public enum PageProblem: Sendable, Equatable, CustomStringConvertible {
    case nonZeroNewPage
    case invalidHeader
    case checksumMismatch(stored: UInt16, computed: UInt16)

    public var description: String {
        switch self {
        case .nonZeroNewPage: return "uninitialised page with non-zero content"
        case .invalidHeader: return "invalid page header"
        case .checksumMismatch(let stored, let computed): return "checksum \(computed), page says \(stored)"
        }
    }
}

public enum PageVerifier {
    /// PostgreSQL's page checksum for `blockNumber`, the block's number in the whole fork
    /// (segment number x blocks per segment + block within the segment file).
    public static func checksum(_ page: UnsafeRawBufferPointer, blockNumber: UInt32) -> UInt16 {
        pgbk_page_checksum(page.baseAddress!, page.count, blockNumber)
    }

    /// nil when the page is one PostgreSQL would accept.
    public static func problem(_ page: UnsafeRawBufferPointer, blockNumber: UInt32, checksums: Bool) -> PageProblem? {
        let header = PageHeader(page)
        if header.isNew {
            return isAllZero(page) ? nil : .nonZeroNewPage
        }
        if checksums {
            let computed = checksum(page, blockNumber: blockNumber)
            if computed != header.checksum { return .checksumMismatch(stored: header.checksum, computed: computed) }
        }
        let size = page.count
        guard header.flags & ~validFlagBits == 0, header.lower <= header.upper, header.upper <= header.special,
              Int(header.special) <= size, header.special % 8 == 0 else { return .invalidHeader }
        return nil
    }

    static func isAllZero(_ page: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        while i + 8 <= page.count {
            if page.loadUnaligned(fromByteOffset: i, as: UInt64.self) != 0 { return false }
            i += 8
        }
        while i < page.count { if page[i] != 0 { return false }; i += 1 }
        return true
    }

    static let validFlagBits: UInt16 = 0x0007
}
