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

    @Test func roundTripsSplitEntriesAndChecksTheirPartCount() throws {
        var whole = FileEntry(kind: .file, path: "base/5/16396", mode: 0o600, size: 150 << 20, checksum: 7, storedSize: 150 << 20)
        whole.partSize = 64 << 20
        whole.partChecksums = [1, 0xFFFF_FFFF, 3]
        var delta = FileEntry(kind: .pageDelta, path: "base/5/16396.1", mode: 0o600, size: 64 << 20, checksum: 9, storedSize: 100)
        delta.partSize = 32 << 20
        delta.partChecksums = [4, 5]
        let text = FileList.encode(entries + [whole, delta])
        #expect(text.contains("\t67108864:00000001,ffffffff,00000003\tbase/5/16396\n"))
        #expect(try FileList.decode(text, path: "file.list") == entries + [whole, delta])

        // Three parts of 64 MiB cannot hold 200 MiB; a directory has no parts.
        var wrong = whole
        wrong.size = 200 << 20
        #expect { try FileList.decode(FileList.encode([wrong]), path: "file.list") } throws: { "\($0)".contains("3 parts") }
        let dirWithParts = FileList.header + "d\t0700\t0\t0\t-\t0\t8192:00000001\tbase\n"
        #expect(throws: CatalogError.self) { try FileList.decode(SealedText.seal(dirWithParts), path: "file.list") }
    }

    @Test func readsVersionOneListsWrittenBeforeParts() throws {
        let v1 = "# pgbk file list 1\n# type\tmode\tsize\tmtime\tcrc32c\tstored_size\tpath\tlink_target\n"
            + "d\t0700\t0\t5\t-\t0\t.\nf\t0600\t8192\t6\tdeadbeef\t100\tbase/1/1259\nl\t0777\t0\t0\t-\t0\tpg_tblspc/1\t/srv/ts\n"
        let decoded = try FileList.decode(SealedText.seal(v1), path: "file.list")
        #expect(decoded.map(\.path) == [".", "base/1/1259", "pg_tblspc/1"])
        #expect(decoded[1].checksum == 0xDEAD_BEEF && !decoded[1].isSplit && decoded[2].linkTarget == "/srv/ts")
        let future = v1.replacingFirst("file list 1", with: "file list 3")
        #expect { try FileList.decode(SealedText.seal(future), path: "file.list") } throws: { "\($0)".contains("known version") }
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
        let newer = SealedText.seal((try? SealedText.open(info.text(), path: "x"))!.replacingFirst("FORMAT_VERSION=2", with: "FORMAT_VERSION=9"))
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

@Suite struct FileLookupTests {
    @Test func everyPathIsFoundAndNoOther() {
        let paths = ["base/5/16384", "base/5/16384.1", "base/5/16384_fsm", "base-x", "PG_VERSION", "global/pg_control", "é/ü", "."]
        let lookup = FileLookup(paths.shuffled().map { FileEntry(kind: .file, path: $0, mode: 0o600, checksum: 1) })
        #expect(lookup.count == paths.count)
        for path in paths { #expect(lookup[path]?.path == path) }
        for missing in ["base/5/1638", "base/5/16384.2", "", "zzz", "base"] { #expect(lookup[missing] == nil, "\(missing)") }
        #expect(FileLookup([])["x"] == nil)
    }
}

/// pgbk's one timestamp parser: the catalog's UTC times and the zones a DBA types.
@Suite struct TimestampParserTests {
    @Test func catalogTimesAreUTCAndOtherZonesAreRefused() throws {
        let t = try #require(Timestamp("2026-01-02 03:04:05+00"))
        for same in ["2026-01-02 03:04:05", "2026-01-02T03:04:05Z", "2026-01-02 03:04:05 UTC", "2026-01-02 03:04:05+00:00",
                     " 2026-01-02 03:04:05.999+00 "] {
            #expect(Timestamp(same) == t, "\(same)")
        }
        #expect(t.description == "2026-01-02 03:04:05+00")
        for refused in ["2026-01-02 03:04:05+02", "2026-13-02 03:04:05", "2026-01-02", "yesterday", "2026-01-02 03:04:05 EST"] {
            #expect(Timestamp(refused) == nil, "\(refused)")
        }
    }

    @Test func zonesMoveTheInstant() throws {
        let utc = try #require(Timestamp.parse("2026-01-02 03:04:05.25Z"))
        #expect(utc.micros == Int64(Timestamp("2026-01-02 03:04:05")!.seconds) * 1_000_000 + 250_000 && utc.zoneOffset == 0)
        #expect(Timestamp.parse("2026-01-02 05:04:05.25+02")?.micros == utc.micros)
        #expect(Timestamp.parse("2026-01-01 22:34:05.25-04:30")?.micros == utc.micros)
        #expect(Timestamp.parse("2026-01-02 03:04:05")?.zoneOffset == nil, "no zone: local time, and said so")
    }
}
