#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import Repository

/// A private temporary directory, removed when the test is done.
public final class TestDirectory {
    public let path: String

    public init() throws {
        var template = Array("/tmp/pgbk-unit.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw SystemError("create temp directory", "/tmp") }
        path = String(cString: made)
    }

    deinit { try? FileSystem.removeTree(path) }

    public func write(_ name: String, _ bytes: [UInt8]) throws {
        try AtomicFile.write(path + "/" + name, bytes)
    }
}

/// Deterministic, poorly compressible bytes.
public func pseudoRandomBytes(_ count: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> [UInt8] {
    var state = seed
    var out = [UInt8](repeating: 0, count: count)
    for i in out.indices {
        state ^= state << 13; state ^= state >> 7; state ^= state << 17
        out[i] = UInt8(truncatingIfNeeded: state)
    }
    return out
}
