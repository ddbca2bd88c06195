import StorageInterface
import Testing
import TestSupport
@testable import Repository
import Cipher

/// An encrypted repository (issue 27): what goes in comes out, through every compression
/// and any driver's short reads, at the original's size; the storage beneath holds no
/// plaintext; every tampering, and a file in another's place, is an EncryptionError naming
/// the file, never a wrong byte.
@Suite struct EncryptedStorageTests {
    static func encrypted(_ inner: any RepositoryStorage) throws -> EncryptedStorage {
        try StorageContractTests.encrypted(inner)
    }

    static func content(_ count: Int) -> [UInt8] {
        var seed: UInt64 = 7
        return (0..<count).map { i in
            seed = seed &* 6_364_136_223_846_793_005 &+ 1
            return i % 3 == 0 ? UInt8(truncatingIfNeeded: seed >> 33) : UInt8(i % 61)
        }
    }

    func readAll(_ storage: any RepositoryStorage, _ name: String, _ compression: Compression) throws -> [UInt8] {
        let reader = try StoredFileReader(storage: storage, name: name, compression: compression)
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

    @Test(arguments: [0, 1, 65_536, 65_537, 131_072, 300_007])
    func roundTripsAtTheOriginalsSize(_ count: Int) throws {
        for compression in Compression.allCases {
            let inner = MemoryStorage(readsReturnAtMost: 7)
            let storage = try Self.encrypted(inner)
            let content = Self.content(count)
            try storage.makeDirectories("backup/x")
            let writer = try StoredFileWriter(storage: storage, name: "backup/x/f", compression: compression, level: compression.defaultLevel)
            try writer.write(content)
            let summary = try writer.commit()
            #expect(try readAll(storage, "backup/x/f", compression) == content, "\(compression), \(count) bytes")
            let stored = try #require(try inner.info("backup/x/f")).size
            #expect(try storage.info("backup/x/f")?.size == summary.storedSize, "info gives what was written, not what is stored")
            #expect(try storage.list("backup/x").first?.size == summary.storedSize)
            #expect(stored == EncryptedFormat.storedSize(plain: summary.storedSize))
        }
    }

    /// Each backup, and each WAL directory of every generation's archive, has a key of its own.
    @Test func eachBackupAndWALDirectoryHasAPurposeOfItsOwn() {
        #expect(EncryptedStorage.purpose(of: "backup/20261122-163700F/data/base/1/1259") == "backup/20261122-163700F")
        #expect(EncryptedStorage.purpose(of: "wal/0000000100000000/000000010000000000000002-9f8e7d6c") == "wal/0000000100000000")
        #expect(EncryptedStorage.purpose(of: "wal-2/0000000100000000/000000010000000000000002-9f8e7d6c") == "wal-2/0000000100000000")
        #expect(EncryptedStorage.purpose(of: "wal/00000002.history-1a2b3c4d") == "repository")
        #expect(EncryptedStorage.purpose(of: "repository.ini") == "repository")
        #expect(EncryptedStorage.purpose(of: "encryption.ini") == nil)
    }

    @Test func sizesMapBothWaysAndOddStoredSizesAreNoFile() {
        for plain in [0, 1, 15, 16, 65_535, 65_536, 65_537, 131_072, 131_073, 10_000_000].map(UInt64.init) {
            #expect(EncryptedFormat.plainSize(stored: EncryptedFormat.storedSize(plain: plain)) == plain)
        }
        let header = UInt64(EncryptedFormat.headerSize)
        #expect(EncryptedFormat.plainSize(stored: header + 15) == nil)
        #expect(EncryptedFormat.plainSize(stored: header + 65_552 + 3) == nil)
        #expect(EncryptedFormat.plainSize(stored: 3) == nil)
    }

    @Test func theStorageBeneathHoldsNoPlaintextButNamesAndTheKeyFiles() throws {
        let inner = MemoryStorage()
        let storage = try Self.encrypted(inner)
        let marker = Array("pgbk-marker-7c1e9d".utf8)
        for name in ["backup/20261203-010000F/backup.ini", "wal/0000000100000000/000000010000000000000001", "repository.ini", "drill/d1.ini"] {
            try storage.makeDirectories(PosixStorage.parent(of: name))
            try storage.writeAll(name, (0..<5000).flatMap { _ in marker })
            let stored = try inner.readAll(name)
            #expect(Array(stored.prefix(8)) == EncryptedFormat.magic, "\(name) is encrypted")
            #expect(!(0...(stored.count - marker.count)).contains { Array(stored[$0..<$0 + marker.count]) == marker }, "\(name)")
        }
        #expect(try inner.readText(EncryptionSettings.fileName).contains("CIPHER=aes-256-gcm"), "encryption.ini is plain text")
        let keyFiles = try inner.list(DataKeyFile.directory(generation: 1)).map(\.name)
        #expect(keyFiles.count == 3, "one data key for the backup, one for the WAL epoch, one for the rest: \(keyFiles)")
        #expect(try inner.readText(DataKeyFile.directory(generation: 1) + "/" + keyFiles[0]).contains("WRAPPED="))
    }

    @Test func everyKindOfTamperingIsRefusedNamingTheFile() throws {
        let inner = MemoryStorage()
        let storage = try Self.encrypted(inner)
        try storage.makeDirectories("backup/x")
        let content = Self.content(200_000)
        try storage.writeAll("backup/x/f", content)
        try storage.writeAll("backup/x/g", Self.content(1000))
        let stored = try inner.readAll("backup/x/f")
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
            ("plaintext in its place", content),
            ("another file's bytes", try inner.readAll("backup/x/g")),
        ]
        for (what, bytes) in cases {
            try inner.writeAll("backup/x/f", bytes)
            #expect(throws: EncryptionError.self, "\(what)") { _ = try storage.readAll("backup/x/f") }
            do { _ = try storage.readAll("backup/x/f") } catch {
                #expect("\(error)".hasPrefix(inner.describe("backup/x/f") + ": "), "\(what): \(error)")
            }
        }
        try inner.writeAll("backup/x/f", stored)
        #expect(try storage.readAll("backup/x/f") == content)
        #expect(StoredFileReader.contentProblem(EncryptionError(path: "p", reason: "r")) == "p: r")
        #expect(throws: StorageError.self) { _ = try storage.openRead("backup/x/f", range: 0..<10) }
    }

    /// WAL is named by its checksum once written (commit(as:)): the name sealed is the final one.
    @Test func aFileNamedAtCommitIsBoundToThatName() throws {
        let dir = try TestDirectory()
        let inner = PosixStorage(root: dir.path)
        let storage = try Self.encrypted(inner)
        try storage.makeDirectories("wal/0000000100000000")
        let stream = try storage.openWrite("wal/0000000100000000/seg", expectedSize: nil, noReplace: true)
        try Self.content(70_000).withUnsafeBytes { try stream.write($0) }
        try stream.commit(as: "wal/0000000100000000/seg-0badcafe")
        #expect(try storage.readAll("wal/0000000100000000/seg-0badcafe") == Self.content(70_000))
        try inner.writeAll("wal/0000000100000000/seg", try inner.readAll("wal/0000000100000000/seg-0badcafe"))
        #expect(throws: EncryptionError.self) { _ = try storage.readAll("wal/0000000100000000/seg") }
    }

    /// Two processes making the same purpose's key at once: the second uses the first's.
    @Test func processesShareEachPurposesKey() throws {
        let inner = MemoryStorage()
        let first = try Self.encrypted(inner)
        let second = try Self.encrypted(inner)
        let a = try first.keyring.writeKey(for: "backup/20261203-010000F")
        let b = try second.keyring.writeKey(for: "backup/20261203-010000F")
        #expect(a.keyID == b.keyID && a.dataKey == b.dataKey)
        #expect(try second.keyring.writeKey(for: "backup/20261203-020000I").keyID != a.keyID)
    }
}
