import Testing
@testable import PostgresFormat

/// Builds pg_control bytes with the PostgreSQL 15 layout and a correct CRC.
func syntheticControlFile(systemIdentifier: UInt64 = 7_311_222_333_444_555_666, version: UInt32 = 1300,
                          checksums: UInt32 = 1, corruptCRC: Bool = false) -> [UInt8] {
    var b = [UInt8](repeating: 0, count: 8192)
    func put<T: FixedWidthInteger>(_ v: T, _ at: Int) {
        withUnsafeBytes(of: v.littleEndian) { for (i, byte) in $0.enumerated() { b[at + i] = byte } }
    }
    put(systemIdentifier, 0)
    put(version, 8)
    put(UInt32(202_209_061), 12)
    put(UInt32(6), 16)                 // in production
    put(UInt64(0x0000_0001_0200_0060), 32)
    put(UInt64(0x0000_0001_0200_0028), 40)
    put(UInt32(3), 48)                 // timeline
    put(UInt32(8192), 216)
    put(UInt32(131_072), 220)
    put(UInt32(8192), 224)
    put(UInt32(16 << 20), 228)
    put(checksums, 252)
    var crc = CRC32C.checksum(Array(b[0..<288]))
    if corruptCRC { crc ^= 1 }
    put(crc, 288)
    return b
}

@Suite struct ControlFileTests {
    @Test func readsTheFieldsABackupNeeds() throws {
        let control = try ControlFile(bytes: syntheticControlFile())
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

    @Test func rejectsADamagedFile() {
        #expect(throws: FormatError.self) { try ControlFile(bytes: syntheticControlFile(corruptCRC: true)) }
        #expect(throws: FormatError.self) { try ControlFile(bytes: Array(syntheticControlFile().prefix(100))) }
    }

    @Test func rejectsAnUnsupportedVersionByName() {
        do {
            _ = try ControlFile(bytes: syntheticControlFile(version: 1700), path: "x/global/pg_control")
            Issue.record("version 1700 was accepted")
        } catch let error as FormatError {
            #expect(error.description.contains("1700"))
            #expect(error.description.contains("x/global/pg_control"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }
}

@Suite struct WALHeaderTests {
    func header(sysid: UInt64, info: UInt16 = 0x0002) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 64)
        func put<T: FixedWidthInteger>(_ v: T, _ at: Int) {
            withUnsafeBytes(of: v.littleEndian) { for (i, byte) in $0.enumerated() { b[at + i] = byte } }
        }
        put(UInt16(0xD110), 0); put(info, 2); put(UInt32(1), 4); put(UInt64(0x0300_0000), 8)
        put(sysid, 24); put(UInt32(16 << 20), 32); put(UInt32(8192), 36)
        return b
    }

    @Test func readsTheLongHeader() throws {
        let h = try WALLongPageHeader(bytes: header(sysid: 42), path: "seg")
        #expect(h.systemIdentifier == 42)
        #expect(h.magic == 0xD110)
        #expect(h.timeline == 1)
        #expect(h.pageAddress == LSN("0/3000000")!)
        #expect(h.segmentSize == 16 << 20)
    }

    @Test func refusesAPageWithoutTheLongHeader() {
        #expect(throws: FormatError.self) { try WALLongPageHeader(bytes: header(sysid: 42, info: 0), path: "seg") }
        #expect(throws: FormatError.self) { try WALLongPageHeader(bytes: Array(header(sysid: 42).prefix(30)), path: "seg") }
    }
}

@Suite struct BackupLabelTests {
    let text = """
    START WAL LOCATION: 0/2000028 (file 000000010000000000000002)
    CHECKPOINT LOCATION: 0/2000060
    BACKUP METHOD: streamed
    BACKUP FROM: primary
    START TIME: 2026-11-22 16:37:00 UTC
    LABEL: pgbk backup 20261122-163700F
    START TIMELINE: 1

    """

    @Test func parsesWhatPgBackupStopReturns() throws {
        let label = try BackupLabel(text: text)
        #expect(label.startLSN == LSN("0/2000028")!)
        #expect(label.startWALFile == "000000010000000000000002")
        #expect(label.checkpointLSN == LSN("0/2000060")!)
        #expect(label.startTimeline == 1)
        #expect(label.label == "pgbk backup 20261122-163700F")
    }

    @Test func rejectsALabelWithoutStartLocation() {
        let broken = text.split(separator: "\n").dropFirst().joined(separator: "\n")
        #expect(throws: FormatError.self) { try BackupLabel(text: broken) }
    }

    @Test func tablespaceMapRoundTripsAwkwardPaths() throws {
        let map = TablespaceMap(entries: [
            .init(oid: "16384", path: "/srv/ts one"),
            .init(oid: "16385", path: "/srv/back\\slash\nnew line"),
        ])
        #expect(map.text.hasPrefix("16384 /srv/ts one\n16385 /srv/back\\\\slash\\\nnew line\n"))
        #expect(try TablespaceMap(text: map.text) == map)
        #expect(throws: FormatError.self) { try TablespaceMap(text: "16384\n") }
    }
}

@Suite struct RelationFileNameTests {
    @Test func parsesForksSegmentsAndTemporaryRelations() throws {
        let main = try #require(RelationFileName("16384"))
        #expect(main.relfilenode == 16384 && main.fork == .main && main.segment == 0 && !main.isTemporary)
        let seg = try #require(RelationFileName("16384.12"))
        #expect(seg.segment == 12)
        let fsm = try #require(RelationFileName("16384_fsm"))
        #expect(fsm.fork == .fsm)
        let initFork = try #require(RelationFileName("16390_init"))
        #expect(initFork.fork == .`init`)
        let vmSeg = try #require(RelationFileName("16384_vm.1"))
        #expect(vmSeg.fork == .vm && vmSeg.segment == 1)
        let temp = try #require(RelationFileName("t3_16400"))
        #expect(temp.isTemporary && temp.relfilenode == 16400)
    }

    @Test(arguments: ["PG_VERSION", "pg_filenode.map", "16384_xyz", "16384.", "t_123", "t3_", "16384.1.2", "99999999999"])
    func ignoresOtherFiles(_ name: String) {
        #expect(RelationFileName(name) == nil)
    }
}
