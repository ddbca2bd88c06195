import Repository
import Testing

/// What every storage driver promises. RepositoryTests runs it on the POSIX and memory
/// drivers, IntegrationTests on S3 against a real gateway.
public enum StorageContract {
    static func write(_ storage: any RepositoryStorage, _ name: String, _ text: String, noReplace: Bool = false) throws {
        try storage.makeDirectories(PosixStorage.parent(of: name))
        try storage.writeAll(name, Array(text.utf8), noReplace: noReplace)
    }

    public static func contentAppearsWholeOnlyOnCommit(_ storage: any RepositoryStorage) throws {
        try storage.makeDirectories("backup/x")
        let stream = try storage.openWrite("backup/x/file", expectedSize: nil, noReplace: false)
        try Array("hello ".utf8).withUnsafeBytes { try stream.write($0) }
        #expect(try storage.info("backup/x/file") == nil, "nothing visible before commit")
        try Array("world".utf8).withUnsafeBytes { try stream.write($0) }
        try stream.commit()
        #expect(try storage.readText("backup/x/file") == "hello world")
        #expect(try storage.info("backup/x/file")?.size == 11)
        let ranged = try storage.openRead("backup/x/file", range: 6..<11)
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = try buffer.withUnsafeMutableBytes { try ranged.read(into: $0) }
        #expect(String(decoding: buffer[0..<n], as: UTF8.self) == "world")

        let abandoned = try storage.openWrite("backup/x/other", expectedSize: nil, noReplace: false)
        try Array("partial".utf8).withUnsafeBytes { try abandoned.write($0) }
        abandoned.abandon()
        #expect(try storage.list("backup/x").map(\.name) == ["file"], "an abandoned write leaves nothing behind")
    }

    public static func noReplaceNeverOverwrites(_ storage: any RepositoryStorage) throws {
        try write(storage, "wal/a", "first")
        #expect(throws: StorageError.self) { try write(storage, "wal/a", "second", noReplace: true) }
        #expect(try storage.readText("wal/a") == "first")
        try write(storage, "wal/a", "replaced")
        #expect(try storage.readText("wal/a") == "replaced")
        #expect(try storage.list("wal").map(\.name) == ["a"], "no temporary file is left")
    }

    public static func listsDirectChildrenAndRemovesTrees(_ storage: any RepositoryStorage) throws {
        for name in ["backup/1/backup.ini", "backup/1/data/f", "backup/2/backup.ini", "wal/x"] { try write(storage, name, name) }
        #expect(try storage.list("backup").map(\.name) == ["1", "2"])
        #expect(try storage.list("backup").allSatisfy { $0.kind == .directory })
        #expect(try storage.list("backup/1").map(\.name) == ["backup.ini", "data"])
        #expect(try storage.list("nothing") == [])
        try storage.removeTree("backup/1")
        try storage.removeTree("backup/1")
        try storage.remove("wal/missing")
        #expect(try storage.list("backup").map(\.name) == ["2"])
        #expect(try storage.info("backup/1/backup.ini") == nil)
        #expect(try storage.info("backup")?.kind == .directory)
    }
}

