/// What differs between the PostgreSQL major versions pgbk supports, from each release
/// branch's headers: catalog/pg_control.h (PG_CONTROL_VERSION and the struct layout),
/// access/xlog_internal.h (XLOG_PAGE_MAGIC), catalog/catversion.h (CATALOG_VERSION_NO).
public struct PostgresMajor: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let number: Int

    public static let supported = 13...18
    /// Majors whose servers the integration tests run; the others are supported from their
    /// documented formats (unit tests on layouts built from the headers).
    public static let testedAgainstLiveServers = [15, 16, 18]

    public init?(_ number: Int) {
        guard Self.supported.contains(number) else { return nil }
        self.number = number
    }

    /// From `PG_VERSION` ("15") or a server_version_num (150018).
    public init?(text: some StringProtocol) {
        guard let n = Int(text.prefix { $0 != "\n" }) else { return nil }
        self.init(n >= 10_000 ? n / 10_000 : n)
    }

    public static var supportedText: String { "PostgreSQL \(supported.lowerBound) to \(supported.upperBound)" }

    public var description: String { "PostgreSQL \(number)" }

    public static func < (a: Self, b: Self) -> Bool { a.number < b.number }

    /// PG_CONTROL_VERSION.
    public var controlVersion: UInt32 {
        switch number {
        case ...16: return 1300
        case 17: return 1700
        default: return 1800
        }
    }

    /// XLOG_PAGE_MAGIC: every WAL page header carries it, so WAL names its major version.
    public var walPageMagic: UInt16 {
        [13: 0xD106, 14: 0xD10D, 15: 0xD110, 16: 0xD113, 17: 0xD116, 18: 0xD118][number]!
    }

    public init?(walPageMagic: UInt16) {
        guard let n = Self.supported.first(where: { PostgresMajor($0)!.walPageMagic == walPageMagic }) else { return nil }
        self.init(n)
    }

    /// CATALOG_VERSION_NO of the release (clusters report their own in pg_control).
    public var releaseCatalogVersion: UInt32 {
        [13: 202_007_201, 14: 202_107_181, 15: 202_209_061, 16: 202_307_071, 17: 202_406_281, 18: 202_506_291][number]!
    }

    /// `pg_backup_start`/`pg_backup_stop` from 15; `pg_start_backup`/`pg_stop_backup` with
    /// exclusive => false before (exclusive mode was removed in 15).
    public var hasBackupStartFunctions: Bool { number >= 15 }

    /// 17 added WAL summarisation: `pg_wal/summaries` exists (empty in a backup, as
    /// pg_basebackup leaves it) and `summarize_wal` can be turned on.
    public var hasWALSummaries: Bool { number >= 17 }

    /// Block image flags in WAL records (access/xlogrecord.h): until 14, 0x02 meant compressed
    /// and 0x04 apply; from 15, 0x02 is apply and 0x04/0x08/0x10 name the compression.
    public static func imageIsCompressed(_ info: UInt8, pageMagic: UInt16) -> Bool {
        pageMagic >= 0xD110 ? info & 0x1C != 0 : info & 0x02 != 0
    }
}
