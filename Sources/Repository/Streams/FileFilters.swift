import StorageInterface
import PostgresFormat

/// A stored file's bytes pass through filters between the caller and the storage, as in
/// pgBackRest's IoFilterGroup: on the way in, the original's size and CRC-32C, small writes
/// gathered, compression; on the way out the reverse. `FileFilters` composes both chains in
/// one place. Encryption is not one of these stages: it covers every file the repository
/// holds, catalog text included, so it sits in the storage (EncryptedStorage) and uses the
/// same filter interfaces there.

/// One stage of writing: bytes in, bytes handed on to the next stage (now, later, or in
/// other pieces); `finish` hands on what the stage held back.
protocol WriteFilter: AnyObject {
    func write(_ input: UnsafeRawBufferPointer, to next: (UnsafeRawBufferPointer) throws -> Void) throws
    func finish(to next: (UnsafeRawBufferPointer) throws -> Void) throws
}

/// One stage of reading: fills `buffer` from the stage before it, fewer bytes only at the
/// end (0 once ended), whatever the stages before it hand out at a time.
protocol ReadFilter: AnyObject {
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

enum FileFilters {
    /// The stages between a writer's caller and the storage stream, in order.
    static func writeChain(compression: Compression, level: Int32, path: String, checksum: Checksummed) throws -> [any WriteFilter] {
        var chain: [any WriteFilter] = [checksum, Gathered()]
        if let compressor = try compression.makeCompressor(level: level, path: path) { chain.append(Compressed(compressor)) }
        return chain
    }

    /// The storage stream's bytes as the original's, through the stages in reverse.
    static func readChain(_ stream: any StorageReadStream, compression: Compression, path: String) throws -> any ReadFilter {
        var chain: any ReadFilter = Source(stream)
        if let decompressor = try compression.makeDecompressor(path: path) { chain = Decompressed(decompressor, from: chain, path: path) }
        return chain
    }
}

/// Pushes bytes through write stages into a sink (the storage stream).
final class WritePipeline {
    private let stages: [any WriteFilter]
    private let sink: (UnsafeRawBufferPointer) throws -> Void

    init(_ stages: [any WriteFilter], sink: @escaping (UnsafeRawBufferPointer) throws -> Void) {
        self.stages = stages
        self.sink = sink
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws { try push(bytes, into: 0) }

    /// Ends each stage in order, so that what one holds back passes through the later ones.
    func finish() throws {
        for i in stages.indices { try stages[i].finish { try push($0, into: i + 1) } }
    }

    private func push(_ bytes: UnsafeRawBufferPointer, into stage: Int) throws {
        guard stage < stages.count else { return try sink(bytes) }
        try stages[stage].write(bytes) { try push($0, into: stage + 1) }
    }
}

/// The original's size and CRC-32C as it is written (a pass-through stage).
final class Checksummed: WriteFilter {
    private(set) var tally = ChecksumTally()

    func write(_ input: UnsafeRawBufferPointer, to next: (UnsafeRawBufferPointer) throws -> Void) throws {
        tally.count(input)
        try next(input)
    }

    func finish(to next: (UnsafeRawBufferPointer) throws -> Void) throws {}
}

/// The original's size and CRC-32C as it is read back (the last stage of reading).
final class ChecksummedRead: ReadFilter {
    private(set) var tally = ChecksumTally()
    private let upstream: any ReadFilter

    init(_ upstream: any ReadFilter) { self.upstream = upstream }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try upstream.read(into: buffer)
        tally.count(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        return n
    }
}

struct ChecksumTally {
    private(set) var crc = CRC32C()
    private(set) var size: UInt64 = 0

    mutating func count(_ bytes: UnsafeRawBufferPointer) {
        crc.update(bytes)
        size += UInt64(bytes.count)
    }
}

/// Small writes (page records, headers) gathered, so that the stages after see large ones.
final class Gathered: WriteFilter {
    private var pending: [UInt8] = []
    private static let limit = 1 << 20

    func write(_ input: UnsafeRawBufferPointer, to next: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard input.count < 64 << 10 else {
            try finish(to: next)
            return try next(input)
        }
        pending.append(contentsOf: input)
        if pending.count >= Self.limit { try finish(to: next) }
    }

    func finish(to next: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard !pending.isEmpty else { return }
        try pending.withUnsafeBytes { try next($0) }
        pending.removeAll(keepingCapacity: true)
    }
}

final class Compressed: WriteFilter {
    private let compressor: any StreamCompressor

    init(_ compressor: any StreamCompressor) { self.compressor = compressor }

    func write(_ input: UnsafeRawBufferPointer, to next: (UnsafeRawBufferPointer) throws -> Void) throws {
        try compressor.compress(input, finish: false, sink: next)
    }

    func finish(to next: (UnsafeRawBufferPointer) throws -> Void) throws {
        try compressor.compress(UnsafeRawBufferPointer(start: nil, count: 0), finish: true, sink: next)
    }
}

/// The storage stream, its short reads gathered into full buffers.
final class Source: ReadFilter {
    private let stream: any StorageReadStream

    init(_ stream: any StorageReadStream) { self.stream = stream }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int { try stream.read(into: buffer) }
}

/// Compressed input, pulled from the stage before in 512 KiB pieces, inflated straight into
/// the caller's buffer; the data must end where a frame ends.
final class Decompressed: ReadFilter {
    private let decompressor: any StreamDecompressor
    private let upstream: any ReadFilter
    private let path: String
    private let input = AlignedBuffer(count: 512 << 10, zeroed: false)
    private var inputEnded = false

    init(_ decompressor: any StreamDecompressor, from upstream: any ReadFilter, path: String) {
        self.decompressor = decompressor
        self.upstream = upstream
        self.path = path
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var filled = 0
        while filled < buffer.count {
            if !decompressor.hasPendingInput {
                if inputEnded {
                    guard decompressor.atFrameEnd else {
                        throw CompressionError(path: path, reason: "compressed data ends early (truncated file)")
                    }
                    break
                }
                let got = try input.withUnsafeMutableBytes { try upstream.read(into: $0) }
                if got == 0 { inputEnded = true; continue }
                input.withUnsafeBytes { decompressor.setInput(UnsafeRawBufferPointer(rebasing: $0[0..<got])) }
            }
            filled += try decompressor.decompress(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
        }
        return filled
    }
}
