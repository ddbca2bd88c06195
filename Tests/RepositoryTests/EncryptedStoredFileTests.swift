import StorageInterface
import Testing
import TestSupport
@testable import Repository
import Cipher

/// Encryption as a filter of stored files (issue 27): what goes in comes out, through every
/// compression and any driver's short reads; every tampering is an EncryptionError naming the
/// file, never a wrong byte; the stored bytes hold no plaintext.
@Suite struct EncryptedStoredFileTests {
    let keyID = (0..<16).map { UInt8($0 + 1) }
    let dataKey = (0..<32).map { UInt8(255 - $0) }

    func encryption(_ name: String, key: [UInt8]? = nil) -> FileEncryption {
        FileEncryption(keyID: keyID, dataKey: key ?? dataKey, name: name)
    }

    func store(_ storage: any RepositoryStorage, _ name: String, _ content: [UInt8], _ compression: Compression) throws {
        let writer = try StoredFileWriter(storage: storage, name: name, compression: compression, level: compression.defaultLevel,
                                          encryption: encryption(name))
        try writer.write(content)
        _ = try writer.commit()
    }

    /// The original back, or the error reading it gives.
    func load(_ storage: any RepositoryStorage, _ name: String, as readName: String? = nil, key: [UInt8]? = nil,
              _ compression: Compression = .none) throws -> [UInt8] {
        let expected = encryption(readName ?? name, key: key)
        let reader = try StoredFileReader(storage: storage, name: name, compression: compression) { [keyID] id in
            guard id == keyID else { throw EncryptionError(path: name, reason: "unknown key") }
            return expected
        }
        defer { reader.close() }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 100_000)
        while true {
            let n = try reader.read(into: &buffer)
            if n == 0 { break }
            out += buffer[0..<n]
        }
        return out
    }

    static func content(_ count: Int) -> [UInt8] {
        var seed: UInt64 = 7
        return (0..<count).map { i in
            seed = seed &* 6_364_136_223_846_793_005 &+ 1
            return i % 3 == 0 ? UInt8(truncatingIfNeeded: seed >> 33) : UInt8(i % 61)
        }
    }

    @Test(arguments: [0, 1, 65_536, 65_537, 131_072, 300_007])
    func roundTripsWholeChunksAndPartOnes(_ count: Int) throws {
        for compression in Compression.allCases {
            for storage: any RepositoryStorage in [MemoryStorage(), MemoryStorage(readsReturnAtMost: 7)] {
                let content = Self.content(count)
                try storage.makeDirectories("backup/x")
                try store(storage, "backup/x/f", content, compression)
                #expect(try load(storage, "backup/x/f", compression) == content, "\(compression), \(count) bytes")
            }
        }
    }

    @Test func theStoredBytesHoldNoPlaintext() throws {
        let storage = MemoryStorage()
        try storage.makeDirectories("backup/x")
        let marker = Array("pgbk-marker-7c1e9d".utf8)
        let content = (0..<5000).flatMap { _ in marker }
        try store(storage, "backup/x/f", content, .none)
        let stored = try storage.readAll("backup/x/f")
        #expect(stored.count == content.count + EncryptedFormat.headerSize + 2 * Cipher.tagSize)
        #expect(!(0...(stored.count - marker.count)).contains { Array(stored[$0..<$0 + marker.count]) == marker })
    }

    @Test func everyTamperingIsRefusedNamingTheFile() throws {
        let storage = MemoryStorage()
        try storage.makeDirectories("backup/x")
        let content = Self.content(200_000)
        try store(storage, "backup/x/f", content, .none)
        let stored = try storage.readAll("backup/x/f")
        let chunk = EncryptedFormat.chunkSize + Cipher.tagSize
        let header = EncryptedFormat.headerSize
        var flipped = stored
        flipped[header + chunk + 100] ^= 0x04
        var swapped = Array(stored[0..<header]) + Array(stored[header + chunk..<header + 2 * chunk]) + Array(stored[header..<header + chunk])
        swapped += stored[(header + 2 * chunk)...]
        let cases: [(String, [UInt8])] = [
            ("a flipped byte", flipped),
            ("two chunks swapped", swapped),
            ("cut at a chunk's end", Array(stored.prefix(header + 2 * chunk))),
            ("cut inside a chunk", Array(stored.dropLast(10))),
            ("bytes appended", stored + [0]),
            ("no header", Array(stored.dropFirst(header))),
        ]
        for (what, bytes) in cases {
            try storage.writeAll("backup/x/bad", bytes)
            #expect(throws: EncryptionError.self, "\(what)") { _ = try load(storage, "backup/x/bad", as: "backup/x/f") }
        }
        // Its bytes under another name, and another key: refused too.
        try storage.writeAll("backup/x/g", stored)
        #expect(throws: EncryptionError.self) { _ = try load(storage, "backup/x/g") }
        #expect(throws: EncryptionError.self) { _ = try load(storage, "backup/x/f", key: dataKey.reversed()) }
        #expect(try load(storage, "backup/x/f") == content)
        #expect(StoredFileReader.contentProblem(EncryptionError(path: "p", reason: "r")) == "p: r")
    }
}
