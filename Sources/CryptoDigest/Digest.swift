import CObjectStoreLoader
import PostgresFormat

/// SHA-256, HMAC-SHA-256 and MD5 from libcrypto (loaded on first use, see CObjectStoreLoader.h):
/// SigV4 and payload checksums for S3, and the checksum of a restore's backup_manifest.
/// Nothing of the kind is written by hand.
public enum Digest {
    /// Loads libcrypto; throws why it cannot be (a message naming the package to install).
    public static func load() throws {
        if let message = pgbk_crypto_load() { throw LoadError(message: String(cString: message)) }
    }

    public struct LoadError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    public static func sha256(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        let stream = SHA256Stream()
        stream.update(bytes)
        return stream.finish()
    }

    /// SHA-256 of data that comes in pieces (a long text written as it is made). Call
    /// `load()` first.
    public final class SHA256Stream {
        private let context: OpaquePointer

        public init() {
            guard let context = pgbk_sha256_new() else { preconditionFailure("libcrypto SHA-256 failed") }
            self.context = context
        }

        deinit { pgbk_sha256_free(context) }

        public func update(_ bytes: UnsafeRawBufferPointer) {
            precondition(pgbk_sha256_update(context, bytes.baseAddress, bytes.count) == 1, "libcrypto SHA-256 failed")
        }

        public func finish() -> [UInt8] {
            var out = [UInt8](repeating: 0, count: 32)
            precondition(pgbk_sha256_final(context, &out) == 1, "libcrypto SHA-256 failed")
            return out
        }
    }

    public static func sha256<S: Sequence>(_ bytes: S) -> [UInt8] where S.Element == UInt8 {
        let array = Array(bytes)
        return array.withUnsafeBytes { sha256($0) }
    }

    public static func hmacSHA256(key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        let ok = key.withUnsafeBytes { k in
            message.withUnsafeBytes { m in
                pgbk_hmac_sha256(k.baseAddress, Int32(k.count), m.baseAddress, m.count, &out)
            }
        }
        precondition(ok == 1, "libcrypto HMAC-SHA-256 failed")
        return out
    }

    public static func md5(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 16)
        precondition(pgbk_md5(bytes.baseAddress, bytes.count, &out) == 1, "libcrypto MD5 failed")
        return out
    }

    public static func hex(_ bytes: [UInt8]) -> String { Hex.encode(bytes) }

    public static func base64(_ bytes: [UInt8]) -> String {
        var out = [CChar](repeating: 0, count: 4 * ((bytes.count + 2) / 3) + 1)
        let n = bytes.withUnsafeBytes { pgbk_base64($0.baseAddress, Int32($0.count), &out) }
        return String(decoding: out[0..<Int(max(0, n))].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
