import Dispatch
import StorageInterface
import Testing
import TestSupport
import PostgresFormat
@testable import Repository

/// Bundles (issue 28): a backup's small stored files packed into a few objects, read back
/// by name exactly as written, through any driver's short reads and beneath encryption;
/// the bundle list trusted for nothing it cannot prove.
@Suite struct BundledStorageTests {
    let backup = "backup/20261203-081500F"
    let policy = BundlePolicy(limit: 4096, size: 20_000)

    static func content(_ count: Int, seed: UInt64) -> [UInt8] {
        var s = seed
        return (0..<count).map { _ in s = s &* 6_364_136_223_846_793_005 &+ 1442695040888963407; return UInt8(truncatingIfNeeded: s >> 40) }
    }

    /// Sizes around the limit: empty, small, exactly the limit, one more (stored on its own).
    var files: [(String, [UInt8])] {
        [0, 1, 100, 4095, 4096, 4097, 9000, 3000, 3500, 2500, 4000, 4000, 4000].enumerated().map { i, size in
            ("base/1/\(1000 + i)", Self.content(size, seed: UInt64(i + 1)))
        }
    }

    func write(_ storage: any RepositoryStorage, _ files: [(String, [UInt8])]) throws {
        for (path, bytes) in files {
            let stream = try storage.openWrite(backup + "/data/" + path, expectedSize: nil, noReplace: false)
            try bytes.withUnsafeBytes { try stream.write($0) }
            try stream.commit()
        }
    }

    func read(_ storage: any RepositoryStorage, _ name: String, range: Range<UInt64>? = nil) throws -> [UInt8] {
        let stream = try storage.openRead(name, range: range)
        defer { stream.close() }
        var out: [UInt8] = [], buffer = [UInt8](repeating: 0, count: 1000)
        while true {
            let n = try buffer.withUnsafeMutableBytes { try stream.read(into: $0) }
            if n == 0 { return out }
            out += buffer[0..<n]
        }
    }

    @Test func smallFilesGoIntoBundlesAndReadBackByNameWholeAndInRanges() throws {
        let memory = MemoryStorage(readsReturnAtMost: 7)
        let writer = BundledStorage(memory, policy: policy)
        try write(writer.deferringDurability(), files)
        // Nothing bundled is visible, to this process or another, before syncAll.
        #expect(try BundledStorage(memory, policy: nil).info(backup + "/data/base/1/1001") == nil)
        try writer.syncAll(backup + "/data")

        let reader = BundledStorage(memory, policy: nil)
        for (path, bytes) in files {
            let name = backup + "/data/" + path
            #expect(try read(reader, name) == bytes, "\(path)")
            #expect(try reader.info(name)?.size == UInt64(bytes.count))
            if bytes.count > 10 { #expect(try read(reader, name, range: 3..<9) == Array(bytes[3..<9])) }
        }
        let stored = memory.names.filter { $0.hasPrefix(backup) }
        let own = stored.filter { $0.contains("/data/") }
        #expect(own == [backup + "/data/base/1/1005", backup + "/data/base/1/1006"], "only the files over the limit are objects of their own")
        let bundles = stored.filter { $0.contains("/bundle/") }
        #expect(bundles.count == 2, "\(bundles)")
        #expect(stored.contains(backup + "/bundle.list"))
        let list = try BundleList.decode(try memory.readText(backup + "/bundle.list"), path: "bundle.list")
        for (number, bundle) in list.bundles {
            let bytes = try memory.readAll(BundleList.bundleName(backup: backup, number), limit: 1 << 20)
            #expect(UInt64(bytes.count) == bundle.size && CRC32C.checksum(bytes) == bundle.checksum)
        }
        #expect(try BundleList.decode(list.encode(), path: "again") == list)
    }

    /// Read in the order they were written, a bundle's files cost one read per 1 MiB window
    /// (not one per file); in another order, one read each, never more.
    @Test func filesReadInTheirBundlesOrderShareOneRead() throws {
        let memory = MemoryStorage()
        let writer = BundledStorage(memory, policy: BundlePolicy(limit: 64 << 10, size: 64 << 20))
        let all = (0..<300).map { ("base/9/\($0)", Self.content(2000 + $0, seed: UInt64($0) + 7)) }
        try write(writer.deferringDurability(), all)
        try writer.syncAll(backup)

        func bundleReads(_ order: [Int]) throws -> Int {
            let reader = BundledStorage(memory, policy: nil)
            let before = memory.reads.count
            for i in order { #expect(try read(reader, backup + "/data/" + all[i].0) == all[i].1) }
            return memory.reads.dropFirst(before).filter { $0.contains("/bundle/") }.count
        }
        let total = all.reduce(0) { $0 + $1.1.count }
        let inOrder = try bundleReads(Array(all.indices))
        #expect(inOrder <= 2 + total / (1 << 20), "\(inOrder) reads for \(total) bytes")
        // Every other file (another worker takes the rest): still shared reads.
        #expect(try bundleReads(Array(stride(from: 0, to: all.count, by: 2))) <= 2 + total / (1 << 20))
        var shuffled = Array(all.indices)
        var generator = SplitMix(seed: 5)
        shuffled.shuffle(using: &generator)
        #expect(try bundleReads(shuffled) <= all.count, "no order costs more than one read per file")
    }

    @Test func writesOutsideADeferringViewOrABackupsDataAreNeverBundled() throws {
        let memory = MemoryStorage()
        let storage = BundledStorage(memory, policy: policy)
        try write(storage, [("base/1/1", [1, 2, 3])])
        try storage.deferringDurability().writeAll(backup + "/backup.ini", [4, 5])
        try storage.deferringDurability().writeAll("wal/0000000100000000/x", [6])
        #expect(memory.names.sorted() == [backup + "/backup.ini", backup + "/data/base/1/1", "wal/0000000100000000/x"])
    }

    @Test func manyWritersAtOnceEachGetTheirOwnBytes() throws {
        let memory = MemoryStorage()
        let writer = BundledStorage(memory, policy: policy)
        let view = writer.deferringDurability()
        let all = (0..<200).map { ("base/5/\($0)", Self.content(50 + $0 * 13, seed: UInt64($0) + 99)) }
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            try? write(view, all.enumerated().filter { $0.offset % 8 == worker }.map(\.element))
        }
        try writer.syncAll(backup)
        let reader = BundledStorage(memory, policy: nil)
        for (path, bytes) in all { #expect(try read(reader, backup + "/data/" + path) == bytes) }
    }

    @Test func aRemovedFileIsGoneAndAFailedBundleFailsTheBackup() throws {
        let memory = MemoryStorage()
        let writer = BundledStorage(memory, policy: policy)
        let view = writer.deferringDurability()
        try write(view, [("a", [1]), ("b", [2])])
        try view.remove(backup + "/data/a")
        try writer.syncAll(backup)
        let reader = BundledStorage(memory, policy: nil)
        #expect(throws: StorageError.self) { try read(reader, backup + "/data/a") }
        #expect(try read(reader, backup + "/data/b") == [2])

        let failing = MemoryStorage()
        let second = BundledStorage(failing, policy: policy)
        failing.fail(.publish, matching: "/bundle/")
        // The bundle fails when the file that fills it is committed; the files already in it
        // are lost with it, so the backup's syncAll fails too.
        #expect(throws: StorageError.self) { try write(second.deferringDurability(), files) }
        #expect(throws: StorageError.self) { try second.syncAll(backup) }
        #expect(!failing.names.contains(backup + "/bundle.list"), "no list for bundles that were not all stored")
    }

    @Test func encryptedFilesAreBundledSealedAndReadBack() throws {
        let memory = MemoryStorage(readsReturnAtMost: 5)
        let encrypted = try StorageContractTests.encrypted(BundledStorage(memory, policy: policy))
        try write(encrypted.deferringDurability(), files)
        try encrypted.syncAll(backup)
        let reader = try StorageContractTests.encrypted(BundledStorage(memory, policy: nil))
        for (path, bytes) in files { #expect(try read(reader, backup + "/data/" + path) == bytes) }
        // A bundle holds sealed files: none of the plaintext.
        let bundle = try memory.readAll(backup + "/bundle/1", limit: 1 << 20)
        let sample = files[3].1[100..<132]
        #expect(!bundle.indices.dropLast(32).contains { Array(bundle[$0..<$0 + 32]) == Array(sample) })
    }

    @Test func aBundleListIsTrustedForNothingItCannotProve() throws {
        func list(_ lines: String) -> String { SealedText.seal("# pgbk bundle list 1\n" + lines) }
        let good = "b\t1\t100\t00000000\nm\t1\t0\t10\tbase/1/2\n"
        #expect(try BundleList.decode(list(good), path: "p").members["base/1/2"] == .init(bundle: 1, offset: 0, size: 10))
        let bad = [
            "b\t1\t100\t00000000\nm\t1\t0\t10\t../../wal/x\n",   // outside data/
            "b\t1\t100\t00000000\nm\t1\t0\t10\t/etc/passwd\n",   // absolute
            "b\t1\t100\t00000000\nm\t1\t95\t10\tbase/1/2\n",     // past the bundle's end
            "b\t1\t100\t00000000\nm\t2\t0\t10\tbase/1/2\n",      // unknown bundle
            "b\t1\t100\t00000000\nm\t1\t0\t10\tx\nm\t1\t0\t10\tx\n",  // twice
            "m\t1\t0\t10\tx\n",                                  // bundle after use
            "z\t1\n",
        ]
        var flipped = Array(list(good).utf8)
        flipped[30] ^= 1
        // Read whole or a chunk at a time from storage (as the bundling layer reads it): the
        // same refusal, word for word.
        let memory = MemoryStorage()
        func refusal(_ text: [UInt8], streamed: Bool) -> String {
            do {
                if streamed {
                    try memory.writeAll("list", text)
                    let stream = try memory.openRead("list")
                    defer { stream.close() }
                    _ = try BundleList.read(stream, path: "p")
                } else {
                    _ = try BundleList.decode(String(decoding: text, as: UTF8.self), path: "p")
                }
                return "accepted"
            } catch { return "\(error)" }
        }
        for text in bad.map({ Array(list($0).utf8) }) + [flipped, Array(SealedText.seal("# pgbk bundle list 2\n").utf8), []] {
            let whole = refusal(text, streamed: false)
            #expect(whole.hasPrefix("p is corrupt: "), "\(String(decoding: text, as: UTF8.self))")
            #expect(refusal(text, streamed: true) == whole)
        }
    }

    @Test func aDamagedListFailsEveryReadOfThatBackupNamingIt() throws {
        let memory = MemoryStorage()
        let writer = BundledStorage(memory, policy: policy)
        try write(writer.deferringDurability(), files)
        try writer.syncAll(backup)
        var text = try memory.readAll(backup + "/bundle.list")
        text[40] ^= 0x20
        try memory.writeAll(backup + "/bundle.list", text)
        let reader = BundledStorage(memory, policy: nil)
        #expect { try read(reader, backup + "/data/base/1/1002") } throws: { "\($0)".contains("bundle.list") }
    }
}

struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
