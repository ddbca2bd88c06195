import Testing
import TestSupport
import Repository
@testable import Engine

@Suite struct WriteBehindTests {
    @Test func writesEveryChunkInPlaceWhileTheCallerFillsTheOther() throws {
        let dir = try TestDirectory()
        let path = dir.path + "/out"
        let file = try DirectFile(creating: path)
        let writer = WriteBehind()
        let chunks = (0..<9).map { pseudoRandomBytes(1 << 16, seed: UInt64($0) + 1) }
        let buffers = [AlignedBuffer(count: 1 << 16), AlignedBuffer(count: 1 << 16)]
        // Out of order, alternating buffers as a restore worker does.
        for (n, index) in [3, 0, 8, 1, 2, 7, 4, 6, 5].enumerated() {
            let buffer = buffers[n % 2]
            buffer.withUnsafeMutableBytes { raw in chunks[index].withUnsafeBytes { raw.copyMemory(from: $0) } }
            try buffer.withUnsafeBytes { try writer.write($0, to: file, at: UInt64(index << 16)) }
        }
        try writer.wait()
        try file.finish()
        #expect(try FileSystem.readAll(path, limit: 1 << 20) == chunks.flatMap { $0 })
    }

    @Test func aFailedWriteIsRethrownByTheNextCall() throws {
        let dir = try TestDirectory()
        let file = try DirectFile(creating: dir.path + "/closed")
        file.close()  // every write now fails
        let writer = WriteBehind()
        let buffer = AlignedBuffer(count: 4096)
        try buffer.withUnsafeBytes { try writer.write($0, to: file, at: 0) }  // queued
        #expect(throws: SystemError.self) { try writer.wait() }
        try writer.wait()  // reported once
    }
}
