import Testing
import Foundation
@testable import TarStream

/// TarReader on archives GNU tar makes: files (empty, odd-sized, larger than the buffer),
/// a name past ustar's 100 bytes, a directory and a symbolic link, fed in pieces of odd
/// sizes as BASE_BACKUP's CopyData messages arrive; a cut archive and a failing source are
/// errors, never a short member passed off as whole.
@Suite struct TarReaderTests {
    struct Made {
        let tar: Data
        let files: [String: Data]
    }

    func makeArchive() throws -> Made {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tarreader-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("src/sub"), withIntermediateDirectories: true)
        let longName = "sub/" + String(repeating: "n", count: 140)
        var files: [String: Data] = ["empty": Data(), "odd": Data((0..<1001).map { UInt8($0 % 251) }),
                                     longName: Data(repeating: 7, count: 3000)]
        files["big"] = Data((0..<(3 << 20) + 17).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        for (name, content) in files { try content.write(to: dir.appendingPathComponent("src/" + name)) }
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("src/link").path, withDestinationPath: "/somewhere/else")
        let tar = Process()
        tar.executableURL = URL(fileURLWithPath: "/usr/bin/tar")
        tar.arguments = ["-cf", dir.appendingPathComponent("a.tar").path, "-C", dir.appendingPathComponent("src").path, "."]
        try tar.run()
        tar.waitUntilExit()
        #expect(tar.terminationStatus == 0)
        defer { try? FileManager.default.removeItem(at: dir) }
        return Made(tar: try Data(contentsOf: dir.appendingPathComponent("a.tar")), files: files)
    }

    /// A source that hands out `data` in pieces of `piece` bytes (a read that fills, as the
    /// storage contract has it, is not assumed of the network).
    func source(_ data: Data, piece: Int, failAt: Int? = nil) -> (UnsafeMutableRawBufferPointer) throws -> Int {
        nonisolated(unsafe) var offset = 0
        return { buffer in
            if let failAt, offset >= failAt { throw TarReader.Failure(description: "the connection was lost") }
            let n = min(piece, buffer.count, data.count - offset)
            data.copyBytes(to: buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), from: offset..<offset + n)
            offset += n
            return n
        }
    }

    func readAll(_ reader: TarReader) throws -> (entries: [TarReader.Entry], contents: [String: Data]) {
        var entries: [TarReader.Entry] = []
        var contents: [String: Data] = [:]
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
        defer { buffer.deallocate() }
        while let entry = try reader.next() {
            entries.append(entry)
            guard entry.kind == .file else { continue }
            var content = Data()
            while true {
                let n = try reader.read(into: buffer)
                if n == 0 { break }
                content.append(contentsOf: buffer[0..<n])
            }
            contents[entry.path] = content
        }
        return (entries, contents)
    }

    @Test(arguments: [7, 511, 8193, 1 << 20])
    func everyMemberReadsBackWhateverThePieces(_ piece: Int) throws {
        let made = try makeArchive()
        let reader = try TarReader(name: "a.tar", source: source(made.tar, piece: piece))
        let (entries, contents) = try readAll(reader)
        #expect(contents == made.files)
        for entry in entries where entry.kind == .file { #expect(entry.size == UInt64(made.files[entry.path]?.count ?? -1)) }
        #expect(entries.contains { $0.kind == .symlink && $0.path == "link" && $0.linkTarget == "/somewhere/else" })
        #expect(entries.contains { $0.kind == .directory && $0.path == "sub" })
    }

    @Test func aCutArchiveAndALostSourceAreErrors() throws {
        let made = try makeArchive()
        // Cut inside "big": its member cannot be read whole.
        let cut = made.tar.prefix(made.tar.count / 2)
        #expect(throws: (any Error).self) { _ = try readAll(try TarReader(name: "cut.tar", source: source(cut, piece: 4096))) }
        #expect(throws: TarReader.Failure.self) {
            _ = try readAll(try TarReader(name: "lost.tar", source: source(made.tar, piece: 4096, failAt: 100_000)))
        }
    }
}
