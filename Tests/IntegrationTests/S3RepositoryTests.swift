import StorageInterface
import Testing
import Foundation
@testable import ObjectStorage
import CryptoDigest
import PostgresFormat
import Repository
import TestSupport

/// A test's S3 repository on the shared Ceph gateway: its own bucket, a pgbk configuration
/// file (what archive_command and restore_command read) and the driver to look inside.
struct S3Fixture {
    let scratch: Scratch
    let gateway: any S3Gateway
    var storage: S3Storage
    let url: String
    let config: String
    /// An encrypted repository's passphrase (CIPHER_PASS_FILE in the configuration).
    let passphrase: String?

    /// On the Ceph gateway unless another server is given (SeaweedFS); `objectLockDays`: a
    /// bucket with versioning and Object Lock in compliance mode for that many days.
    init(_ bucket: String, settings: [String: String] = [:], on server: (any S3Gateway)? = nil, objectLockDays: Int? = nil,
         passphrase: String? = nil) throws {
        scratch = try Scratch()
        self.passphrase = passphrase
        gateway = try server ?? CephGateway.get()
        let name = "\(bucket)-\(getpid())"
        if let objectLockDays {
            let values = gateway.settings()
            storage = try S3Storage(settings: S3Settings(url: "s3://\(name)/repo", lookup: { values[$0] }))
            try storage.client.createLockedBucket(days: objectLockDays)
        } else {
            storage = try gateway.makeBucket(name)
        }
        // Server-side encryption is asked of every request (SSE-C's key, on reads too).
        var sse = settings.filter { $0.key.hasPrefix("S3_SSE") || $0.key == "AWS_ENDPOINT_URL" || $0.key == "AWS_CA_BUNDLE" }
        if sse.keys.contains(where: { $0.hasPrefix("S3_SSE") }) {
            sse = gateway.settings().merging(sse) { $1 }
            storage = try S3Storage(settings: S3Settings(url: "s3://\(name)/repo", lookup: { sse[$0] }))
        }
        url = "s3://\(name)/repo"
        config = scratch.path + "/pgbk.conf"
        var values = gateway.settings().merging(settings) { $1 }
        if let passphrase {
            try scratch.writeFile(scratch.path + "/passphrase", passphrase + "\n")
            values["CIPHER_PASS_FILE"] = scratch.path + "/passphrase"
        }
        try writeConfig(config, values)
    }

    func writeConfig(_ path: String, _ values: [String: String], mode: UInt32 = 0o600) throws {
        try scratch.writeFile(path, values.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)\n" }.joined(), mode: mode)
    }

    /// The environment overrides the configuration file (the AWS rule), and the one the tests
    /// run in may carry AWS_* settings (a CA bundle, say): pgbk gets them emptied, so that
    /// what a test writes in its file is what pgbk uses.
    static let clearedEnvironment = Dictionary(uniqueKeysWithValues: [
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_CA_BUNDLE", "S3_URI_STYLE", "S3_PART_SIZE", "S3_RETRIES",
        "S3_TIMEOUT", "S3_UPLOAD_EXPIRY", "ARCHIVE_GET_QUEUE_MAX", "BACKUP_PATH", "PGBK_CONFIG", "S3_SSE", "S3_SSE_KMS_KEY_ID",
        "S3_SSE_CUSTOMER_KEY_FILE", "CIPHER_PASS_FILE", "CIPHER_PASS_COMMAND", "BUNDLE", "BUNDLE_LIMIT", "BUNDLE_SIZE",
    ].map { ($0, "") })

    /// pgbk on this repository (as postgres when root, as PostgreSQL would run it).
    @discardableResult
    func pgbk(_ command: String, _ args: [String] = [], config: String? = nil, env: [String: String] = [:]) throws -> CommandResult {
        try scratch.pgbk([command, "--config", config ?? self.config, "-B", url] + args,
                         env: Self.clearedEnvironment.merging(env) { $1 })
    }

    func spawn(_ command: String, _ args: [String], env: [String: String], config: String? = nil) throws -> SpawnedProcess {
        let argv = [command, "--config", config ?? self.config, "-B", url] + args
        return try Command.spawn(scratch.pgbk, argv, env: Self.clearedEnvironment.merging(env) { $1 }, asPostgres: false,
                                 outputDirectory: scratch.path)
    }

    func repository() throws -> Repository {
        guard let passphrase, let keyring = try Keyring.open(storage, passphrase: { Array(passphrase.utf8) }) else {
            return try Repository.open(storage: BundledStorage(storage, policy: nil))
        }
        return try Repository.open(storage: EncryptedStorage(BundledStorage(storage, policy: nil), keyring: keyring))
    }

    func backups() throws -> [[String: Any]] { try parseBackupsJSON(try pgbk("show", ["--json"]).stdout) }

    /// A cluster archiving into this repository, with a journal table (see PITRTests).
    func journalCluster(_ name: String = "src") throws -> TestCluster {
        let source = try TestCluster.create(scratch, name: name, repository: nil)
        try source.appendConfig("""
        track_commit_timestamp = on
        archive_mode = on
        archive_command = '\(scratch.pgbk) archive-push --config \(config) -B \(url) %p'

        """)
        let r = try pgbk("init", ["-D", source.dataDir])
        guard r.succeeded else { throw CommandError(result: r) }
        try source.start()
        try source.execute("CREATE TABLE journal (n int PRIMARY KEY)")
        return source
    }

    func switchWALAndWaitForArchive(_ cluster: TestCluster) throws {
        let segment = try #require(try cluster.scalar("SELECT pg_walfile_name(pg_current_wal_lsn())"))
        try cluster.execute("SELECT pg_switch_wal()")
        let repo = try repository()
        try waitUntil("\(segment) to be archived") { try repo.wal.find(segment) != nil }
    }

    func backup(_ cluster: TestCluster, _ mode: String, _ extra: [String] = [], env: [String: String] = [:]) throws -> String {
        let r = try pgbk("backup", ["-D", cluster.dataDir, "-b", mode] + extra + cluster.connectionArgs, env: env)
        guard r.succeeded else { throw CommandError(result: r) }
        let v = try pgbk("validate")
        guard v.succeeded else { throw CommandError(result: v) }
        return try #require(try backups().last?["id"] as? String)
    }

    func restoreJournal(as name: String, _ args: [String]) throws -> [Int] {
        let target = try scratch.makeDirectory(name)
        let r = try pgbk("restore", ["-D", target, "--recovery-target-action", "promote"] + args)
        guard r.succeeded else { throw CommandError(result: r) }
        let restored = try TestCluster.startRestored(target, scratch: scratch, name: name)
        defer { restored.stopIfRunning() }
        let rows = try restored.execute("SELECT n FROM journal ORDER BY n").rows.compactMap { $0[0].flatMap { Int($0) } }
        let check = try restored.runClient("pg_amcheck", restored.connectionArgs + ["--all", "--install-missing"])
        #expect(check.succeeded, "pg_amcheck on the restored cluster: \(check)")
        try restored.stop()
        return rows
    }

    /// Every key in the bucket below the repository's prefix.
    func keys(_ below: String = "") throws -> [String] {
        var names: [String] = []
        func walk(_ dir: String) throws {
            for entry in try storage.list(dir) {
                let name = dir.isEmpty ? entry.name : dir + "/" + entry.name
                if entry.kind == .directory { try walk(name) } else { names.append(name) }
            }
        }
        try walk(below)
        return names.sorted()
    }
}

/// Everything that uses the shared Ceph gateway. Each test has buckets of its own and
/// nothing stops the gateway (an outage is a FaultProxy's), so they run side by side.
@Suite(.ownThread) enum S3Scenarios {}

/// The S3 driver against a real Ceph RADOS Gateway (started once for the process).
extension S3Scenarios { @Suite struct S3RepositoryTests {
    @Test func theStorageContractHoldsOnARealGateway() throws {
        try Self.storageContract(on: try CephGateway.get())
    }

    /// The storage contract and the S3 driver's own promises (ranged reads that fill,
    /// multipart uploads, conditional writes, paged listings) on one server.
    static func storageContract(on gateway: any S3Gateway) throws {
        for (index, check) in [StorageContract.contentAppearsWholeOnlyOnCommit, StorageContract.noReplaceNeverOverwrites,
                               StorageContract.listsDirectChildrenAndRemovesTrees, StorageContract.aMissingNameIsNotFound].enumerated() {
            try check(try gateway.makeBucket("contract\(index)-\(getpid())"))
        }
        // Ranged GETs of 8,191 bytes (neither pages nor MiB): every read still fills (issue 22, defect 1).
        var oddChunks = try gateway.makeBucket("contract-fill-\(getpid())").settings
        oddChunks.readChunkSize = 8191
        try StorageContract.readsFillTheBuffer(try S3Storage(settings: oddChunks))
        try StorageContract.storedFilesPassThroughTheirFilters(try S3Storage(settings: oddChunks))
        // The same promises of an encrypted repository in a bucket (EncryptedStorage over S3).
        for (index, check) in [StorageContract.contentAppearsWholeOnlyOnCommit, StorageContract.noReplaceNeverOverwrites,
                               StorageContract.listsDirectChildrenAndRemovesTrees, StorageContract.aMissingNameIsNotFound,
                               StorageContract.readsFillTheBuffer, StorageContract.storedFilesPassThroughTheirFilters].enumerated() {
            var chunked = try gateway.makeBucket("contract-enc\(index)-\(getpid())").settings
            chunked.readChunkSize = 8191
            let inner = try S3Storage(settings: chunked)
            try check(EncryptedStorage(inner, keyring: try Keyring.create(in: inner, passphrase: Array("contract".utf8), cost: (n: 1024, r: 8, p: 1))))
        }
        // Larger than a part (5 MiB here): a multipart upload, visible only when completed,
        // read back in ranged chunks across part boundaries; an abandoned one leaves nothing.
        let values = gateway.settings(extra: ["S3_PART_SIZE": "5M"])
        let bucket = "multipart-\(getpid())"
        _ = try gateway.makeBucket(bucket)
        let storage = try S3Storage(settings: S3Settings(url: "s3://\(bucket)/r", lookup: { values[$0] }))
        let content = (0..<(12 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 13) }
        let stream = try storage.openWrite("big", expectedSize: nil, noReplace: true)
        for start in stride(from: 0, to: content.count, by: 1 << 20) {
            try content[start..<min(content.count, start + (1 << 20))].withUnsafeBytes { try stream.write($0) }
        }
        #expect(try storage.info("big") == nil, "a multipart upload is invisible until completed")
        try stream.commit()
        #expect(try storage.info("big")?.size == UInt64(content.count))
        #expect(try storage.readAll("big", limit: 64 << 20) == content)
        // The server's ETag of the completed object is the one pgbk computes from its parts
        // (what a retried completion that finds NoSuchUpload checks before calling it done).
        let partETags = stride(from: 0, to: content.count, by: 5 << 20).map { start in
            Array(content[start..<min(content.count, start + (5 << 20))]).withUnsafeBytes { "\"" + Digest.hex(Digest.md5($0)) + "\"" }
        }
        #expect(try storage.client.head(storage.settings.key("big"))?.etag == S3Client.multipartETag(partETags))
        let ranged = try storage.openRead("big", range: 5_242_000..<5_243_000)
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = try buffer.withUnsafeMutableBytes { try ranged.read(into: $0) }
        #expect(Array(buffer[0..<n]) == Array(content[5_242_000..<5_243_000]))
        let again = try storage.openWrite("big", expectedSize: nil, noReplace: true)
        try content.withUnsafeBytes { try again.write($0) }
        #expect(throws: StorageError.exists(storage.describe("big"))) { try again.commit() }
        let abandoned = try storage.openWrite("other", expectedSize: nil, noReplace: false)
        try content.withUnsafeBytes { try abandoned.write($0) }
        abandoned.abandon()
        #expect(try storage.info("other") == nil)
        #expect(throws: StorageError.notFound(storage.describe("missing"))) { try storage.openRead("missing", range: nil) }

        // Listings longer than a page follow continuation tokens (pages of 7 here).
        for i in 0..<25 { try storage.writeAll("many/f\(i)", [UInt8(i)]) }
        for i in 0..<9 { try storage.writeAll("many/d\(i)/x", [1]) }
        let keyPrefix = storage.settings.key("many") + "/"
        #expect(try storage.client.list(prefix: keyPrefix, delimiter: nil, pageSize: 7).objects.count == 34)
        let paged = try storage.client.list(prefix: keyPrefix, delimiter: "/", pageSize: 7)
        #expect(paged.objects.count == 25 && paged.prefixes.count == 9)
        #expect(try storage.list("many").count == 34)
        try storage.removeTree("many")
        #expect(try storage.list("many").isEmpty)
    }

    /// The main scenarios on one repository: a full backup (zstd, -j), an incremental
    /// chain, WAL after the backup, PITR by time, restores checked by pg_amcheck and queries,
    /// then expire with WAL pruning.
    @Test func backupChainPITRAndExpireOnS3() throws {
        try Self.backupChainPITRAndExpire(try S3Fixture("chain"))
    }

    static func backupChainPITRAndExpire(_ f: S3Fixture) throws {
        let source = try f.journalCluster()
        defer { source.stopIfRunning() }
        let journal = Journal(cluster: source)
        try source.execute("CREATE TABLE filler AS SELECT g, md5(g::text) AS v FROM generate_series(1, 100000) g")
        // Unbundled (as before issue 28, or BUNDLE=off) then bundled, object storage's
        // default: the chain below mixes them.
        let first = try f.backup(source, "full", ["--compress=zstd", "-j", "4"], env: ["BUNDLE": "off"])
        #expect(try !f.keys("backup/\(first)").contains("backup/\(first)/bundle.list"))
        try journal.write(1...6, switchEvery: 3)
        _ = try f.backup(source, "incremental", env: ["BUNDLE": "off"])
        try journal.write(7...12, switchEvery: 3)
        let second = try f.backup(source, "incremental")
        #expect(try f.keys("backup/\(second)").contains("backup/\(second)/bundle.list"))
        try journal.write(13...20, switchEvery: 4)
        try f.switchWALAndWaitForArchive(source)
        let time9 = try journal.timeBetween(9, 10)
        let time15 = try journal.timeBetween(15, 16)

        #expect(try f.restoreJournal(as: "latest", []) == Array(1...20))
        #expect(try f.restoreJournal(as: "t15", ["--recovery-target-time", time15]) == Array(1...15))
        #expect(try f.restoreJournal(as: "t9", ["--recovery-target-time", time9]) == Array(1...9))
        let chain = try f.restoreJournal(as: "imm", ["--recovery-target", "immediate", "--backup-id", second])
        #expect(chain == Array(1...12))

        // Issue 29, item 2: the chain (unbundled and bundled members) merged into a full on
        // the bucket; PITR from it reaches a time after it.
        let merge = try f.pgbk("merge", [second])
        #expect(merge.succeeded, "\(merge)")
        let merged = String(second.dropLast()) + "F"
        #expect(try f.backups().map { $0["id"] as? String } == [merged])
        #expect(try f.restoreJournal(as: "merged-t15", ["--recovery-target-time", time15]) == Array(1...15))

        // A new full backup; expire keeps one generation and drops the WAL before it.
        let newFull = try f.backup(source, "full", ["--compress=lz4", "-j", "2"], env: ["BUNDLE": "on", "BUNDLE_SIZE": "1M", "BUNDLE_LIMIT": "512K"])
        let fullKeys = try f.keys("backup/\(newFull)")
        let listed = try #require(f.backups().last?["file_count"] as? Int)
        #expect(fullKeys.count * 4 < listed, "a bundled full is a few objects: \(fullKeys.count) for \(listed) entries")
        let walBefore = try f.keys("wal").filter { !$0.hasSuffix(".history") }
        let expire = try f.pgbk("expire", ["--keep-data-generations", "1"])
        #expect(expire.succeeded, "\(expire)")
        let left = try f.backups()
        #expect(left.map { $0["id"] as? String } == [newFull], "\(left)")
        let startSegment = try #require(left.first?["start_wal_file"] as? String)
        let walAfter = try f.keys("wal")
        #expect(walAfter.count < walBefore.count)
        #expect(walAfter.allSatisfy { FileSystem.baseName(of: $0).prefix(24) >= startSegment.prefix(24) || $0.contains(".history") },
                "WAL before \(startSegment) is gone: \(walAfter)")
        // Expired backups keep their backup.ini (DELETED) until purge, as in pg_rman.
        let expired = try f.keys("backup").filter { !$0.hasPrefix("backup/\(newFull)/") }
        #expect(expired.count == 4 && expired.allSatisfy { $0.hasSuffix("/backup.ini") }, "\(expired)")
        #expect(try f.pgbk("purge").succeeded)
        #expect(try f.keys("backup").allSatisfy { $0.hasPrefix("backup/\(newFull)/") })
        #expect(try f.pgbk("validate").succeeded)
        try journal.write(21...22)
        try f.switchWALAndWaitForArchive(source)
        try source.stop()
        #expect(try f.restoreJournal(as: "after-expire", []) == Array(1...22))
    }

    /// Recovery from S3 reads WAL through archive-get's prefetch spool: segments are fetched
    /// ahead, a damaged queued copy is fetched again rather than handed out, and the spool
    /// is gone once recovery ends (recovery_end_command).
    @Test func archiveGetFetchesAheadAndNeverHandsOutADamagedSegment() throws {
        let f = try S3Fixture("prefetch")
        let source = try f.journalCluster()
        defer { source.stopIfRunning() }
        _ = try f.backup(source, "full")
        let journal = Journal(cluster: source)
        try journal.write(1...24, switchEvery: 2)
        try f.switchWALAndWaitForArchive(source)
        try source.stop()

        let target = try f.scratch.makeDirectory("restored")
        let r = try f.pgbk("restore", ["-D", target, "--recovery-target-action", "promote"])
        #expect(r.succeeded, "\(r)")
        // Verbose archive-get says which segments came from the spool.
        let autoConf = target + "/postgresql.auto.conf"
        let conf = try FileSystem.readText(autoConf)
        #expect(conf.contains("recovery_end_command"))
        try f.scratch.writeFile(autoConf, conf.replacingOccurrences(of: " archive-get ", with: " archive-get -v "))
        // A queued copy whose bytes do not match its checksum, planted where recovery will
        // look for the second segment after the backup.
        let repo = try f.repository()
        let archived = try repo.wal.listAll().filter { $0.walName.count == 24 }.map(\.walName).sorted()
        let planted = try #require(archived.dropFirst(2).first)
        let spool = try f.scratch.makeDirectory("restored/pg_wal/pgbk-prefetch")
        let real = try #require(try repo.wal.find(planted))
        try f.scratch.writeFile(spool + "/\(planted)-" + CRC32C.hex(real.checksum), String(repeating: "x", count: 8192))

        let restored = try TestCluster.startRestored(target, scratch: f.scratch, name: "restored")
        defer { restored.stopIfRunning() }
        #expect(try restored.execute("SELECT n FROM journal ORDER BY n").rows.compactMap { $0[0].flatMap { Int($0) } } == Array(1...24))
        let log = try FileSystem.readText(restored.logFile)
        let ahead = log.components(separatedBy: "(fetched ahead)").count - 1
        #expect(ahead >= 8, "most segments came from the spool (\(ahead)): \(log)")
        #expect(log.contains("does not match its checksum"), "the planted copy was refused")
        #expect(!FileSystem.exists(spool), "recovery_end_command removed the spool")
    }
} }
