import StorageInterface
import Repository
import PostgresFormat

/// What every storage driver promises. RepositoryTests runs it on the POSIX and memory
/// drivers, IntegrationTests on S3 against a real gateway. A broken promise is thrown as a
/// `Violation` naming it (TestSupport is built without the testing library, so that release
/// builds of the package work).
public enum StorageContract {
    public struct Violation: Error, CustomStringConvertible {
        public let description: String
    }

    static func check(_ condition: Bool, _ what: String) throws {
        if !condition { throw Violation(description: "storage contract broken: \(what)") }
    }

    static func write(_ storage: any RepositoryStorage, _ name: String, _ text: String, noReplace: Bool = false) throws {
        try storage.makeDirectories(PosixStorage.parent(of: name))
        try storage.writeAll(name, Array(text.utf8), noReplace: noReplace)
    }

    public static func contentAppearsWholeOnlyOnCommit(_ storage: any RepositoryStorage) throws {
        try storage.makeDirectories("backup/x")
        let stream = try storage.openWrite("backup/x/file", expectedSize: nil, noReplace: false)
        try Array("hello ".utf8).withUnsafeBytes { try stream.write($0) }
        try check(try storage.info("backup/x/file") == nil, "nothing visible before commit")
        try Array("world".utf8).withUnsafeBytes { try stream.write($0) }
        try stream.commit()
        try check(try storage.readText("backup/x/file") == "hello world", "the whole content after commit")
        try check(try storage.info("backup/x/file")?.size == 11, "info gives the size")
        if !storage.features.contains(.wholeReadsOnly) {
            let ranged = try storage.openRead("backup/x/file", range: 6..<11)
            var buffer = [UInt8](repeating: 0, count: 64)
            let n = try buffer.withUnsafeMutableBytes { try ranged.read(into: $0) }
            try check(String(decoding: buffer[0..<n], as: UTF8.self) == "world", "a range reads that range")
        }

        let abandoned = try storage.openWrite("backup/x/other", expectedSize: nil, noReplace: false)
        try Array("partial".utf8).withUnsafeBytes { try abandoned.write($0) }
        abandoned.abandon()
        try check(try storage.list("backup/x").map(\.name) == ["file"], "an abandoned write leaves nothing behind")
    }

    public static func noReplaceNeverOverwrites(_ storage: any RepositoryStorage) throws {
        try write(storage, "wal/a", "first")
        var refused = false
        do { try write(storage, "wal/a", "second", noReplace: true) } catch is StorageError { refused = true }
        try check(refused, "a no-replace write of an existing name fails with StorageError")
        try check(try storage.readText("wal/a") == "first", "the refused write changed nothing")
        try write(storage, "wal/a", "replaced")
        try check(try storage.readText("wal/a") == "replaced", "a plain write replaces")
        try check(try storage.list("wal").map(\.name) == ["a"], "no temporary file is left")
    }

    public static func listsDirectChildrenAndRemovesTrees(_ storage: any RepositoryStorage) throws {
        for name in ["backup/1/backup.ini", "backup/1/data/f", "backup/2/backup.ini", "wal/x"] { try write(storage, name, name) }
        try check(try storage.list("backup").map(\.name) == ["1", "2"], "list gives direct children, sorted")
        try check(try storage.list("backup").allSatisfy { $0.kind == .directory }, "subdirectories are directories")
        try check(try storage.list("backup/1").map(\.name) == ["backup.ini", "data"], "files and directories side by side")
        try check(try storage.list("nothing") == [], "a missing directory lists empty")
        try storage.removeTree("backup/1")
        try storage.removeTree("backup/1")
        try storage.remove("wal/missing")
        try check(try storage.list("backup").map(\.name) == ["2"], "removeTree removes the tree")
        try check(try storage.info("backup/1/backup.ini") == nil, "nothing is left below a removed tree")
        try check(try storage.info("backup")?.kind == .directory, "a directory with entries has info")
    }

    /// Every read of a stored file fills the caller's buffer unless the file ends first,
    /// whatever the driver's own reads return (a ranged GET's end, a short network read).
    public static func readsFillTheBuffer(_ storage: any RepositoryStorage) throws {
        let content = (0..<100_003).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
        try storage.makeDirectories("backup/y")
        try storage.writeAll("backup/y/file", content)
        for size in [1, 8192, 65_536, 1 << 20] {
            let stream = try storage.openRead("backup/y/file")
            defer { stream.close() }
            var buffer = [UInt8](repeating: 0, count: size)
            var read: [UInt8] = []
            while true {
                let n = try buffer.withUnsafeMutableBytes { try stream.read(into: $0) }
                if n == 0 { break }
                try check(n == size || read.count + n == content.count, "a read of \(size) returned \(n) before the end")
                read += buffer[0..<n]
            }
            try check(read == content, "reads of \(size) give the content back")
        }
        guard !storage.features.contains(.wholeReadsOnly) else { return }
        let ranged = try storage.openRead("backup/y/file", range: 8192..<90_000)
        defer { ranged.close() }
        var buffer = [UInt8](repeating: 0, count: 81_808)
        let n = try buffer.withUnsafeMutableBytes { try ranged.read(into: $0) }
        try check(n == 81_808 && buffer == Array(content[8192..<90_000]), "a ranged read fills too")
    }

    /// A stored file written through its filters (checksum, gathering, each compression) and
    /// read back through them: every read fills the caller's buffer unless the file ends
    /// first, whatever the driver's reads return; size and CRC-32C are the original's; cut
    /// short, a compressed file is a CompressionError, not fewer bytes.
    public static func storedFilesPassThroughTheirFilters(_ storage: any RepositoryStorage) throws {
        var content = (0..<300_007).map { UInt8(truncatingIfNeeded: $0 / 97) }
        var seed: UInt64 = 0x9E37_79B9
        for i in 150_000..<200_000 { seed = seed &* 6_364_136_223_846_793_005 &+ 1; content[i] = UInt8(truncatingIfNeeded: seed >> 33) }
        try storage.makeDirectories("backup/f")
        for compression in Compression.allCases {
            let name = "backup/f/file" + compression.fileSuffix
            let writer = try StoredFileWriter(storage: storage, name: name, compression: compression, level: compression.defaultLevel)
            // Small writes (gathered) and a large one (passed straight on).
            for start in stride(from: 0, to: 20_000, by: 1000) { try writer.write(Array(content[start..<start + 1000])) }
            try writer.write(Array(content[20_000...]))
            let summary = try writer.commit()
            var crc = CRC32C()
            content.withUnsafeBytes { crc.update($0) }
            try check(summary.size == UInt64(content.count) && summary.checksum == crc.value, "\(compression): the summary is the original's")
            for size in [1, 8192, 1 << 20] {
                let reader = try StoredFileReader(storage: storage, name: name, compression: compression)
                defer { reader.close() }
                var buffer = [UInt8](repeating: 0, count: size)
                var read: [UInt8] = []
                while true {
                    let n = try reader.read(into: &buffer)
                    if n == 0 { break }
                    try check(n == size || read.count + n == content.count, "\(compression): a read of \(size) returned \(n) before the end")
                    read += buffer[0..<n]
                }
                try check(read == content && reader.size == UInt64(content.count) && reader.checksum == crc.value,
                          "\(compression): reads of \(size) give the original back")
            }
            guard compression != .none else { continue }
            let stored = try storage.readAll(name)
            try storage.writeAll(name + ".cut", Array(stored.prefix(stored.count - 3)))
            do {
                let reader = try StoredFileReader(storage: storage, name: name + ".cut", compression: compression)
                defer { reader.close() }
                var buffer = [UInt8](repeating: 0, count: 1 << 20)
                while try reader.read(into: &buffer) > 0 {}
                throw Violation(description: "\(compression): a cut stored file read back without an error")
            } catch is CompressionError {}
        }
    }

    /// A name that is not there is StorageError.notFound, from every driver.
    public static func aMissingNameIsNotFound(_ storage: any RepositoryStorage) throws {
        do {
            _ = try storage.openRead("backup/none/backup.ini")
            throw Violation(description: "storage contract broken: opening a missing name succeeded")
        } catch StorageError.notFound {}
        try check(try storage.info("backup/none/backup.ini") == nil, "info of a missing name is nil")
    }
}
