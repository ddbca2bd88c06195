import Testing
import TestSupport
import PostgresFormat
@testable import Repository

@Suite struct IniFileTests {
    @Test func roundTripsAnyValue() throws {
        var ini = IniFile()
        let awkward = "it's a \"label\" # not a comment\nsecond line\t\\ ünïcode"
        ini["PLAIN"] = "0/2000028"
        ini["SPACED"] = "2026-11-22 16:37:00+00"
        ini["AWKWARD"] = awkward
        ini["EMPTY"] = ""
        let text = ini.text()
        #expect(text.contains("PLAIN=0/2000028\n"))
        #expect(text.contains("SPACED='2026-11-22 16:37:00+00'\n"))
        let back = try IniFile(text: text, path: "t.ini")
        #expect(back["AWKWARD"] == awkward)
        #expect(back["EMPTY"] == "")
        #expect(back.keys == ["PLAIN", "SPACED", "AWKWARD", "EMPTY"])
    }

    @Test func readsHandWrittenLinesWithCommentsAndBlanks() throws {
        let ini = try IniFile(text: "# comment\n\n  COMPRESS = zlib   # trailing\nPGDATA='/srv/my data'\n", path: "p.ini")
        #expect(ini["COMPRESS"] == "zlib")
        #expect(ini["PGDATA"] == "/srv/my data")
    }

    @Test func namesTheBadLine() {
        #expect(throws: CatalogError.invalid("p.ini", "line 2: expected KEY=VALUE")) {
            try IniFile(text: "A=1\nnonsense\n", path: "p.ini")
        }
        #expect(throws: CatalogError.self) { try IniFile(text: "A='open\n", path: "p.ini") }
    }
}

@Suite struct SealedTextTests {
    @Test func acceptsIntactTextAndReturnsTheBody() throws {
        let sealed = SealedText.seal("A=1\nB=2\n")
        #expect(try SealedText.open(sealed, path: "x") == "A=1\nB=2\n")
    }

    @Test func detectsAFlippedByteAndATruncation() {
        let sealed = SealedText.seal("STATUS=DONE\nSTOP_LSN=0/3000100\n")
        let flipped = sealed.replacingFirst("DONE", with: "DONF")
        #expect(throws: CatalogError.self) { try SealedText.open(flipped, path: "x") }
        let truncated = String(sealed.dropLast(20))
        #expect(throws: CatalogError.self) { try SealedText.open(truncated, path: "x") }
        #expect(throws: CatalogError.self) { try SealedText.open("STATUS=OK\n", path: "x") }
    }
}

@Suite struct FileListTests {
    let entries = [
        FileEntry(kind: .directory, path: ".", mode: 0o700, mtime: 1_700_000_000),
        FileEntry(kind: .file, path: "base/1/1259", mode: 0o600, size: 8192 * 12, mtime: 1_700_000_001,
                  checksum: 0xDEAD_BEEF, storedSize: 1234),
        FileEntry(kind: .symlink, path: "pg_tblspc/16384", mode: 0o777, linkTarget: "/srv/ts with space/ü"),
        FileEntry(kind: .file, path: "notes/it's \"quoted\" ünï\tcode\nname\\x", mode: 0o644, size: 3,
                  checksum: 1, storedSize: 3),
        FileEntry(kind: .file, path: "ctrl\u{01}char\u{7f}", mode: 0o600, size: 0, checksum: 0, storedSize: 0),
    ]

    @Test func roundTripsPathsWithSpacesQuotesControlAndNonASCIICharacters() throws {
        let text = FileList.encode(entries)
        // One line per entry: nothing in a path may break the line structure.
        #expect(text.split(separator: "\n").count == entries.count + 3)
        #expect(try FileList.decode(text, path: "file.list") == entries)
    }

    @Test func refusesADamagedList() {
        let text = FileList.encode(entries)
        let damaged = text.replacingFirst("base/1/1259", with: "base/1/1258")
        #expect(throws: CatalogError.self) { try FileList.decode(damaged, path: "file.list") }
        // A syntactically bad line with a valid seal is still refused, naming the line.
        let badBody = FileList.header + "f\t0600\tnot-a-number\t0\t00000000\t0\tx\n"
        do {
            _ = try FileList.decode(SealedText.seal(badBody), path: "file.list")
            Issue.record("bad line accepted")
        } catch {
            #expect("\(error)".contains("line 3"))
        }
    }

    @Test(arguments: ["a\\", "a\\q", "a\\x4"])
    func rejectsBrokenEscapes(_ text: String) {
        #expect(FileList.unescape(Substring(text)) == nil)
    }
}

@Suite struct BackupInfoTests {
    @Test func roundTripsEveryField() throws {
        var info = BackupInfo(id: "20261122-163700F", mode: .full, status: .done, startTime: Timestamp("2026-11-22 16:37:00+00")!)
        info.timeline = 2
        info.startLSN = LSN("0/2000028")
        info.stopLSN = LSN("0/3000100")
        info.startWALFile = "000000020000000000000002"
        info.stopWALFile = "000000020000000000000003"
        info.endTime = Timestamp("2026-11-22 16:38:05+00")
        info.recoveryXID = 742
        info.recoveryTime = "2026-11-22 16:38:04.123456+00"
        info.totalDataBytes = 123_456_789
        info.readDataBytes = 123_456_789
        info.writeBytes = 45_678
        info.fileCount = 995
        info.pgVersionNum = 150_018
        info.systemIdentifier = 7_311_222_333_444_555_666
        info.dataChecksums = true
        info.compression = .zlib
        info.compressLevel = 6
        info.label = "pgbk backup 'x'"
        info.fileListChecksum = 0x0102_0304
        info.statusReason = "file base/1/1259: checksum 1, expected 2"
        let text = info.text()
        #expect(try BackupInfo(text: text, path: "backup.ini") == info)
        #expect(text.contains("STATUS=DONE\n"))
    }

    @Test func refusesANewerFormat() {
        let info = BackupInfo(id: "20261122-163700F", mode: .full, status: .ok, startTime: .now())
        let newer = SealedText.seal((try? SealedText.open(info.text(), path: "x"))!.replacingFirst("FORMAT_VERSION=1", with: "FORMAT_VERSION=9"))
        #expect(throws: CatalogError.self) { try BackupInfo(text: newer, path: "x") }
    }

    @Test func timestampsRoundTripAsUTC() throws {
        let t = try #require(Timestamp("2026-02-28 23:59:59+00"))
        #expect(t.description == "2026-02-28 23:59:59+00")
        #expect(t.compact == "20260228-235959")
        #expect(Timestamp("2026-02-28 23:59:59Z") == t)
        #expect(Timestamp("2026-02-28 23:59:59+02") == nil)
        #expect(Timestamp(seconds: 0).description == "1970-01-01 00:00:00+00")
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = self.firstRange(of: target) else { return self }
        return String(self[..<range.lowerBound]) + replacement + String(self[range.upperBound...])
    }
}
