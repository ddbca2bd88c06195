import CZlib

/// How stored files are compressed. `zlib` writes the gzip format, so `zcat` reads any stored
/// file in an emergency.
public enum Compression: String, Sendable, CaseIterable {
    case none
    case zlib
    case zstd
    case lz4

    public var fileSuffix: String {
        switch self {
        case .none: return ""
        case .zlib: return ".gz"
        case .zstd: return ".zst"
        case .lz4: return ".lz4"
        }
    }

    public init?(configValue: String) {
        switch configValue.lowercased() {
        case "none", "off", "false", "no": self = .none
        case "zlib", "gzip", "gz", "on", "true", "yes": self = .zlib
        case "zstd", "zst": self = .zstd
        case "lz4": self = .lz4
        default: return nil
        }
    }

    /// Levels each library accepts, and the default: fast, since backups are I/O bound.
    public var levels: ClosedRange<Int32> {
        switch self {
        case .none: return 0...0
        case .zlib: return 0...9
        case .zstd: return -7...19
        case .lz4: return 0...12
        }
    }

    public var defaultLevel: Int32 { self == .none ? 0 : 1 }

    /// Recognises a stored file's compression from its name.
    public static func of(storedName name: String) -> Compression {
        if name.hasSuffix(".gz") { return .zlib }
        if name.hasSuffix(".zst") { return .zstd }
        if name.hasSuffix(".lz4") { return .lz4 }
        return .none
    }

    func makeCompressor(level: Int32, path: String) throws -> StreamCompressor? {
        switch self {
        case .none: return nil
        case .zlib: return try GzipCompressor(level: level, path: path)
        case .zstd: return try ZstdCompressor(level: level, path: path)
        case .lz4: return try LZ4Compressor(level: level, path: path)
        }
    }

    func makeDecompressor(path: String) throws -> StreamDecompressor? {
        switch self {
        case .none: return nil
        case .zlib: return try GzipDecompressor(path: path)
        case .zstd: return try ZstdDecompressor(path: path)
        case .lz4: return try LZ4Decompressor(path: path)
        }
    }
}

public struct CompressionError: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}

/// Streaming gzip compression; memory is a fixed zlib state plus the caller's buffers.
final class GzipCompressor {
    private let stream: UnsafeMutablePointer<z_stream>
    private var output: [UInt8]
    private let path: String

    init(level: Int32, path: String, outputSize: Int = 256 << 10) throws {
        self.path = path
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        output = [UInt8](repeating: 0, count: outputSize)
        // windowBits 15 + 16: gzip wrapper instead of a raw zlib stream.
        let rc = deflateInit2_(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
                               ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else {
            stream.deallocate()
            throw CompressionError(path: path, reason: "zlib deflateInit failed (\(rc))")
        }
    }

    deinit {
        deflateEnd(stream)
        stream.deallocate()
    }

    /// Compresses `input` and hands every produced chunk to `sink`; `finish` ends the stream.
    func compress(_ input: UnsafeRawBufferPointer, finish: Bool, sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(input.count)
        let flush = finish ? Z_FINISH : Z_NO_FLUSH
        // zlib's own loop: keep going while it fills the whole output buffer.
        var full = true
        while full {
            let (produced, rc): (Int, Int32) = output.withUnsafeMutableBytes { out in
                stream.pointee.next_out = out.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.pointee.avail_out = uInt(out.count)
                let rc = deflate(stream, flush)
                return (out.count - Int(stream.pointee.avail_out), rc)
            }
            guard rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR else {
                throw CompressionError(path: path, reason: "zlib deflate failed (\(rc))")
            }
            if produced > 0 { try output.withUnsafeBytes { try sink(UnsafeRawBufferPointer(rebasing: $0[0..<produced])) } }
            full = produced == output.count
        }
    }
}

/// Streaming gzip decompression into caller-sized chunks.
final class GzipDecompressor {
    private let stream: UnsafeMutablePointer<z_stream>
    private let path: String
    private(set) var atFrameEnd = false

    init(path: String) throws {
        self.path = path
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let rc = inflateInit2_(stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else {
            stream.deallocate()
            throw CompressionError(path: path, reason: "zlib inflateInit failed (\(rc))")
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
    }

    var hasPendingInput: Bool { stream.pointee.avail_in > 0 }

    func setInput(_ input: UnsafeRawBufferPointer) {
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(input.count)
    }

    /// Inflates pending input into `out`; returns bytes produced. Input after the end of a
    /// gzip member starts the next member, as `zcat` reads concatenated members.
    func inflate(into out: UnsafeMutableRawBufferPointer) throws -> Int {
        if atFrameEnd {
            guard hasPendingInput else { return 0 }
            guard inflateReset(stream) == Z_OK else { throw CompressionError(path: path, reason: "zlib inflateReset failed") }
            atFrameEnd = false
        }
        stream.pointee.next_out = out.baseAddress!.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_out = uInt(out.count)
        let rc = CZlib.inflate(stream, Z_NO_FLUSH)
        switch rc {
        case Z_STREAM_END: atFrameEnd = true
        case Z_OK, Z_BUF_ERROR: break
        default:
            throw CompressionError(path: path, reason: "not valid gzip data (zlib error \(rc))")
        }
        return out.count - Int(stream.pointee.avail_out)
    }
}
