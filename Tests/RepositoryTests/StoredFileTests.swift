import Testing
import CZstd
import TestSupport
import PostgresFormat
@testable import Repository

@Suite struct StoredFileTests {
    func store(_ bytes: [UInt8], _ compression: Compression, in dir: TestDirectory) throws -> (String, StoredFileSummary) {
        let path = dir.path + "/stored" + compression.fileSuffix
        let writer = try StoredFileWriter(path: path, compression: compression, level: 1)
        var offset = 0
        // Uneven chunk sizes, as reads from a live file produce.
        for size in [1, 8191, 1 << 20, 3, 5_000_000] where offset < bytes.count {
            let end = min(bytes.count, offset + size)
            try Array(bytes[offset..<end]).withUnsafeBytes { try writer.write($0) }
            offset = end
        }
        try Array(bytes[offset...]).withUnsafeBytes { try writer.write($0) }
        return (path, try writer.commit())
    }

    @Test(arguments: Compression.allCases)
    func roundTripsInChunksAndRecordsChecksumOfTheOriginal(_ compression: Compression) throws {
        let dir = try TestDirectory()
        // Half random, half zeros: compressible but not trivially.
        let bytes = pseudoRandomBytes(3 << 20) + [UInt8](repeating: 0, count: 3 << 20)
        let (path, summary) = try store(bytes, compression, in: dir)
        #expect(summary.size == UInt64(bytes.count))
        #expect(summary.checksum == CRC32C.checksum(bytes))
        #expect(summary.storedSize == (try FileSystem.status(path).size))
        if compression != .none { #expect(summary.storedSize < summary.size * 3 / 4) }
        // No temp file is left beside it.
        #expect(try FileSystem.list(dir.path) == [FileSystem.baseName(of: path)])

        let reader = try StoredFileReader(path: path, compression: compression)
        var buffer = [UInt8](repeating: 0, count: 100_000)
        var back: [UInt8] = []
        while true {
            let n = try reader.read(into: &buffer)
            if n == 0 { break }
            back += buffer[0..<n]
        }
        #expect(back == bytes)
        #expect(reader.checksum == summary.checksum)
    }

    @Test(arguments: Compression.allCases)
    func verifyNamesAFlippedByte(_ compression: Compression) throws {
        let dir = try TestDirectory()
        let bytes = pseudoRandomBytes(200_000)
        let (path, summary) = try store(bytes, compression, in: dir)
        var buffer = [UInt8](repeating: 0, count: 65536)
        #expect(try StoredFileReader.verify(path: path, compression: compression, size: summary.size,
                                        checksum: summary.checksum, buffer: &buffer) == nil)
        var stored = try FileSystem.readAll(path)
        stored[stored.count / 2] ^= 0x01
        try FileSystem.remove(path)
        try dir.write(FileSystem.baseName(of: path), stored)
        let reason = try StoredFileReader.verify(path: path, compression: compression, size: summary.size,
                                             checksum: summary.checksum, buffer: &buffer)
        #expect(reason != nil)
    }

    @Test(arguments: [Compression.zlib, .zstd, .lz4])
    func detectsTruncatedCompressedData(_ compression: Compression) throws {
        let dir = try TestDirectory()
        let (path, summary) = try store(pseudoRandomBytes(300_000), compression, in: dir)
        let stored = try FileSystem.readAll(path)
        try FileSystem.remove(path)
        try dir.write(FileSystem.baseName(of: path), Array(stored.prefix(stored.count - 100)))
        var buffer = [UInt8](repeating: 0, count: 65536)
        let reason = try StoredFileReader.verify(path: path, compression: compression, size: summary.size,
                                             checksum: summary.checksum, buffer: &buffer)
        #expect(reason?.contains("truncated") == true, "\(String(describing: reason))")
        #expect(try StoredFileReader.verify(path: dir.path + "/absent", compression: .none, size: 0, checksum: 0,
                                        buffer: &buffer) == "missing")
    }

    /// zstd contexts are kept for the next file: one abandoned mid-frame, or stopped by
    /// a truncation, must hand on nothing of its stream to the next reader.
    @Test func aDecompressionContextReusedAfterAnAbandonedOrDamagedFileStartsClean() throws {
        let dir = try TestDirectory()
        let (first, _) = try store(pseudoRandomBytes(2 << 20), .zstd, in: dir)
        let damaged = dir.path + "/damaged.zst"
        try dir.write("damaged.zst", Array(try FileSystem.readAll(first).dropLast(1000)))  // truncated
        let expected = pseudoRandomBytes(700_000) + [UInt8](repeating: 3, count: 100_000)
        let second = dir.path + "/second.zst"
        let writer = try StoredFileWriter(path: second, compression: .zstd, level: 3)
        try writer.write(expected)
        _ = try writer.commit()
        var buffer = [UInt8](repeating: 0, count: 65536)
        for _ in 0..<8 {
            let abandoned = try StoredFileReader(path: first, compression: .zstd)
            _ = try abandoned.read(into: &buffer)
            abandoned.close()
            let broken = try StoredFileReader(path: damaged, compression: .zstd)
            #expect(throws: (any Error).self) { while try broken.read(into: &buffer) > 0 {} }
            broken.close()
            let reader = try StoredFileReader(path: second, compression: .zstd)
            var back: [UInt8] = []
            while case let n = try reader.read(into: &buffer), n > 0 { back += buffer[0..<n] }
            reader.close()
            #expect(back == expected)
        }
    }

    @Test func atomicWriteReplacesWholeAndLeavesNoTempFile() throws {
        let dir = try TestDirectory()
        try AtomicFile.write(dir.path + "/f", text: "old")
        try AtomicFile.write(dir.path + "/f", text: "new content")
        #expect(try FileSystem.readText(dir.path + "/f") == "new content")
        #expect(try FileSystem.list(dir.path) == ["f"])
    }
}

@Suite struct FrameTests {
    func store(_ bytes: [UInt8], _ compression: Compression, at path: String) throws -> StoredFileSummary {
        let writer = try StoredFileWriter(path: path, compression: compression, level: 3)
        try writer.write(bytes)
        return try writer.commit()
    }

    func readBack(_ path: String, _ compression: Compression) throws -> [UInt8] {
        let reader = try StoredFileReader(path: path, compression: compression)
        defer { reader.close() }
        var buffer = [UInt8](repeating: 0, count: 300_000)  // not a multiple of a zstd frame
        var out: [UInt8] = []
        while true {
            let n = try reader.read(into: &buffer)
            if n == 0 { break }
            out += buffer[0..<n]
        }
        return out
    }

    @Test func zstdDataIsFramesOfKnownSizeThatDecompressInOnePass() throws {
        let dir = try TestDirectory()
        let bytes = pseudoRandomBytes(1 << 20) + [UInt8](repeating: 7, count: 300_001)
        let path = dir.path + "/f.zst"
        let summary = try store(bytes, .zstd, at: path)
        let stored = try FileSystem.readAll(path)
        var offset = 0
        var sizes: [UInt64] = []
        try stored.withUnsafeBytes { raw in
            while offset < raw.count {
                let frame = UnsafeRawBufferPointer(rebasing: raw[offset...])
                sizes.append(ZSTD_getFrameContentSize(frame.baseAddress, frame.count))
                let length = ZSTD_findFrameCompressedSize(frame.baseAddress, frame.count)
                guard ZSTD_isError(length) == 0 else { throw CompressionError(path: path, reason: "bad frame") }
                offset += length
            }
        }
        let frame = UInt64(ZstdCompressor.frameSize)
        #expect(sizes == Array(repeating: frame, count: bytes.count / Int(frame)) + [UInt64(bytes.count) % frame])
        #expect(try readBack(path, .zstd) == bytes)
        #expect(summary.checksum == CRC32C.checksum(bytes))
        // An empty file is one empty frame, still valid zstd data.
        _ = try store([], .zstd, at: dir.path + "/empty.zst")
        #expect(try readBack(dir.path + "/empty.zst", .zstd) == [])
    }

    @Test(arguments: [Compression.zlib, .zstd, .lz4])
    func concatenatedStreamsReadAsOneAndACutAtAFrameEndIsCaughtBySize(_ compression: Compression) throws {
        let dir = try TestDirectory()
        let a = pseudoRandomBytes(200_000, seed: 1), b = pseudoRandomBytes(50_000, seed: 2)
        _ = try store(a, compression, at: dir.path + "/a")
        _ = try store(b, compression, at: dir.path + "/b")
        let first = try FileSystem.readAll(dir.path + "/a")
        try dir.write("ab", first + (try FileSystem.readAll(dir.path + "/b")))
        #expect(try readBack(dir.path + "/ab", compression) == a + b)
        // Garbage after the last frame is an error, not ignored.
        try dir.write("trailing", first + [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
        #expect(throws: CompressionError.self) { _ = try readBack(dir.path + "/trailing", compression) }
        // Only a's frames of a+b: the data ends cleanly, so the recorded size is what tells.
        var buffer = [UInt8](repeating: 0, count: 65536)
        let reason = try StoredFileReader.verify(path: dir.path + "/a", compression: compression, size: UInt64(a.count + b.count),
                                             checksum: CRC32C.checksum(a + b), buffer: &buffer)
        #expect(reason?.contains("size 200000") == true, "\(String(describing: reason))")
    }
}

/// VerifiedCopy: the object byte for byte when its content is what the catalog says;
/// nothing under the name, and a reason, when it is not.
@Suite struct VerifiedCopyTests {
    @Test(arguments: Compression.allCases)
    func aCopyIsCommittedOnlyWhenItsContentIsTheRecordedOne(_ compression: Compression) throws {
        let dir = try TestDirectory()
        let bytes = pseudoRandomBytes(1 << 20) + [UInt8](repeating: 7, count: 2 << 20)
        let source = PosixStorage(root: dir.path)
        let writer = try StoredFileWriter(storage: source, name: "f", compression: compression, level: 1)
        try writer.write(bytes)
        let summary = try writer.commit()
        let target = MemoryStorage(readsReturnAtMost: 4096)
        var buffer = [UInt8](repeating: 0, count: 65_536)

        let good = try VerifiedCopy.copy("f", from: source, to: target, compression: compression,
                                         content: StoredContent(size: summary.size, checksum: summary.checksum), buffer: &buffer)
        #expect(good.problem == nil && good.bytes == summary.storedSize)
        #expect(try target.readAll("f") == (try source.readAll("f")))

        // The same object against another checksum (a damaged source): nothing is stored.
        let damaged = try VerifiedCopy.copy("f", from: source, to: target, compression: compression,
                                            content: StoredContent(size: summary.size, checksum: summary.checksum ^ 1), buffer: &buffer)
        #expect(damaged.problem?.contains("checksum") == true)
        let other = MemoryStorage()
        let refused = try VerifiedCopy.copy("f", from: source, to: other, compression: compression,
                                            content: StoredContent(size: summary.size + 1, checksum: summary.checksum), buffer: &buffer)
        #expect(refused.problem?.contains("size") == true)
        #expect(try other.info("f") == nil)
        let missing = try VerifiedCopy.copy("absent", from: source, to: other, compression: compression,
                                            content: StoredContent(size: nil, checksum: 0), buffer: &buffer)
        #expect(missing.problem == "missing")
        #expect(try other.info("absent") == nil)
    }
}
