import Testing
import Foundation
import PostgresFormat
import Repository

/// The first piece of WAL-based incrementals (issue 16): the block references pgbk reads from
/// WAL records are exactly those PostgreSQL's own pg_waldump prints, record by record, over a
/// workload of DML, DDL, index builds, VACUUM, TRUNCATE and CREATE DATABASE, on each major
/// version this machine has.
@Suite(.ownThread) struct WALBlockReferenceTests {
    /// "lsn -> block references" as pg_waldump prints them.
    static func waldump(_ output: String) -> [String: Set<String>] {
        let pattern = try! NSRegularExpression(pattern: #"blkref #\d+: rel (\d+)/(\d+)/(\d+)(?: fork (\w+))? blk (\d+)"#)
        var records: [String: Set<String>] = [:]
        for line in output.split(separator: "\n") {
            guard let lsnRange = line.range(of: "lsn: ") else { continue }
            guard let lsn = LSN(String(line[lsnRange.upperBound...].prefix { $0 != "," }))?.description else { continue }
            let text = String(line)
            var refs = Set<String>()
            for m in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                func group(_ i: Int) -> String? { Range(m.range(at: i), in: text).map { String(text[$0]) } }
                refs.insert("\(group(1)!)/\(group(2)!)/\(group(3)!) \(group(4) ?? "main") \(group(5)!)")
            }
            records[lsn] = refs
        }
        return records
    }

    static let forkNames = ["main", "fsm", "vm", "init"]

    @Test(arguments: PostgresInstall.matrix)
    func blockReferencesMatchPgWaldump(major: Int) throws {
        let pg = try PostgresInstall.of(major)
        let s = try Scratch()
        let cluster = try TestCluster.create(s, name: "w\(major)", repository: nil, bin: pg.bin)
        try cluster.appendConfig("wal_keep_size = 1GB\nmax_wal_size = 1GB\n")
        try cluster.start()
        defer { cluster.stopIfRunning() }
        let start = try #require(try cluster.scalar("SELECT pg_current_wal_insert_lsn()"))
        for sql in [
            "CREATE TABLE t (id int PRIMARY KEY, v text)",
            "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 30000) g",
            "UPDATE t SET v = 'x' WHERE id % 7 = 0", "DELETE FROM t WHERE id % 11 = 0", "VACUUM t",
            "CREATE INDEX ON t (v)", "CREATE UNLOGGED TABLE u AS SELECT g FROM generate_series(1, 1000) g",
            "CREATE TABLE w AS SELECT g FROM generate_series(1, 5000) g", "TRUNCATE w", "ALTER TABLE t SET (fillfactor = 50)",
            "VACUUM FULL t", "CREATE DATABASE copied TEMPLATE template0" + (major >= 15 ? " STRATEGY wal_log" : ""),
            "CHECKPOINT", "UPDATE t SET v = 'y' WHERE id < 100",
        ] { try cluster.execute(sql) }
        if major >= 15 { try cluster.execute("CREATE DATABASE filecopied TEMPLATE template0 STRATEGY file_copy") }
        let end = try #require(try cluster.scalar("SELECT pg_current_wal_insert_lsn()"))
        try cluster.execute("SELECT pg_switch_wal()")

        let dump = try cluster.runClient("pg_waldump", ["-p", cluster.dataDir + "/pg_wal", "-s", start, "-e", end])
        #expect(dump.succeeded, "\(dump)")
        let expected = Self.waldump(dump.stdout)
        #expect(expected.count > 1000, "the workload wrote WAL: \(expected.count) records")

        // pgbk's scanner over the same segments, page by page.
        let startLSN = try #require(LSN(start)), endLSN = try #require(LSN(end))
        let segmentSize: UInt64 = 16 << 20, pageSize = 8192
        var scanner = WALRecordScanner(pageSize: pageSize, startLSN: startLSN)
        scanner.collectBlocks = true
        var found: [String: Set<String>] = [:]
        var segno = startLSN.value / segmentSize
        scanning: while true {
            let name = WALSegmentName(timeline: 1, segmentNumber: segno, segmentSize: segmentSize).name
            guard FileSystem.exists(cluster.dataDir + "/pg_wal/" + name) else {
                Issue.record("\(pg): no \(name) in pg_wal (\(try FileSystem.list(cluster.dataDir + "/pg_wal"))), reading \(start) to \(end)")
                break
            }
            let bytes = try FileSystem.readAll(cluster.dataDir + "/pg_wal/" + name, limit: Int(segmentSize))
            for offset in stride(from: 0, to: bytes.count, by: pageSize) {
                let pageLSN = LSN(segno * segmentSize + UInt64(offset))
                if pageLSN.value + UInt64(pageSize) <= startLSN.value - startLSN.value % UInt64(pageSize) { continue }
                if pageLSN >= endLSN { break scanning }
                let result = bytes.withUnsafeBytes { raw in
                    scanner.feed(UnsafeRawBufferPointer(rebasing: raw[offset..<offset + pageSize]), at: pageLSN, emit: { _ in }) { record in
                        guard record.lsn < endLSN else { return }
                        found[record.lsn.description] = Set(record.blocks.map {
                            "\($0.locator) \(Self.forkNames[Int($0.fork)]) \($0.block)"
                        })
                    }
                }
                #expect(result == .more || result == .nextSegment, "\(pg): \(result) at \(pageLSN)")
                if result == .nextSegment { break scanning }  // the pg_switch_wal() at the end
            }
            segno += 1
        }
        #expect(found.count == expected.count, "\(pg): \(found.count) records read, pg_waldump printed \(expected.count)")
        let differing = expected.filter { found[$0.key] != $0.value }.prefix(3)
        #expect(differing.isEmpty, "\(pg): \(differing.map { "\($0.key): pg_waldump \($0.value), pgbk \(found[$0.key] ?? [])" })")
        #expect(expected.values.contains { $0.contains { $0.contains(" vm ") } } && expected.values.contains { $0.contains { $0.contains(" fsm ") } },
                "\(pg): the workload touched the visibility map and the free space map")
    }
}
