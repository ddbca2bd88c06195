import Cipher

/// The data key that encrypts a file, named by its id (the file's header carries the id,
/// never the key).
public struct FileEncryption: Sendable {
    public let keyID: [UInt8]
    let dataKey: [UInt8]

    public init(keyID: [UInt8], dataKey: [UInt8]) {
        precondition(keyID.count == EncryptedFormat.keyIDSize && dataKey.count == Cipher.keySize)
        self.keyID = keyID
        self.dataKey = dataKey
    }
}

public struct EncryptionError: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}

/// An encrypted file: a plaintext header (magic, the data key's id, a random salt), then
/// chunks of 64 KiB of plaintext sealed with AES-256-GCM under a key of this file alone
/// (HKDF of the data key and the salt), each followed by its tag. A chunk's nonce is its
/// number; its associated data the header, its number and whether it is the last, and for
/// the last chunk the file's repository name too, so that a flipped byte, a reordering, a
/// cut at a chunk's end, an appended chunk, another file's bytes, or a whole file put in
/// another's place are each refused. (The name is bound at the end because a file may be
/// named only once written, WAL by its checksum; no chunk moves between files, whose keys
/// differ by their salts.) An empty file is one empty last chunk.
enum EncryptedFormat {
    static let magic = Array("PGBKAES1".utf8)
    static let keyIDSize = 16
    static let saltSize = 16
    static let headerSize = magic.count + keyIDSize + saltSize
    static let chunkSize = 64 << 10

    static func fileKey(_ encryption: FileEncryption, salt: [UInt8]) throws -> [UInt8] {
        try Cipher.hkdf(key: encryption.dataKey, salt: salt, info: Array("pgbk stored file v1".utf8))
    }

    static func nonce(_ chunk: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: chunk >> (56 - 8 * UInt64($0))) } + [0, 0, 0, 0]
    }

    static func aad(header: [UInt8], name: String, chunk: UInt64, last: Bool) -> [UInt8] {
        header + nonce(chunk).prefix(8) + (last ? [1] + Array(name.utf8) : [0])
    }

    /// The stored size of a file of `plain` bytes.
    static func storedSize(plain: UInt64) -> UInt64 {
        let chunks = max(1, (plain + UInt64(chunkSize) - 1) / UInt64(chunkSize))
        return UInt64(headerSize) + plain + chunks * UInt64(Cipher.tagSize)
    }

    /// The plaintext size of a stored file of `stored` bytes; nil where no file of this
    /// format has that size.
    static func plainSize(stored: UInt64) -> UInt64? {
        guard stored >= UInt64(headerSize + Cipher.tagSize) else { return nil }
        let body = stored - UInt64(headerSize)
        let sealedChunk = UInt64(chunkSize + Cipher.tagSize)
        let (whole, rest) = body.quotientAndRemainder(dividingBy: sealedChunk)
        if rest == 0 { return whole * UInt64(chunkSize) }
        guard rest >= UInt64(Cipher.tagSize) else { return nil }
        return whole * UInt64(chunkSize) + rest - UInt64(Cipher.tagSize)
    }
}

/// Seals what the stages before it hand on, a chunk at a time; the last chunk is sealed at
/// `finish`, so a full chunk is held until more follows, and `name` may change until then.
final class Encrypted: WriteFilter {
    var name: String
    private let header: [UInt8]
    private let key: [UInt8]
    private var headerWritten = false
    private var chunk: UInt64 = 0
    private var plain: [UInt8] = []
    private var sealed: [UInt8]

    init(_ encryption: FileEncryption, name: String) throws {
        self.name = name
        let salt = try Cipher.randomBytes(EncryptedFormat.saltSize)
        header = EncryptedFormat.magic + encryption.keyID + salt
        key = try EncryptedFormat.fileKey(encryption, salt: salt)
        plain.reserveCapacity(EncryptedFormat.chunkSize)
        sealed = [UInt8](repeating: 0, count: EncryptedFormat.chunkSize + Cipher.tagSize)
    }

    func write(_ input: UnsafeRawBufferPointer, to next: (UnsafeRawBufferPointer) throws -> Void) throws {
        var offset = 0
        while offset < input.count {
            if plain.count == EncryptedFormat.chunkSize { try seal(last: false, to: next) }
            let take = min(EncryptedFormat.chunkSize - plain.count, input.count - offset)
            plain.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[offset..<offset + take]))
            offset += take
        }
    }

    func finish(to next: (UnsafeRawBufferPointer) throws -> Void) throws {
        try seal(last: true, to: next)
    }

    private func seal(last: Bool, to next: (UnsafeRawBufferPointer) throws -> Void) throws {
        if !headerWritten {
            try header.withUnsafeBytes { try next($0) }
            headerWritten = true
        }
        let aad = EncryptedFormat.aad(header: header, name: name, chunk: chunk, last: last)
        let count = plain.count
        let tag = try plain.withUnsafeBytes { input in
            try sealed.withUnsafeMutableBytes { try Cipher.seal(key: key, nonce: EncryptedFormat.nonce(chunk), aad: aad, input, into: $0) }
        }
        sealed.replaceSubrange(count..<count + Cipher.tagSize, with: tag)
        try sealed.withUnsafeBytes { try next(UnsafeRawBufferPointer(rebasing: $0[0..<count + Cipher.tagSize])) }
        plain.removeAll(keepingCapacity: true)
        chunk += 1
    }
}

/// Opens the chunks the stage before it gives, each proven before any of its bytes is
/// handed on; fills the caller's buffer from them.
final class Decrypted: ReadFilter {
    private let upstream: any ReadFilter
    private let keys: (_ keyID: [UInt8]) throws -> FileEncryption
    private let name: String
    private let path: String
    private var header: [UInt8] = []
    private var key: [UInt8] = []
    private var encryption: FileEncryption?
    private var chunk: UInt64 = 0
    private var lastSeen = false
    private var sealed = [UInt8](repeating: 0, count: EncryptedFormat.chunkSize + Cipher.tagSize)
    private var plain = [UInt8](repeating: 0, count: EncryptedFormat.chunkSize)
    private var available = 0..<0

    /// `keys` gives the data key for the header's key id; `name` is the one the file must
    /// have been written under.
    init(from upstream: any ReadFilter, name: String, path: String, keys: @escaping (_ keyID: [UInt8]) throws -> FileEncryption) {
        self.upstream = upstream
        self.keys = keys
        self.name = name
        self.path = path
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var filled = 0
        while filled < buffer.count {
            if available.isEmpty {
                guard !lastSeen else { break }
                try openNextChunk()
                continue
            }
            let take = min(available.count, buffer.count - filled)
            plain.withUnsafeBytes { source in
                UnsafeMutableRawBufferPointer(rebasing: buffer[filled..<filled + take])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: source[available.lowerBound..<available.lowerBound + take]))
            }
            available = available.lowerBound + take..<available.upperBound
            filled += take
        }
        return filled
    }

    private func readHeader() throws {
        var bytes = [UInt8](repeating: 0, count: EncryptedFormat.headerSize)
        let got = try bytes.withUnsafeMutableBytes { try upstream.read(into: $0) }
        guard got == bytes.count, Array(bytes.prefix(EncryptedFormat.magic.count)) == EncryptedFormat.magic else {
            throw EncryptionError(path: path, reason: "not an encrypted pgbk file (no PGBKAES1 header)")
        }
        let keyID = Array(bytes[EncryptedFormat.magic.count..<EncryptedFormat.magic.count + EncryptedFormat.keyIDSize])
        let encryption = try keys(keyID)
        key = try EncryptedFormat.fileKey(encryption, salt: Array(bytes.suffix(EncryptedFormat.saltSize)))
        header = bytes
        self.encryption = encryption
    }

    private func openNextChunk() throws {
        if encryption == nil { try readHeader() }
        let got = try sealed.withUnsafeMutableBytes { try upstream.read(into: $0) }
        guard got >= Cipher.tagSize else {
            throw EncryptionError(path: path, reason: got == 0 ? "ends before its last chunk (cut short)" : "chunk \(chunk) is cut short")
        }
        let count = got - Cipher.tagSize
        let tag = Array(sealed[count..<got])
        // A full chunk may be the last (a file of whole chunks); a shorter one must be.
        for last in count == EncryptedFormat.chunkSize ? [false, true] : [true] {
            let aad = EncryptedFormat.aad(header: header, name: name, chunk: chunk, last: last)
            let ok = try sealed.withUnsafeBytes { input in
                try plain.withUnsafeMutableBytes {
                    try Cipher.open(key: key, nonce: EncryptedFormat.nonce(chunk), aad: aad, UnsafeRawBufferPointer(rebasing: input[0..<count]), into: $0, tag: tag)
                }
            }
            guard ok else { continue }
            lastSeen = last
            available = 0..<count
            chunk += 1
            if last { try expectEnd() }
            return
        }
        throw EncryptionError(path: path, reason: "chunk \(chunk) fails authentication (damaged, moved, or another key's)")
    }

    private func expectEnd() throws {
        var probe = [UInt8](repeating: 0, count: 1)
        guard try probe.withUnsafeMutableBytes({ try upstream.read(into: $0) }) == 0 else {
            throw EncryptionError(path: path, reason: "data after its last chunk")
        }
    }
}
