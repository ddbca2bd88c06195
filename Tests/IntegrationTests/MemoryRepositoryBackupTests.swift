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
@Suite struct MemoryRepositoryBackupTests {
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

    @Test func aBackupGoesThroughTheSeamAndAStorageFailureEndsItAsError() throws {
        let s = try Scratch()
        let spool = try s.makeDirectory("spool")
        let cluster = try TestCluster.create(s, name: "mem", repository: nil)
        // Copied under a dot name and renamed: the archiver below skips dot names.
        try cluster.appendConfig("archive_mode = on\narchive_command = 'cp %p \(spool)/.%f && mv \(spool)/.%f \(spool)/%f'\n")
        try cluster.start()
        defer { cluster.stopIfRunning() }
        try cluster.execute("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 50000) g")

        let storage = MemoryStorage()
        let data = try DataDirectory(cluster.dataDir)
        let repo = try Repository.create(storage: storage, identity: RepositoryIdentity(cluster: data), config: RepositoryConfig())
        let archiver = Archiver()
        archiver.start(from: spool, into: repo)
        defer { archiver.stop.store(true, ordering: .relaxed) }

        var options = BackupOptions()
        options.connection = ConnectionParameters(host: cluster.socketDir, port: String(cluster.port), user: "postgres", database: "postgres")
        options.archiveTimeoutSeconds = 120
        options.jobs = 2

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
}
