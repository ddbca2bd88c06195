import Testing
import PostgresFormat
import StorageInterface
@testable import Repository

/// A stored file handed out 1 to 7 bytes per read, as a slow network read would.
private final class TrickleStream: StorageReadStream {
    let bytes: [UInt8]
    var offset = 0
    var seed: UInt64 = 7

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func readSome(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        seed = seed &* 6364136223846793005 &+ 1442695040888963407
        let n = min(buffer.count, bytes.count - offset, Int(seed >> 61) + 1)
        guard n > 0 else { return 0 }
        bytes.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + offset, byteCount: n) }
        offset += n
        return n
    }

    func close() {}
}

/// The file list read a chunk at a time (issue 28, item 4: a list naming a million files is
/// never held whole) gives what reading it whole gives: the same entries, the same errors.
@Suite struct SealedTextStreamTests {
    /// As Repository.forEachFileListEntry reads file.list.
    func streamed(_ bytes: [UInt8], recorded: UInt32? = nil, trickle: Bool = true) throws -> [FileEntry] {
        var parser = FileList.LineParser(path: "file.list")
        var entries: [FileEntry] = []
        let stream: any StorageReadStream = trickle ? TrickleStream(bytes) : MemoryReadStreamForTests(bytes)
        let outcome = try SealedTextStream.forEachLine(stream, path: "file.list") { line, n in
            if let entry = try parser.take(line, n) { entries.append(entry) }
        }
        try outcome.check(path: "file.list", expected: recorded, expectedIn: "backup.ini")
        try parser.finish()
        return entries
    }

    func errorText(_ body: () throws -> Any) -> String {
        do { _ = try body(); return "no error" } catch { return "\(error)" }
    }

    var cluster: [FileEntry] {
        var entries = [FileEntry(kind: .directory, path: ".", mode: 0o700),
                       FileEntry(kind: .symlink, path: "pg_tblspc/16384", mode: 0o777, linkTarget: "/srv/ts with space/ü"),
                       FileEntry(kind: .file, path: "notes/it's \"quoted\" ünï\tcode\nname\\x", mode: 0o644, size: 3, checksum: 1, storedSize: 3)]
        for n in 0..<4_000 {
            var entry = FileEntry(kind: n % 3 == 0 ? .pageDelta : .file, path: "base/16384/\(16_000 + n)", mode: 0o600,
                                  size: UInt64(n * 8192), mtime: 1_700_000_000 + Int64(n), checksum: UInt32(n), storedSize: UInt64(n))
            if n % 97 == 1 {
                entry.partSize = 8192 * 16
                entry.partChecksums = (0..<((n * 8192 + 8192 * 16 - 1) / (8192 * 16))).map { UInt32($0) }
            }
            entries.append(entry)
        }
        return entries
    }

    @Test func entriesAndChecksumAreThoseOfAWholeRead() throws {
        let text = FileList.encode(cluster)
        let bytes = Array(text.utf8)
        let whole = try FileList.decode(text, path: "file.list")
        #expect(try streamed(bytes, recorded: CRC32C.checksum(text)) == whole)
        #expect(try streamed(bytes, trickle: false) == whole)
        #expect(whole.count == cluster.count)
    }

    @Test func everyDamageIsTheErrorAWholeReadGives() throws {
        let text = FileList.encode(Array(cluster.prefix(50)))
        let body = text.split(separator: "\n").dropLast().joined(separator: "\n") + "\n"
        let damaged: [(String, String)] = [
            ("a flipped byte", text.replacingFirst("base/16384/16001", with: "base/16384/16011")),
            ("truncated", String(text.dropLast(20))),
            ("no newline at the end", String(text.dropLast())),
            ("empty", ""),
            ("only the seal", SealedText.seal("")),
            ("an unknown version", SealedText.seal(body.replacingFirst("file list 2", with: "file list 9"))),
            ("a bad line under a good seal", SealedText.seal(body + "f\t0600\tnot-a-number\t0\t00000000\t0\t-\tx\n")),
            ("a path out of the cluster", SealedText.seal(body + "f\t0600\t1\t0\t00000000\t0\t-\t../x\n")),
            ("two bad lines", SealedText.seal(body + "f\t0600\t1\n" + "zz\n")),
        ]
        for (what, variant) in damaged {
            let expected = errorText { try FileList.decode(variant, path: "file.list") }
            #expect(expected != "no error", "\(what)")
            #expect(errorText { try streamed(Array(variant.utf8)) } == expected, "\(what)")
        }
    }

    /// backup.ini's checksum is checked first, as before: a list replaced whole under a valid
    /// seal is "not the list backup.ini recorded", whatever its lines say.
    @Test func theRecordedChecksumComesFirst() {
        let text = FileList.encode(Array(cluster.prefix(10)))
        let other = SealedText.seal(FileList.header + "f\t0600\t1\n")
        #expect(errorText { try streamed(Array(other.utf8), recorded: CRC32C.checksum(text)) }
                == "file.list is corrupt: does not match the checksum recorded in backup.ini")
        #expect(errorText { try streamed(Array(text.utf8), recorded: CRC32C.checksum(text)) } == "no error")
    }

    @Test func bytesThatAreNotUTF8AreRefusedNamingTheLine() {
        var bytes = Array((FileList.header + "f\t0600\t1\t0\t00000001\t1\t-\tbase/1/\u{1}\n").utf8)
        bytes[bytes.count - 2] = 0xFF
        let sealed = bytes + Array("CHECKSUM=crc32c:\(CRC32C.hex(CRC32C.checksum(bytes)))\n".utf8)
        #expect(errorText { try streamed(sealed) } == "file.list is corrupt: line 3: not UTF-8")
    }

    @Test func aFileWithoutNewlinesIsRefusedNotHeld() {
        let endless = [UInt8](repeating: 0x41, count: 5 << 20)
        #expect(errorText { try streamed(endless, trickle: false) } == "file.list is corrupt: line 1 is longer than 4 MiB")
    }
}

/// The same bytes in 64 KiB reads.
private final class MemoryReadStreamForTests: StorageReadStream {
    let bytes: [UInt8]
    var offset = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    func readSome(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buffer.count, bytes.count - offset)
        guard n > 0 else { return 0 }
        bytes.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + offset, byteCount: n) }
        offset += n
        return n
    }
    func close() {}
}
