import StorageInterface
import Testing
import Foundation
import Synchronization
import PostgresClient
import PostgresFormat
import Repository
import Engine

/// A backup of a real server into a repository held by MemoryStorage: the storage seam
/// carries a whole backup, and a storage failure in the middle of one ends it as ERROR, with
/// its data gone and the next backup unaffected.
@Suite(.ownThread) struct MemoryRepositoryBackupTests {
    /// archive_command copies segments into a directory; this pushes them on into the
    /// memory repository, as archive-push would into a remote one.
    final class Archiver: Sendable {
        let stop = Atomic<Bool>(false)
        let pushed = Mutex<Set<String>>([])

        func start(from dir: String, into repository: Repository) {
            Thread.detachNewThread { [self] in
                let archive = WALArchive(repository: repository)
                while !stop.load(ordering: .relaxed) {
                    for name in (try? FileSystem.list(dir)) ?? [] where !name.hasPrefix(".") {
                        guard !pushed.withLock({ $0.contains(name) }) else { continue }
                        if (try? archive.push(dir + "/" + name, compression: .none, level: 0)) != nil {
                            pushed.withLock { _ = $0.insert(name) }
                        }
                    }
                    usleep(20_000)
                }
            }
        }
    }

    /// A started cluster whose archive_command copies into a spool, a repository held by
    /// `storage` that an Archiver fills from it, and backup options for the cluster.
    struct Fixture {
        let scratch: Scratch
        let spool: String
        let cluster: TestCluster
        let data: DataDirectory
        let storage: MemoryStorage
        let repo: Repository
        let archiver = Archiver()
        var options = BackupOptions()

        init(_ name: String, storage: MemoryStorage = MemoryStorage()) throws {
            scratch = try Scratch()
            spool = try scratch.makeDirectory("spool")
            cluster = try TestCluster.create(scratch, name: name, repository: nil)
            // Copied under a dot name and renamed: the archiver skips dot names.
            try cluster.appendConfig("archive_mode = on\narchive_command = 'cp %p \(spool)/.%f && mv \(spool)/.%f \(spool)/%f'\n")
            try cluster.start()
            self.storage = storage
            data = try DataDirectory(cluster.dataDir)
            repo = try Repository.create(storage: storage, identity: RepositoryIdentity(cluster: data), config: RepositoryConfig())
            archiver.start(from: spool, into: repo)
            options.connection = ConnectionParameters(host: cluster.socketDir, port: String(cluster.port), user: "postgres", database: "postgres")
            options.archiveTimeoutSeconds = 120
            options.jobs = 2
        }

        func backup() throws -> BackupInfo { try BackupOperation(repository: repo, cluster: data, options: options).run() }

        func stop() {
            archiver.stop.store(true, ordering: .relaxed)
            cluster.stopIfRunning()
        }
    }

    @Test func aBackupGoesThroughTheSeamAndAStorageFailureEndsItAsError() throws {
        let f = try Fixture("mem")
        defer { f.stop() }
        let (storage, repo, data, options) = (f.storage, f.repo, f.data, f.options)
        try f.cluster.execute("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 50000) g")

        // The fifth stored file cannot be published: the backup fails, and says so.
        storage.fail(.publish, after: 5, matching: "/data/")
        #expect(throws: StorageError.self) { try BackupOperation(repository: repo, cluster: data, options: options).run() }
        let failed = try #require(try repo.loadAll().backups.last)
        #expect(failed.status == .error && failed.statusReason?.contains("injected") == true, "\(failed)")
        #expect(!storage.names.contains { $0.hasPrefix(repo.dataName(failed.id) + "/") }, "a failed backup's data is removed")

        // The next one is whole, and validates.
        let done = try BackupOperation(repository: repo, cluster: data, options: options).run()
        #expect(done.status == .done)
        let report = try ValidateOperation(repository: repo, jobs: 2).run(backupID: done.id)
        #expect(report.outcomes.map(\.status) == [.ok], "\(report.outcomes)")
        #expect(try repo.loadFileList(try repo.loadBackup(done.id)).contains { $0.path == "global/pg_control" })
    }

    /// Issue 22, defect 1: a store whose reads return 1..N bytes (as an S3 ranged GET ends
    /// mid-page) carries an uncompressed full, an incremental of page deltas, validate,
    /// archive-get and a restore whose server recovers the source's rows. Before reads filled,
    /// validate called the incremental's .delta files corrupt.
    @Test func aStoreWhoseReadsComeShortCarriesEveryCommandPath() throws {
        var f = try Fixture("short", storage: MemoryStorage(readsReturnAtMost: 8191))
        defer { f.stop() }
        let (s, spool, cluster, repo, archiver) = (f.scratch, f.spool, f.cluster, f.repo, f.archiver)
        try cluster.execute("CREATE TABLE t (id int PRIMARY KEY, v text) WITH (fillfactor = 50)")
        try cluster.execute("INSERT INTO t SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g")

        let full = try f.backup()
        #expect(try ValidateOperation(repository: repo, jobs: 2).run(backupID: full.id).outcomes.map(\.status) == [.ok])
        try cluster.execute("UPDATE t SET v = repeat('y', 200)")
        try cluster.execute("CHECKPOINT")
        f.options.mode = .incremental
        let incremental = try f.backup()
        #expect(try repo.loadFileList(incremental).contains { $0.kind == .pageDelta }, "the incremental stored page deltas")
        let report = try ValidateOperation(repository: repo, jobs: 2).run(backupID: incremental.id)
        #expect(report.outcomes.count == 2 && report.outcomes.allSatisfy { $0.status == .ok }, "\(report.outcomes)")
        #expect(full.status == .done && incremental.status == .done)

        // archive-get through the same store gives the segment back byte for byte.
        let segment = try #require(archiver.pushed.withLock { $0.filter { $0.count == 24 }.sorted().last })
        let fetched = s.path + "/fetched"
        _ = try WALArchive(repository: repo).get(segment, to: fetched)
        #expect(try FileSystem.readAll(fetched) == FileSystem.readAll(spool + "/" + segment))

        let expected = try cluster.scalar("SELECT count(*) || ':' || sum(length(v)) || ':' || md5(string_agg(v, ',' ORDER BY id)) FROM t")
        let target = s.path + "/restored"
        _ = try RestoreOperation(repository: repo, options: RestoreOptions(target: target, pgbkExecutable: "/bin/false")).run()
        // The memory repository is this process's: the restored server reads WAL from the spool.
        let autoConf = target + "/postgresql.auto.conf"
        try s.writeFile(autoConf, try FileSystem.readText(autoConf) + "restore_command = 'cp \(spool)/%f %p'\n")
        let restored = try TestCluster.startRestored(target, scratch: s, name: "short-restored")
        defer { restored.stopIfRunning() }
        #expect(try restored.scalar("SELECT count(*) || ':' || sum(length(v)) || ':' || md5(string_agg(v, ',' ORDER BY id)) FROM t") == expected)
    }

    /// Issue 22, defect 3: an archived segment the WAL map needs cannot be read (an I/O
    /// error, not damage): the incremental reads every page instead and says why; and a
    /// failure between the RUNNING record and the copy marks the backup ERROR, never leaving
    /// it RUNNING. Before, the first aborted the incremental and both left it RUNNING.
    @Test func aMapSourceThatFailsMeansAPageScanAndNoFailureLeavesRunning() throws {
        var f = try Fixture("mapfail")
        defer { f.stop() }
        let (cluster, storage, repo) = (f.cluster, f.storage, f.repo)
        try cluster.execute("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 50000) g")
        let full = try f.backup()
        _ = try ValidateOperation(repository: repo, jobs: 2).run(backupID: full.id)
        try cluster.execute("UPDATE t SET id = id + 1 WHERE id % 100 = 0")
        f.options.mode = .incremental

        let segment = try #require(full.startWALFile)
        storage.fail(.read, matching: segment)
        let scanned = try f.backup()
        #expect(scanned.status == .done && scanned.changeSource == "scan", "\(scanned)")
        #expect(scanned.changeSourceReason?.contains("map unavailable") == true
                && scanned.changeSourceReason?.contains("injected") == true, "\(scanned.changeSourceReason ?? "-")")
        // Every relation was scanned and nearly all kept no page: nothing was stored for
        // them, and nothing is removed either (on S3 each removal was a request).
        #expect(try repo.loadFileList(scanned).filter { $0.kind == .unchanged }.count > 100)
        #expect(storage.removals.filter { $0.hasPrefix(repo.dataName(scanned.id) + "/") } == [])

        // The second save of backup.ini (after the map) fails: the backup ends as ERROR.
        storage.fail(.publish, after: 2, matching: "backup.ini")
        #expect(throws: StorageError.self) { try f.backup() }
        let failed = try #require(try repo.loadAll().backups.last)
        #expect(failed.status == .error && failed.statusReason?.contains("injected") == true, "\(failed)")
    }
}
