import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Where restored bytes go: a new file written behind the caller (DirectFile, `.streamed`) (a restore into
/// an empty directory), or a file already there of which only what differs is rewritten (a
/// delta restore).
protocol RestoreSink: AnyObject {
    /// Takes `bytes` for `offset`. The buffer is not touched after the next `write` or `drain`
    /// returns, so the caller may refill it then (two buffers alternate).
    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws
    /// Returns once every write so far is done; rethrows the first error.
    func drain() throws
    func truncate(to size: UInt64) throws
    /// Drains, fsyncs (when `sync`) and closes; see DirectFile.finish.
    func finish(sync: Bool) throws
    /// Closes without syncing, after an error.
    func close()
    /// Bytes actually written to the file.
    var bytesWritten: UInt64 { get }
}

/// A new file, written by WriteBehind's thread while the worker fills the next buffer.
final class DirectSink: RestoreSink {
    let file: DirectFile
    private let writeBehind: WriteBehind
    private(set) var bytesWritten: UInt64 = 0

    init(_ file: DirectFile, writeBehind: WriteBehind) {
        self.file = file
        self.writeBehind = writeBehind
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        try writeBehind.write(bytes, to: file, at: offset)
        bytesWritten += UInt64(bytes.count)
    }

    func drain() throws { try writeBehind.wait() }
    func truncate(to size: UInt64) throws { try file.truncate(to: size) }

    func finish(sync: Bool) throws {
        try drain()
        try file.finish(sync: sync)
    }

    func close() { file.close() }
}

/// A file the target already has: each block is compared with what is there and written only
/// where it differs, so that rebuilding a node writes what changed, not the whole cluster.
/// A block is the relation page size: a page changed in a relation file costs one page write.
final class ComparingSink: RestoreSink {
    let file: OpenFile
    let blockSize: Int
    private let local: UnsafeMutableRawBufferPointer
    private(set) var bytesWritten: UInt64 = 0

    init(_ file: OpenFile, blockSize: Int) {
        self.file = file
        self.blockSize = blockSize
        local = .allocate(byteCount: 1 << 20, alignment: DirectFile.alignment)
    }

    deinit { local.deallocate() }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        var done = 0
        while done < bytes.count {
            let count = min(local.count, bytes.count - done)
            let at = offset + UInt64(done)
            let present = try file.read(into: UnsafeMutableRawBufferPointer(rebasing: local[0..<count]), at: at)
            // Runs of differing blocks, each written with one call.
            var runStart: Int?
            var block = 0
            while block < count {
                let length = min(blockSize, count - block)
                let same = block + length <= present
                    && memcmp(bytes.baseAddress! + done + block, local.baseAddress! + block, length) == 0
                if !same && runStart == nil { runStart = block }
                if same, let start = runStart {
                    try flush(bytes, from: done + start, count: block - start, at: at + UInt64(start))
                    runStart = nil
                }
                block += length
            }
            if let start = runStart { try flush(bytes, from: done + start, count: count - start, at: at + UInt64(start)) }
            done += count
        }
    }

    private func flush(_ bytes: UnsafeRawBufferPointer, from index: Int, count: Int, at offset: UInt64) throws {
        try file.write(UnsafeRawBufferPointer(rebasing: bytes[index..<index + count]), at: offset)
        bytesWritten += UInt64(count)
    }

    func drain() throws {}
    func truncate(to size: UInt64) throws { try file.truncate(to: size) }

    func finish(sync: Bool) throws {
        if sync { try file.sync() }
        try file.closeChecked()
    }

    func close() { file.close() }
}
