import Testing
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
        #expect(StoredFileReader.verify(path: path, compression: compression, size: summary.size,
                                        checksum: summary.checksum, buffer: &buffer) == nil)
        var stored = try FileSystem.readAll(path)
        stored[stored.count / 2] ^= 0x01
        try FileSystem.remove(path)
        try dir.write(FileSystem.baseName(of: path), stored)
        let reason = StoredFileReader.verify(path: path, compression: compression, size: summary.size,
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
        let reason = StoredFileReader.verify(path: path, compression: compression, size: summary.size,
                                             checksum: summary.checksum, buffer: &buffer)
        #expect(reason?.contains("truncated") == true, "\(String(describing: reason))")
        #expect(StoredFileReader.verify(path: dir.path + "/absent", compression: .none, size: 0, checksum: 0,
                                        buffer: &buffer) == "missing")
    }

    @Test func atomicWriteReplacesWholeAndLeavesNoTempFile() throws {
        let dir = try TestDirectory()
        try AtomicFile.write(dir.path + "/f", text: "old")
        try AtomicFile.write(dir.path + "/f", text: "new content")
        #expect(try FileSystem.readText(dir.path + "/f") == "new content")
        #expect(try FileSystem.list(dir.path) == ["f"])
    }
}
