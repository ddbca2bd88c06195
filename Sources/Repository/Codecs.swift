import CLZ4
import CZstd

/// A streaming compressor: feed input, hand every produced chunk to the sink.
protocol StreamCompressor: AnyObject {
    func compress(_ input: UnsafeRawBufferPointer, finish: Bool, sink: (UnsafeRawBufferPointer) throws -> Void) throws
}

/// A streaming decompressor: set input, pull output until it has none left.
protocol StreamDecompressor: AnyObject {
    var finished: Bool { get }
    var hasPendingInput: Bool { get }
    func setInput(_ input: UnsafeRawBufferPointer)
    func decompress(into out: UnsafeMutableRawBufferPointer) throws -> Int
}

extension GzipCompressor: StreamCompressor {}
extension GzipDecompressor: StreamDecompressor {
    func decompress(into out: UnsafeMutableRawBufferPointer) throws -> Int { try inflate(into: out) }
}

final class ZstdCompressor: StreamCompressor {
    private let context: OpaquePointer
    private var output: [UInt8]
    private let path: String

    init(level: Int32, path: String) throws {
        guard let context = ZSTD_createCCtx() else { throw CompressionError(path: path, reason: "zstd: out of memory") }
        self.context = context
        self.path = path
        output = [UInt8](repeating: 0, count: Int(ZSTD_CStreamOutSize()))
        ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level)
        ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1)
    }

    deinit { ZSTD_freeCCtx(context) }

    func compress(_ input: UnsafeRawBufferPointer, finish: Bool, sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        var inBuffer = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        let mode = finish ? ZSTD_e_end : ZSTD_e_continue
        while true {
            let (produced, remaining): (Int, Int) = try output.withUnsafeMutableBytes { out in
                var outBuffer = ZSTD_outBuffer(dst: out.baseAddress, size: out.count, pos: 0)
                let rc = ZSTD_compressStream2(context, &outBuffer, &inBuffer, mode)
                if ZSTD_isError(rc) != 0 {
                    throw CompressionError(path: path, reason: "zstd: " + String(cString: ZSTD_getErrorName(rc)))
                }
                return (outBuffer.pos, rc)
            }
            if produced > 0 { try output.withUnsafeBytes { try sink(UnsafeRawBufferPointer(rebasing: $0[0..<produced])) } }
            let done = finish ? remaining == 0 : inBuffer.pos == inBuffer.size
            if done { return }
        }
    }
}

final class ZstdDecompressor: StreamDecompressor {
    private let context: OpaquePointer
    private var input = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
    private let path: String
    private(set) var finished = false

    init(path: String) throws {
        guard let context = ZSTD_createDCtx() else { throw CompressionError(path: path, reason: "zstd: out of memory") }
        self.context = context
        self.path = path
    }

    deinit { ZSTD_freeDCtx(context) }

    var hasPendingInput: Bool { input.pos < input.size }

    func setInput(_ buffer: UnsafeRawBufferPointer) {
        input = ZSTD_inBuffer(src: buffer.baseAddress, size: buffer.count, pos: 0)
    }

    func decompress(into out: UnsafeMutableRawBufferPointer) throws -> Int {
        guard !finished else { return 0 }
        var output = ZSTD_outBuffer(dst: out.baseAddress, size: out.count, pos: 0)
        let rc = ZSTD_decompressStream(context, &output, &input)
        if ZSTD_isError(rc) != 0 {
            throw CompressionError(path: path, reason: "not valid zstd data (" + String(cString: ZSTD_getErrorName(rc)) + ")")
        }
        if rc == 0 { finished = true }
        return output.pos
    }
}

final class LZ4Compressor: StreamCompressor {
    private var context: OpaquePointer?
    private var preferences = LZ4F_preferences_t()
    private var output: [UInt8] = []
    private var started = false
    private let path: String

    init(level: Int32, path: String) throws {
        self.path = path
        guard LZ4F_isError(LZ4F_createCompressionContext(&context, UInt32(LZ4F_VERSION))) == 0, context != nil else {
            throw CompressionError(path: path, reason: "lz4: cannot create a context")
        }
        preferences.compressionLevel = level
        preferences.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled
    }

    deinit { LZ4F_freeCompressionContext(context) }

    private func check(_ rc: Int) throws -> Int {
        if LZ4F_isError(rc) != 0 { throw CompressionError(path: path, reason: "lz4: " + String(cString: LZ4F_getErrorName(rc))) }
        return rc
    }

    func compress(_ input: UnsafeRawBufferPointer, finish: Bool, sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        let needed = LZ4F_compressBound(input.count, &preferences) + 64
        if output.count < needed { output = [UInt8](repeating: 0, count: needed) }
        var produced = 0
        try output.withUnsafeMutableBytes { out in
            if !started {
                produced += try check(LZ4F_compressBegin(context, out.baseAddress, out.count, &preferences))
                started = true
            }
            if input.count > 0 {
                produced += try check(LZ4F_compressUpdate(context, out.baseAddress! + produced, out.count - produced,
                                                          input.baseAddress, input.count, nil))
            }
            if finish {
                produced += try check(LZ4F_compressEnd(context, out.baseAddress! + produced, out.count - produced, nil))
            }
        }
        if produced > 0 { try output.withUnsafeBytes { try sink(UnsafeRawBufferPointer(rebasing: $0[0..<produced])) } }
    }
}

final class LZ4Decompressor: StreamDecompressor {
    private var context: OpaquePointer?
    private var input: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)
    private var position = 0
    private let path: String
    private(set) var finished = false

    init(path: String) throws {
        self.path = path
        guard LZ4F_isError(LZ4F_createDecompressionContext(&context, UInt32(LZ4F_VERSION))) == 0, context != nil else {
            throw CompressionError(path: path, reason: "lz4: cannot create a context")
        }
    }

    deinit { LZ4F_freeDecompressionContext(context) }

    var hasPendingInput: Bool { position < input.count }

    func setInput(_ buffer: UnsafeRawBufferPointer) {
        input = buffer
        position = 0
    }

    func decompress(into out: UnsafeMutableRawBufferPointer) throws -> Int {
        guard !finished else { return 0 }
        var outSize = out.count
        var inSize = input.count - position
        let rc = LZ4F_decompress(context, out.baseAddress, &outSize, input.baseAddress.map { $0 + position }, &inSize, nil)
        if LZ4F_isError(rc) != 0 {
            throw CompressionError(path: path, reason: "not valid lz4 data (" + String(cString: LZ4F_getErrorName(rc)) + ")")
        }
        position += inSize
        if rc == 0 { finished = true }
        return outSize
    }
}
