import Testing
import Foundation
import Repository
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Encrypted repositories (issue 27) on real servers: nothing of the database is stored in
/// plain text, and every command works on them exactly as on a plain one.
@Suite struct EncryptionTests {
    /// A scratch with a passphrase file and a configuration naming it (both postgres's, 0600).
    struct Setup {
        let s: Scratch
        let repo: String
        let config: String
        let passphrase = "pgbk-test-passphrase-\(getpid())"

        init() throws {
            s = try Scratch()
            repo = s.path + "/repo"
            try s.writeFile(s.path + "/passphrase", passphrase + "\n")
            config = s.path + "/pgbk.conf"
            try s.writeFile(config, "CIPHER_PASS_FILE=\(s.path)/passphrase\n")
        }

        var repoArgs: [String] { ["--config", config, "-B", repo] }

        /// A cluster archiving into the encrypted repository, created by init --encrypt; started.
        func cluster(logging: Bool = false) throws -> TestCluster {
            let cluster = try TestCluster.create(s, name: "db", repository: nil)
            try cluster.appendConfig("archive_mode = on\narchive_command = '\(s.pgbk) archive-push --config \(config) -B \(repo) %p'\n"
                                     + (logging ? "logging_collector = on\nlog_directory = 'log'\nlog_statement = 'all'\n" : ""))
            let made = try s.pgbk(["init", "--encrypt", "-D", cluster.dataDir] + repoArgs)
            #expect(made.succeeded && made.stderr.contains("encrypted repository created in \(repo)"), "\(made)")
            try cluster.start()
            return cluster
        }

        /// Every file below `directory` holding `marker`.
        func filesHolding(_ marker: String, below directory: String) throws -> [String] {
            let found = try Command.run("/usr/bin/grep", ["-rlF", "--", marker, directory], outputDirectory: s.path)
            return found.stdout.split(separator: "\n").map(String.init)
        }
    }

    @Test func nothingIsStoredInPlainTextAndEverythingRestoresExactly() throws {
        let setup = try Setup()
        let (s, repo) = (setup.s, setup.repo)
        let cluster = try setup.cluster(logging: true)
        defer { cluster.stopIfRunning() }
        let marker = "pgbk-secret-marker-\(UInt32.random(in: 1...UInt32.max))"
        try cluster.execute("CREATE TABLE secrets (id int PRIMARY KEY, v text)")
        try cluster.execute("INSERT INTO secrets SELECT g, '\(marker)-' || g FROM generate_series(1, 20000) g")
        let full = try s.pgbk(["backup", "-b", "full", "-s", "-D", cluster.dataDir] + setup.repoArgs + cluster.connectionArgs)
        #expect(full.succeeded, "\(full)")
        #expect(try s.pgbk(["validate"] + setup.repoArgs).succeeded)
        try cluster.execute("UPDATE secrets SET v = '\(marker)-changed' WHERE id % 10 = 0")
        let incremental = try s.pgbk(["backup", "-b", "incremental", "-s", "-D", cluster.dataDir] + setup.repoArgs + cluster.connectionArgs)
        #expect(incremental.succeeded, "\(incremental)")
        // After the last backup: only in WAL (a row and a commit's comment).
        try cluster.execute("INSERT INTO secrets VALUES (0, '\(marker)-wal-only') /* \(marker) */")
        try cluster.switchWALAndWaitForArchive(repository: repo, passphrase: setup.passphrase)
        let expected = try dumpFingerprint(cluster)
        try cluster.execute("CHECKPOINT")

        // The marker is in the cluster (table, WAL, server log), and in no byte of the repository.
        #expect(try !setup.filesHolding(marker, below: cluster.dataDir + "/base").isEmpty)
        #expect(try !setup.filesHolding(marker, below: cluster.dataDir + "/pg_wal").isEmpty)
        #expect(try !setup.filesHolding(marker, below: cluster.dataDir + "/log").isEmpty)
        #expect(try setup.filesHolding(marker, below: repo).isEmpty)
        #expect(try setup.filesHolding("secrets", below: repo).isEmpty, "not even a table's name")
        #expect(try setup.filesHolding("PGBKAES1", below: repo).count > 20, "the files are encrypted, not missing")
        try cluster.stop()

        let validate = try s.pgbk(["validate"] + setup.repoArgs)
        #expect(validate.succeeded && validate.stderr.contains(": OK"), "\(validate)")
        let shown = try parseBackupsJSON(try s.pgbk(["show", "--json"] + setup.repoArgs).stdout)
        #expect(shown.count == 2 && shown.allSatisfy { $0["status"] as? String == "OK" }, "\(shown)")

        let target = try s.makeDirectory("restored")
        let restore = try s.pgbk(["restore", "-D", target] + setup.repoArgs, asCurrentUser: true)
        #expect(restore.succeeded, "\(restore)")
        let restored = try TestCluster.startRestored(target, scratch: s, name: "restored")
        defer { restored.stopIfRunning() }
        #expect(try dumpFingerprint(restored) == expected)
        #expect(try restored.scalar("SELECT v FROM secrets WHERE id = 0") == "\(marker)-wal-only")
        let amcheck = try restored.runClient("pg_amcheck", restored.connectionArgs + ["--all", "--install-missing", "--heapallindexed"])
        #expect(amcheck.succeeded && amcheck.stdout.isEmpty, "\(amcheck)")
    }
}
