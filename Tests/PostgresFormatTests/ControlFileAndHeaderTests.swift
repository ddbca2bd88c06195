import Testing
import TestSupport
@testable import PostgresFormat

@Suite struct ControlFileTests {
    @Test(arguments: [UInt32(1300), 1700, 1800])
    func readsTheFieldsABackupNeeds(_ version: UInt32) throws {
        let control = try ControlFile(bytes: syntheticControlFile(version: version))
        #expect(control.controlVersion == version)
        #expect(control.systemIdentifier == 7_311_222_333_444_555_666)
        #expect(control.catalogVersion == 202_209_061)
        #expect(control.state == .inProduction)
        #expect(control.checkpointLSN == LSN("1/2000060")!)
        #expect(control.redoLSN == LSN("1/2000028")!)
        #expect(control.timeline == 3)
        #expect(control.blockSize == 8192)
        #expect(control.walSegmentSize == 16 << 20)
        #expect(control.dataChecksumsEnabled)
    }

    @Test func eachVersionIsCheckedWithItsOwnLayout() {
        // A 1300 file relabelled 1800 (or the reverse) fails its CRC: the layouts differ.
        var relabelled = syntheticControlFile(version: 1300)
        relabelled[8] = 0x08; relabelled[9] = 0x07  // 1800
        #expect(throws: FormatError.self) { try ControlFile(bytes: relabelled) }
        var back = syntheticControlFile(version: 1800)
        back[8] = 0x14; back[9] = 0x05  // 1300
        #expect(throws: FormatError.self) { try ControlFile(bytes: back) }
    }

    @Test func rejectsADamagedFile() {
        #expect(throws: FormatError.self) { try ControlFile(bytes: syntheticControlFile(corruptCRC: true)) }
        #expect(throws: FormatError.self) { try ControlFile(bytes: Array(syntheticControlFile().prefix(100))) }
    }

    @Test(arguments: [UInt32(1201), 1100, 1900, 0])
    func rejectsAnUnsupportedVersionByName(_ version: UInt32) {
        do {
            _ = try ControlFile(bytes: syntheticControlFile(version: version), path: "x/global/pg_control")
            Issue.record("version \(version) was accepted")
        } catch let error as FormatError {
            #expect(error.description.contains("\(version)"))
            #expect(error.description.contains("x/global/pg_control"))
            #expect(error.description.contains("PostgreSQL 13 to 18"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }
}

/// The per-version facts, as each release branch's headers give them.
@Suite struct PostgresMajorTests {
    @Test func versionFactsMatchTheHeaders() throws {
        let magic: [Int: UInt16] = [13: 0xD106, 14: 0xD10D, 15: 0xD110, 16: 0xD113, 17: 0xD116, 18: 0xD118]
        for n in 13...18 {
            let major = try #require(PostgresMajor(n))
            #expect(major.walPageMagic == magic[n])
            #expect(PostgresMajor(walPageMagic: magic[n]!) == major)
            #expect(major.controlVersion == (n <= 16 ? 1300 : n == 17 ? 1700 : 1800))
            #expect(major.hasBackupStartFunctions == (n >= 15))
            #expect(major.hasWALSummaries == (n >= 17))
        }
        #expect(PostgresMajor(12) == nil && PostgresMajor(19) == nil)
        #expect(PostgresMajor(text: "18\n")?.number == 18 && PostgresMajor(text: "170004")?.number == 17)
        #expect(PostgresMajor(text: "9.6") == nil && PostgresMajor(walPageMagic: 0xD101) == nil)
    }

    @Test func blockImageCompressionFlagsMovedIn15() {
        // 13 and 14: 0x02 compressed, 0x04 apply. 15 on: 0x02 apply, 0x04/0x08/0x10 compressed.
        #expect(PostgresMajor.imageIsCompressed(0x02, pageMagic: 0xD10D))
        #expect(!PostgresMajor.imageIsCompressed(0x04, pageMagic: 0xD106))
        #expect(!PostgresMajor.imageIsCompressed(0x02, pageMagic: 0xD110))
        #expect(PostgresMajor.imageIsCompressed(0x08, pageMagic: 0xD118))
    }
}
