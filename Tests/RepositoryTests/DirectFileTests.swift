import Testing
#if canImport(Glibc)
import Glibc
#endif
import TestSupport
@testable import Repository

@Suite struct DirectFileTests {
    func contents(_ path: String) throws -> [UInt8] { try FileSystem.readAll(path, limit: 64 << 20) }

    /// An aligned copy of `bytes`, as a worker's read buffer would be.
    func withAligned<R>(_ bytes: ArraySlice<UInt8>, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, bytes.count), alignment: DirectFile.alignment)
        defer { raw.deallocate() }
        bytes.withUnsafeBytes { raw.copyMemory(from: $0) }
        return try body(UnsafeRawBufferPointer(rebasing: raw[0..<bytes.count]))
    }

    @Test func appendsUnevenAlignedAndUnalignedChunksInOrder() throws {
        let dir = try TestDirectory()
        let bytes = pseudoRandomBytes(5 << 20 + 12_345)
        let path = dir.path + "/out"
        let file = try DirectFile(creating: path)
        #expect(file.isDirect)  // /tmp here is ext4; a filesystem without O_DIRECT falls back
        var offset = 0
        // Unaligned starts, a chunk bigger than the stage, aligned chunks on an empty stage
        // (written without staging) and after a partial one, then an odd tail.
        for (size, aligned) in [(1, false), (8191, false), (3 << 20, false), (4096 * 3, true), (12_288, false),
                                (1 << 20, true), (1 << 20, true), (7, true)] where offset < bytes.count {
            let end = min(bytes.count, offset + size)
            if aligned {
                try withAligned(bytes[offset..<end]) { try file.append($0) }
            } else {
                try Array(bytes[offset..<end]).withUnsafeBytes { try file.append($0) }
            }
            offset = end
        }
        try Array(bytes[offset...]).withUnsafeBytes { try file.append($0) }
        try file.finish()
        #expect(try contents(path) == bytes)
    }

    @Test func positionalWritesFromUnalignedBuffersThenTruncate() throws {
        let dir = try TestDirectory()
        let page = 8192
        let pages = (0..<40).map { pseudoRandomBytes(page, seed: UInt64($0) + 1) }
        let path = dir.path + "/relation"
        let file = try DirectFile(creating: path, expectedSize: UInt64(40 * page))
        // Out of order, each page 4 bytes into its buffer (as in a page-delta record), a run of
        // three from an aligned buffer, and a block past the end that truncation removes.
        for block in [7, 0, 39, 12, 1, 2, 3, 4, 5, 6] {
            try ([0, 0, 0, 0] + pages[block]).withUnsafeBytes { try file.write(UnsafeRawBufferPointer(rebasing: $0[4...]), at: UInt64(block * page)) }
        }
        try withAligned(ArraySlice(pages[8] + pages[9] + pages[10])) { try file.write($0, at: UInt64(8 * page)) }
        for block in [11] + Array(13..<39) { try pages[block].withUnsafeBytes { try file.write($0, at: UInt64(block * page)) } }
        try pages[0].withUnsafeBytes { try file.write($0, at: UInt64(45 * page)) }
        try file.truncate(to: UInt64(40 * page))
        try file.finish()
        #expect(try contents(path) == pages.flatMap { $0 })
    }

    @Test func unalignedPositionalWriteFallsBackToTheCache() throws {
        let dir = try TestDirectory()
        let path = dir.path + "/odd"
        let file = try DirectFile(creating: path)
        let bytes = pseudoRandomBytes(10_000)
        try bytes.withUnsafeBytes { try file.write($0, at: 3) }
        #expect(!file.isDirect)
        try file.finish()
        #expect(try contents(path) == [0, 0, 0] + bytes)
    }

    @Test func smallFilesAreWrittenThroughTheCache() throws {
        let dir = try TestDirectory()
        let path = dir.path + "/small"
        let file = try DirectFile(creating: path, expectedSize: 100)
        #expect(!file.isDirect)
        try ([1, 2, 3] as [UInt8]).withUnsafeBytes { try file.append($0) }
        try file.finish()
        #expect(try contents(path) == [1, 2, 3])
    }

    /// `.streamed` (the repository's writes): buffered, and what reaches the device leaves
    /// the cache, the last window too, even without an fsync (a backup syncs the filesystem
    /// once at the end).
    @Test func streamedWritesLeaveTheCacheAsTheyReachTheDevice() throws {
        let dir = try TestDirectory()
        let path = dir.path + "/streamed"
        let bytes = pseudoRandomBytes(21 << 20 + 4_321)
        let file = try DirectFile(creating: path, expectedSize: UInt64(bytes.count), caching: .streamed)
        #expect(!file.isDirect)
        var offset = 0
        for size in [1, 700_000, 3 << 20, 4096, 1 << 20] + Array(repeating: 2 << 20, count: 10) where offset < bytes.count {
            let end = min(bytes.count, offset + size)
            try Array(bytes[offset..<end]).withUnsafeBytes { try file.append($0) }
            offset = end
        }
        try Array(bytes[offset...]).withUnsafeBytes { try file.append($0) }
        try file.finish(sync: false)
        let resident = try residentFraction(path)
        #expect(resident < 0.1, "\(Int(resident * 100))% of the file is still in the cache")
        #expect(try contents(path) == bytes)
    }

    /// The share of a file's pages in the page cache (mincore of a mapping).
    func residentFraction(_ path: String) throws -> Double {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw SystemError("open", path) }
        defer { close(fd) }
        let size = Int(lseek(fd, 0, SEEK_END))
        let mapped = try #require(mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0))
        defer { munmap(mapped, size) }
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        var vector = [UInt8](repeating: 0, count: (size + pageSize - 1) / pageSize)
        guard mincore(mapped, size, &vector) == 0 else { throw SystemError("mincore", path) }
        return Double(vector.filter { $0 & 1 != 0 }.count) / Double(vector.count)
    }

    @Test func refusesToOverwriteAndNamesThePath() throws {
        let dir = try TestDirectory()
        try dir.write("taken", [1])
        #expect { try DirectFile(creating: dir.path + "/taken") } throws: { "\($0)".contains(dir.path + "/taken") }
        #expect(try contents(dir.path + "/taken") == [1])
    }
}

/// Issue 22, defect 12: syncfs reports write-back errors only from Linux 5.8.
@Suite struct SyncfsKernelTests {
    @Test(arguments: [("6.1.0-18-amd64", true), ("5.8.0", true), ("5.10.0-28-cloud-amd64", true), ("6.18.44-fc-v1045", true),
                      ("5.4.0-150-generic", false), ("4.19.0-26-amd64", false), ("5.7.19", false), ("", false), ("garbage", false)])
    func syncfsIsTrustedOnlyFrom58(_ release: String, _ trusted: Bool) {
        #expect(FileSystem.kernelReportsSyncfsErrors(release: release) == trusted, "\(release)")
    }
}
