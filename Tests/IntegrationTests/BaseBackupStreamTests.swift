import Testing
import Foundation
import PostgresClient
import PostgresFormat
import Repository
import TarStream
import Engine

/// BASE_BACKUP over the replication protocol (issue 26's foundation) against real servers:
/// 14's one COPY OUT per archive and 15+'s typed single stream read as the same events. The
/// archives are checked with the system's tar, the manifest against them, the positions
/// against the server's.
@Suite(.ownThread) struct BaseBackupStreamTests {
    @Test(arguments: PostgresInstall.matrix)
    func theArchivesAndManifestAreWhatTheServerHolds(_ version: Int) throws {
        let s = try Scratch()
        let (cluster, space) = try clusterWithTablespace(s, version)
        defer { cluster.stopIfRunning() }
        let oid = try #require(try cluster.scalar("SELECT oid FROM pg_tablespace WHERE spcname = 'ts1'"))
        let before = try #require(LSN(try cluster.scalar("SELECT pg_current_wal_lsn()") ?? ""))

        let parameters = replication(cluster)
        let connection = try Connection(parameters)
        let stream = try BaseBackupStream(on: connection, options: .init(label: "pgbk 'test'"))
        #expect(stream.start >= before && stream.timeline == 1)
        #expect(stream.tablespaces.contains { $0.oid.map(String.init) == oid && $0.location == space })
        #expect(stream.tablespaces.last?.oid == nil, "the data directory's archive comes last")

        var archives: [String: FileHandle] = [:]
        var order: [String] = []
        var current: FileHandle?
        var manifest: [UInt8] = []
        var inManifest = false
        var stop: LSN?
        var progress = 0
        loop: while true {
            switch try stream.next() {
            case .archive(let name, let tablespace):
                #expect(name == (tablespace?.oid.map { "\($0).tar" } ?? "base.tar"))
                let path = s.path + "/" + name
                _ = FileManager.default.createFile(atPath: path, contents: nil)
                current = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
                archives[name] = current
                order.append(name)
            case .data(let bytes, let offset):
                if inManifest { manifest += bytes[offset...] } else { try #require(current).write(Data(bytes[offset...])) }
            case .progress:
                progress += 1
            case .manifest:
                inManifest = true
            case .end(let at, let tli):
                stop = at
                #expect(tli == 1)
                break loop
            }
        }
        for handle in archives.values { try handle.close() }
        #expect(order == stream.tablespaces.map { $0.oid.map { "\($0).tar" } ?? "base.tar" })
        #expect(try #require(stop) > stream.start)
        if version >= 15 { #expect(progress > 0) }

        // The system's tar reads each archive: the data directory with its backup_label, the
        // tablespace with the table's files.
        let base = try tarList(s.path + "/base.tar")
        #expect(base.contains("PG_VERSION") && base.contains("global/pg_control") && base.contains("backup_label"), "\(base.prefix(20))")
        let relation = try #require(try cluster.scalar("SELECT pg_relation_filepath('t')"))
        let inSpace = try tarList(s.path + "/\(oid).tar")
        #expect(inSpace.contains { relation.hasSuffix($0) }, "\(relation) in \(inSpace)")
        // The manifest names every file of the data directory's archive, and is the server's.
        let json = try #require(try JSONSerialization.jsonObject(with: Data(manifest)) as? [String: Any])
        let files = Set((json["Files"] as? [[String: Any]] ?? []).compactMap { $0["Path"] as? String })
        let baseFiles = Set(base.filter { !$0.hasSuffix("/") && !$0.hasPrefix("pg_tblspc/") })
        #expect(baseFiles.subtracting(files).isEmpty, "\(baseFiles.subtracting(files).sorted().prefix(10))")
        #expect(files.contains("backup_label"))

        // TarReader gives each file of the data directory's archive exactly as the server's
        // manifest describes it: its size and its CRC-32C.
        let described = try manifestFiles(manifest)
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: s.path + "/base.tar"))
        defer { try? handle.close() }
        let read = try checksums(try TarReader(name: "base.tar") { buffer in
            let data = try handle.read(upToCount: buffer.count) ?? Data()
            data.copyBytes(to: buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), count: data.count)
            return data.count
        })
        var checked = 0
        for (path, (length, hex)) in read {
            guard let (size, sum) = described[path] else { continue }
            #expect(length == size && hex == sum, "\(path): \(length) bytes, CRC-32C \(hex); the manifest says \(size), \(sum)")
            checked += 1
        }
        #expect(checked == baseFiles.count, "\(checked) of \(baseFiles.count) files checked")
    }

    /// BaseBackupArchives reads the archives straight from the stream (no file between): every
    /// file of the data directory and of the tablespace is the size and CRC-32C the server's
    /// manifest gives it. A second backup whose tablespace archive is left unread still
    /// yields the data directory's archive whole. 14 (COPY per archive) and 18 (typed stream).
    @Test(arguments: [14, 18])
    func theArchivesReadStraightFromTheStreamMatchTheManifest(_ version: Int) throws {
        let s = try Scratch()
        let (cluster, _) = try clusterWithTablespace(s, version)
        defer { cluster.stopIfRunning() }
        let parameters = replication(cluster)

        let archives = BaseBackupArchives(try BaseBackupStream(on: try Connection(parameters), options: .init(label: "stream")))
        var sums: [String: (Int, String)] = [:]
        while let archive = try archives.nextArchive() {
            let prefix = archive.tablespace?.oid.map { "pg_tblspc/\($0)/" } ?? ""
            for (path, sum) in try checksums(archive.reader) { sums[prefix + path] = sum }
        }
        let manifest = try manifestFiles(archives.manifest)
        #expect(try #require(archives.stop).lsn > archives.stream.start)
        #expect(!sums.isEmpty && sums.count == manifest.count, "\(sums.count) files read, \(manifest.count) in the manifest")
        for (path, expected) in manifest {
            #expect(sums[path].map { $0 == expected } == true, "\(path): read \(String(describing: sums[path])), manifest \(expected)")
        }

        // The tablespace's archive (first) skipped unread: the data directory's still reads whole.
        let again = BaseBackupArchives(try BaseBackupStream(on: try Connection(parameters), options: .init(label: "skip")))
        var base: [String: (Int, String)] = [:]
        while let archive = try again.nextArchive() {
            if archive.tablespace?.oid == nil { base = try checksums(archive.reader) }
        }
        let second = try manifestFiles(again.manifest).filter { !$0.key.hasPrefix("pg_tblspc/") }
        #expect(!base.isEmpty && base.count == second.count)
        for (path, expected) in second { #expect(base[path].map { $0 == expected } == true, "\(path)") }
    }

    /// A started cluster with tablespace ts1 (in the scratch directory) holding table t.
    func clusterWithTablespace(_ s: Scratch, _ version: Int) throws -> (TestCluster, String) {
        let cluster = try TestCluster.create(s, name: "db", repository: nil, bin: try PostgresInstall.of(version).bin)
        try cluster.start()
        let space = try s.makeDirectory("ts1")
        try s.chownToPostgres(space)
        try cluster.execute("CREATE TABLESPACE ts1 LOCATION '\(space)'")
        try cluster.execute("CREATE TABLE t TABLESPACE ts1 AS SELECT g FROM generate_series(1, 10000) g")
        return (cluster, space)
    }

    func replication(_ cluster: TestCluster) -> ConnectionParameters {
        var parameters = ConnectionParameters(host: cluster.socketDir, port: String(cluster.port), user: "postgres")
        parameters.replication = true
        return parameters
    }

    /// Each regular file's size and CRC-32C (as the manifest writes it: little-endian hex).
    func checksums(_ reader: TarReader) throws -> [String: (Int, String)] {
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { chunk.deallocate() }
        var out: [String: (Int, String)] = [:]
        while let entry = try reader.next() {
            guard entry.kind == .file else { continue }
            var crc = CRC32C()
            var length = 0
            while true {
                let n = try reader.read(into: chunk)
                if n == 0 { break }
                crc.update(UnsafeRawBufferPointer(rebasing: chunk[0..<n]))
                length += n
            }
            out[entry.path] = (length, [crc.value & 0xff, crc.value >> 8 & 0xff, crc.value >> 16 & 0xff, crc.value >> 24]
                .map { String(format: "%02x", $0) }.joined())
        }
        return out
    }

    func manifestFiles(_ bytes: [UInt8]) throws -> [String: (Int, String)] {
        let json = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        return Dictionary(((json["Files"] as? [[String: Any]]) ?? []).compactMap { file -> (String, (Int, String))? in
            guard let path = file["Path"] as? String, let size = file["Size"] as? Int, let sum = file["Checksum"] as? String else { return nil }
            return (path, (size, sum))
        }) { a, _ in a }
    }

    /// `tar -tf`: the archive's member names, directories with their trailing slash.
    func tarList(_ path: String) throws -> [String] {
        let r = try Command.run("/usr/bin/tar", ["-tf", path], asPostgres: false, outputDirectory: FileSystem.parentDirectory(of: path))
        guard r.succeeded else { throw CommandError(result: r) }
        return r.stdout.split(separator: "\n").map { $0.hasPrefix("./") ? String($0.dropFirst(2)) : String($0) }
    }
}
