/// Memory aligned for O_DIRECT (see DirectFile), owned by one worker and reused for every
/// file it copies: chunks read into it are written to the device without a staging copy.
public final class AlignedBuffer {
    private let storage: UnsafeMutableRawBufferPointer

    /// `zeroed`: false for a buffer only ever read back where it was written (a read's input):
    /// zeroing one per file touched every page of it (perf: page faults and memset were a
    /// tenth of a restore of small compressed files).
    public init(count: Int, zeroed: Bool = true) {
        storage = .allocate(byteCount: count, alignment: DirectFile.alignment)
        if zeroed { storage.initializeMemory(as: UInt8.self, repeating: 0) }
    }

    deinit { storage.deallocate() }

    public var count: Int { storage.count }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(storage))
    }

    public func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try body(storage)
    }

    /// Reads from `file` until `count` bytes (at most the buffer) or the end; returns the count.
    public func read(from file: OpenFile, count: Int? = nil) throws -> Int {
        try file.read(into: UnsafeMutableRawBufferPointer(rebasing: storage[0..<min(count ?? storage.count, storage.count)]))
    }

    /// Fills the buffer from a stored file; returns the count, 0 at the end.
    public func read(from reader: StoredFileReader) throws -> Int {
        try reader.read(into: storage)
    }
}
