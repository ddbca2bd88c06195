import StorageInterface
import Synchronization

/// Reads of bundled files that follow one another in a bundle, served from one larger read.
/// Restore and validate take files in the order a backup wrote them (the file list's), so
/// each bundle is read front to back, one small file after another:
/// one ranged GET per file would make a restore of 100,000 small files 100,000 requests.
/// Once a read starts where the previous one of that bundle ended (or a little after: files
/// taken by other workers, or left out), the next `windowSize` bytes of the bundle are read
/// at once and the files inside are served from memory. Reads out of that order read their
/// own range only, as before, so no order costs more than one request per file.
final class BundleWindows: Sendable {
    static let windowSize: UInt64 = 1 << 20
    /// As many bundles as a backup fills at once (one per worker, -j 2 to 4 usually).
    static let kept = 4

    private struct Window {
        let bundle: String
        let start: UInt64
        let bytes: [UInt8]
        func holds(_ bundle: String, _ range: Range<UInt64>) -> Bool {
            bundle == self.bundle && range.lowerBound >= start && range.upperBound <= start + UInt64(bytes.count)
        }
    }

    private let state = Mutex<(windows: [Window], lastEnd: [String: UInt64])>(([], [:]))

    /// The member's bytes from memory, or nil to read them from the store.
    func read(_ bundle: String, _ range: Range<UInt64>, bundleSize: UInt64, from storage: any RepositoryStorage) throws -> [UInt8]? {
        guard UInt64(range.count) <= Self.windowSize / 4 else { return nil }
        let (cached, sequential) = state.withLock { s -> ([UInt8]?, Bool) in
            if let i = s.windows.lastIndex(where: { $0.holds(bundle, range) }) {
                let w = s.windows[i]
                let from = Int(range.lowerBound - w.start)
                return (Array(w.bytes[from..<from + range.count]), false)
            }
            let previous = s.lastEnd[bundle]
            s.lastEnd[bundle] = range.upperBound
            return (nil, previous.map { range.lowerBound >= $0 && range.lowerBound - $0 < Self.windowSize } ?? false)
        }
        if let cached { return cached }
        guard sequential else { return nil }
        let end = min(bundleSize, range.lowerBound + Self.windowSize)
        guard end >= range.upperBound else { return nil }
        let stream = try storage.openRead(bundle, range: range.lowerBound..<end)
        defer { stream.close() }
        var bytes = [UInt8](repeating: 0, count: Int(end - range.lowerBound))
        let n = try bytes.withUnsafeMutableBytes { try stream.read(into: $0) }
        // A short bundle: the member's own read reports it, naming the file.
        guard n == bytes.count else { return nil }
        state.withLock { s in
            s.windows.append(Window(bundle: bundle, start: range.lowerBound, bytes: bytes))
            if s.windows.count > Self.kept { s.windows.removeFirst() }
            s.lastEnd[bundle] = range.upperBound
        }
        return Array(bytes[0..<range.count])
    }
}

/// A file's bytes already in memory.
final class BytesReadStream: StorageReadStream {
    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func readSome(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buffer.count, bytes.count - offset)
        guard n > 0 else { return 0 }
        bytes.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<offset + n])) }
        offset += n
        return n
    }

    func close() {}
}
