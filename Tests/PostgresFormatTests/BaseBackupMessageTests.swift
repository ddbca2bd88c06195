import Testing
@testable import PostgresFormat

/// BASE_BACKUP's typed CopyData messages (15+), on synthetic bytes.
@Suite struct BaseBackupMessageTests {
    @Test func eachTypeParses() throws {
        #expect(try BaseBackupMessage.parse(Array("nbase.tar\0\0".utf8)) == .newArchive(name: "base.tar", tablespaceLocation: nil))
        #expect(try BaseBackupMessage.parse(Array("n16384.tar\0/srv/ts1\0".utf8)) == .newArchive(name: "16384.tar", tablespaceLocation: "/srv/ts1"))
        #expect(try BaseBackupMessage.parse([UInt8(ascii: "d"), 1, 2, 3]) == .data(payloadOffset: 1))
        #expect(try BaseBackupMessage.parse([UInt8(ascii: "p"), 0, 0, 0, 0, 0, 1, 0, 0]) == .progress(65536))
        #expect(try BaseBackupMessage.parse([UInt8(ascii: "m")]) == .manifest)
    }

    @Test func malformedOnesAreRefused() {
        for bad in [[], Array("nbase.tar".utf8), Array("n\0\0".utf8), [UInt8(ascii: "p"), 1], [UInt8(ascii: "x")]] as [[UInt8]] {
            #expect(throws: FormatError.self) { try BaseBackupMessage.parse(bad) }
        }
    }
}
