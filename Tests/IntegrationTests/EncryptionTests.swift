import Testing
import Foundation
import Repository
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Encrypted repositories (issue 27) on real servers: nothing of the database is stored in
/// plain text, and every command works on them exactly as on a plain one.
@Suite(.ownThread) struct EncryptionTests {
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

        /// The newest backup restored into a new directory (as the invoking user) and started.
        func restoreAndStart() throws -> (String, TestCluster) {
            let target = try s.makeDirectory("restored")
            let restore = try s.pgbk(["restore", "-D", target] + repoArgs, asCurrentUser: true)
            guard restore.succeeded else { throw CommandError(result: restore) }
            return (target, try TestCluster.startRestored(target, scratch: s, name: "restored"))
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
        // Bundled (issue 28): each file sealed on its own inside the bundle.
        let incremental = try s.pgbk(["backup", "-b", "incremental", "-s", "-D", cluster.dataDir] + setup.repoArgs + cluster.connectionArgs,
                                     env: ["BUNDLE": "on"])
        #expect(incremental.succeeded, "\(incremental)")
        // After the last backup: only in WAL (a row and a commit's comment).
        try cluster.execute("INSERT INTO secrets VALUES (0, '\(marker)-wal-only') /* \(marker) */")
        try cluster.switchWALAndWaitForArchive(repository: repo, passphrase: setup.passphrase)
        let expected = try dumpFingerprint(cluster)
        try cluster.execute("CHECKPOINT")
        // A drill (its record is stored in the repository) reaches the row only WAL holds.
        let drills = try s.makeDirectory("drills")
        let drill = try s.pgbk(["drill", "--scratch-dir", drills, "-U", "postgres", "--sql-check",
                                "SELECT v = '\(marker)-wal-only' FROM secrets WHERE id = 0"] + setup.repoArgs)
        #expect(drill.succeeded && drill.stderr.contains(": OK: backup "), "\(drill)")
        let records = try s.pgbk(["show", "drills", "--json"] + setup.repoArgs)
        #expect(records.succeeded && records.stdout.contains("\"result\""), "\(records)")
        // Issue 29, item 2: the chain merged into a full (bundled), sealed like any backup.
        let merge = try s.pgbk(["merge"] + setup.repoArgs, env: ["BUNDLE": "on"])
        #expect(merge.succeeded && merge.stderr.contains("read back against its checksums: OK"), "\(merge)")

        // The marker is in the cluster (table, WAL, server log), and in no byte of the repository.
        #expect(try !setup.filesHolding(marker, below: cluster.dataDir + "/base").isEmpty)
        #expect(try !setup.filesHolding(marker, below: cluster.dataDir + "/pg_wal").isEmpty)
        #expect(try !setup.filesHolding(marker, below: cluster.dataDir + "/log").isEmpty)
        #expect(try setup.filesHolding(marker, below: repo).isEmpty)
        #expect(try setup.filesHolding("secrets", below: repo).isEmpty, "not even a table's name")
        #expect(try setup.filesHolding("PGBKAES1", below: repo).count > 20, "the files are encrypted, not missing")
        try cluster.stop()

        let validate = try s.pgbk(["validate", "--recheck"] + setup.repoArgs)
        #expect(validate.succeeded && validate.stderr.contains(": OK"), "\(validate)")
        let shown = try parseBackupsJSON(try s.pgbk(["show", "--json"] + setup.repoArgs).stdout)
        #expect(shown.count == 1 && shown.allSatisfy { $0["status"] as? String == "OK" && $0["merged_from"] is String }, "\(shown)")
        #expect(shown.map { $0["bundled"] as? Bool } == [true])

        let (target, restored) = try setup.restoreAndStart()
        defer { restored.stopIfRunning() }
        #expect(try dumpFingerprint(restored) == expected)
        #expect(try restored.scalar("SELECT v FROM secrets WHERE id = 0") == "\(marker)-wal-only")
        let amcheck = try restored.runClient("pg_amcheck", restored.connectionArgs + ["--all", "--install-missing", "--heapallindexed"])
        #expect(amcheck.succeeded && amcheck.stdout.isEmpty, "\(amcheck)")

        // Changed after the restore, then restored again with --delta: exact once more.
        try restored.execute("UPDATE secrets SET v = 'overwritten' WHERE id % 3 = 0")
        try restored.stop()
        let delta = try s.pgbk(["restore", "--delta", "-D", target] + setup.repoArgs, asCurrentUser: true)
        #expect(delta.succeeded, "\(delta)")
        let again = try TestCluster.startRestored(target, scratch: s, name: "again")
        defer { again.stopIfRunning() }
        #expect(try dumpFingerprint(again) == expected)
    }
}

extension EncryptionTests {
    /// The line of `check`'s output for the check named `name`.
    static func checkLine(_ r: CommandResult, _ name: String) -> String? {
        r.stdout.split(separator: "\n").map(String.init).first { $0.split(separator: " ").dropFirst().first.map(String.init) == name }
    }

    /// The repository as a list of names, sizes and times: what "nothing written" compares.
    static func snapshot(_ directory: String) throws -> [String] {
        let listed = try Command.run("/usr/bin/find", [directory, "-printf", "%P %s %T@\n"], outputDirectory: "/tmp")
        return listed.stdout.split(separator: "\n").map(String.init).sorted()
    }

    @Test func aWrongMissingOrFailingPassphraseIsOneLineAndWritesNothing() throws {
        let setup = try Setup()
        let (s, repo) = (setup.s, setup.repo)
        let cluster = try setup.cluster()
        defer { cluster.stopIfRunning() }
        let backup = ["backup", "-b", "full", "-D", cluster.dataDir, "-B", repo] + cluster.connectionArgs
        #expect(try s.pgbk(backup + ["--config", setup.config]).succeeded)
        // The server archives the backup's .backup file after the backup returns: wait for
        // that, so that "before" is the repository as no failing command can change it.
        try waitUntil("the server's archiving to be done") {
            ((try? FileSystem.list(cluster.dataDir + "/pg_wal/archive_status")) ?? []).allSatisfy { !$0.hasSuffix(".ready") }
        }
        let before = try Self.snapshot(repo)

        try s.writeFile(s.path + "/wrong", "not the passphrase\n")
        try s.writeFile(s.path + "/wrong.conf", "CIPHER_PASS_FILE=\(s.path)/wrong\n")
        try s.writeFile(s.path + "/failing.conf", "CIPHER_PASS_COMMAND=echo half; exit 3\n")
        try s.writeFile(s.path + "/open.conf", "CIPHER_PASS_FILE=\(s.path)/passphrase\n")
        try s.writeFile(s.path + "/empty.conf", "\n")
        try s.writeFile(s.path + "/world", setup.passphrase + "\n", mode: 0o644)
        try s.writeFile(s.path + "/world.conf", "CIPHER_PASS_FILE=\(s.path)/world\n")
        let cases: [(String, String)] = [
            ("wrong.conf", "the passphrase does not open it"),
            ("failing.conf", "CIPHER_PASS_COMMAND exited with status 3"),
            ("empty.conf", "the repository is encrypted: set CIPHER_PASS_FILE or CIPHER_PASS_COMMAND"),
            ("world.conf", "can be read or written by every user of the host"),
        ]
        for (config, why) in cases {
            for command in [backup, ["show", "-B", repo], ["validate", "-B", repo], ["archive-get", "-B", repo, "00000001000000000000000F", s.path + "/got"]] {
                let r = try s.pgbk(command + ["--config", s.path + "/" + config])
                #expect(failsWithOneError(r) && r.stderr.contains(why), "\(config), \(command[0]): \(r)")
                #expect(!r.stderr.contains(setup.passphrase) && !r.stderr.contains("half"), "the passphrase is never printed")
            }
        }
        #expect(try Self.snapshot(repo) == before, "nothing was written")

        // A passphrase configured for a plain repository: refused, nothing stored in plain text.
        let plain = s.path + "/plain"
        #expect(try s.pgbk(["init", "-B", plain, "-D", cluster.dataDir]).succeeded)
        let refused = try s.pgbk(backup.map { $0 == repo ? plain : $0 } + ["--config", setup.config])
        #expect(failsWithOneError(refused) && refused.stderr.contains("\(plain) is not encrypted, but a passphrase is configured"), "\(refused)")
        // --encrypt without a passphrase: nothing made.
        let unencrypted = try s.pgbk(["init", "--encrypt", "-B", s.path + "/none", "-D", cluster.dataDir, "--config", s.path + "/empty.conf"])
        #expect(failsWithOneError(unencrypted) && unencrypted.stderr.contains("--encrypt: no passphrase is configured"), "\(unencrypted)")
        #expect(!FileSystem.exists(s.path + "/none"))
        // scrypt's cost: chosen at init within bounds, written into encryption.ini.
        let tooDear = try s.pgbk(["init", "--kdf-cost", "30", "-B", s.path + "/dear", "-D", cluster.dataDir, "--config", setup.config])
        #expect(failsWithOneError(tooDear) && tooDear.stderr.contains("--kdf-cost must be 14 to 20"), "\(tooDear)")
        #expect(try s.pgbk(["init", "--kdf-cost", "16", "-B", s.path + "/dear", "-D", cluster.dataDir, "--config", setup.config]).succeeded)
        #expect(try FileSystem.readText(s.path + "/dear/encryption.ini").contains("KDF_N=65536\n"))
    }

    /// A flipped byte in any encrypted file, and two files swapped: CORRUPT naming the file.
    @Test func tamperedFilesAreCorruptNamingTheFile() throws {
        let setup = try Setup()
        let (s, repo) = (setup.s, setup.repo)
        let cluster = try setup.cluster()
        defer { cluster.stopIfRunning() }
        try cluster.execute("CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 50000) g")
        #expect(try s.pgbk(["backup", "-b", "full", "-D", cluster.dataDir] + setup.repoArgs + cluster.connectionArgs).succeeded)
        try cluster.switchWALAndWaitForArchive(repository: repo, passphrase: setup.passphrase)
        let id = try #require(try FileSystem.list(repo + "/backup").first { $0.hasSuffix("F") })
        let data = repo + "/backup/" + id + "/data"
        // Two relation files of more than one chunk, and one archived WAL segment.
        let files = try Command.run("/usr/bin/find", [data, "-type", "f", "-size", "+100k"], outputDirectory: s.path).stdout
            .split(separator: "\n").map(String.init).sorted()
        #expect(files.count >= 2, "\(files)")
        let (a, b) = (files[0], files[1])
        let original = (try FileSystem.readAll(a), try FileSystem.readAll(b))

        var flipped = original.0
        flipped[flipped.count / 2] ^= 0x10
        try AtomicFile.write(a, flipped)
        try s.chownToPostgres(a)
        var validate = try s.pgbk(["validate"] + setup.repoArgs)
        #expect(validate.status != 0 && validate.stderr.contains("CORRUPT") && validate.stderr.contains(a)
                && validate.stderr.contains("fails authentication"), "\(validate)")

        try AtomicFile.write(a, original.1)
        try AtomicFile.write(b, original.0)
        try s.chownToPostgres(a)
        try s.chownToPostgres(b)
        validate = try s.pgbk(["validate", id] + setup.repoArgs)
        #expect(validate.status != 0 && validate.stderr.contains("CORRUPT") && validate.stderr.contains(a) && validate.stderr.contains(b), "\(validate)")
        let target = try s.makeDirectory("restored")
        let restore = try s.pgbk(["restore", "-D", target, "--backup-id", id] + setup.repoArgs, asCurrentUser: true)
        #expect(restore.status != 0, "a corrupt backup is not restored: \(restore)")
    }
}

extension EncryptionTests {
    /// rekey while PostgreSQL archives (a segment switched every second) and a backup runs,
    /// then killed at each of its named points: afterwards exactly one passphrase opens the
    /// repository, a rerun completes, the old one is refused, and everything validates and
    /// restores exactly.
    @Test func rekeyUnderArchivingAndABackupAndAtEveryKillPoint() throws {
        let setup = try Setup()
        let (s, repo, config) = (setup.s, setup.repo, setup.config)
        let cluster = try setup.cluster()
        defer { cluster.stopIfRunning() }
        // No sequence: a restored one is ahead by up to 32 values, and the dumps would differ.
        try cluster.execute("CREATE TABLE t (v text)")
        try cluster.execute("INSERT INTO t (v) SELECT md5(g::text) FROM generate_series(1, 200000) g")
        try s.writeFile(s.path + "/load.sql", "INSERT INTO t (v) SELECT md5(random()::text) FROM generate_series(1, 500);\nSELECT pg_switch_wal();\n\\sleep 1000 ms\n")
        let load = try Command.spawn(pgBin + "/pgbench", cluster.connectionArgs + ["-n", "-c", "1", "-T", "40", "-f", s.path + "/load.sql", "postgres"],
                                     asPostgres: true, outputDirectory: s.path)
        defer { _ = load.wait() }

        // The configuration's passphrase file holds the current one; `conf(with:)` names another.
        let current = s.path + "/passphrase"
        func conf(with passFile: String) throws -> String {
            let path = passFile + ".conf"
            try s.writeFile(path, "CIPHER_PASS_FILE=\(passFile)\n")
            return path
        }
        func opens(_ passFile: String) throws -> Bool { try s.pgbk(["show", "-B", repo, "--config", try conf(with: passFile)]).succeeded }
        func rekey(to passFile: String, env: [String: String] = [:]) throws -> CommandResult {
            try s.pgbk(["rekey", "--config", config, "-B", repo, "--new-pass-file", passFile], env: env)
        }
        func makeCurrent(_ passFile: String) throws {
            try FileSystem.rename(current, current + ".previous")
            try s.writeFile(current, try FileSystem.readText(passFile))
        }

        // A backup under way (its files being written) while the passphrase changes.
        let backup = try s.spawnPgbk(["backup", "-b", "full", "-D", cluster.dataDir] + setup.repoArgs + cluster.connectionArgs)
        try waitUntil("the backup to write its files") {
            try FileSystem.list(repo + "/backup").contains { FileSystem.exists(repo + "/backup/" + $0 + "/data") }
        }
        try s.writeFile(s.path + "/pass-1", "second passphrase \(getpid())\n")
        let first = try s.pgbk(["rekey", "--config", config, "-B", repo, "--new-pass-file", s.path + "/pass-1", "--kdf-cost", "14"])
        #expect(first.succeeded && first.stderr.contains("rekeyed to passphrase generation 2"), "\(first)")
        #expect(try FileSystem.readText(repo + "/encryption.ini").contains("KDF_N=16384\n"))
        try makeCurrent(s.path + "/pass-1")
        let backedUp = backup.wait()
        #expect(backedUp.succeeded, "\(backedUp)")
        #expect(try !opens(current + ".previous") && opens(current))
        let generation = try s.pgbk(["check", "--no-archive-test"] + setup.repoArgs + cluster.connectionArgs)
        #expect(Self.checkLine(generation, "encryption").map { $0.hasPrefix("OK ") && $0.hasSuffix(" aes-256-gcm, passphrase generation 2") } == true,
                "\(generation)")

        for (n, point) in ["rekey-after-next", "rekey-wrapped-key", "rekey-before-commit", "rekey-after-commit"].enumerated() {
            let next = s.path + "/pass-\(n + 2)"
            try s.writeFile(next, "passphrase \(n + 2) \(getpid())\n")
            let killed = try rekey(to: next, env: ["PGBK_FAULT": point])
            #expect(killed.status != 0, "\(point): \(killed)")
            let committed = point == "rekey-after-commit"
            #expect(try opens(current) == !committed && opens(next) == committed, "\(point): exactly one passphrase opens it")
            // check says the rekey is unfinished (through the passphrase that opens it; after
            // the commit too, until a rerun removes what the old generation left).
            let checked = try s.pgbk(["check", "--no-archive-test", "-B", repo, "--config", committed ? try conf(with: next) : config]
                                     + cluster.connectionArgs)
            let line = Self.checkLine(checked, "encryption") ?? ""
            #expect(line.hasPrefix("WARNING ") && line.contains("a rekey is running or did not finish"), "\(point): \(checked)")
            let rerun = try rekey(to: next)
            #expect(rerun.succeeded, "\(point): \(rerun)")
            try makeCurrent(next)
            #expect(try !opens(current + ".previous") && opens(current), "\(point): only the new passphrase opens it")
            let keyDirectories = try FileSystem.list(repo + "/keys")
            #expect(keyDirectories == [String(n + 3)] && !FileSystem.exists(repo + "/encryption.next.ini"), "\(point): \(keyDirectories)")
        }
        let bench = load.wait()
        #expect(bench.succeeded, "\(bench)")

        try cluster.switchWALAndWaitForArchive(repository: repo, passphrase: String(try FileSystem.readText(current).dropLast()))
        let expected = try dumpFingerprint(cluster)
        try cluster.stop()
        let validate = try s.pgbk(["validate"] + setup.repoArgs)
        #expect(validate.succeeded && validate.stderr.contains("all intact"), "\(validate)")
        let (_, restored) = try setup.restoreAndStart()
        defer { restored.stopIfRunning() }
        #expect(try dumpFingerprint(restored) == expected)
    }
}

extension EncryptionTests {
    /// copy from a plain repository into an encrypted one encrypts as it goes, and from the
    /// encrypted one into another plain one decrypts; each restores exactly on its own.
    @Test func copyEncryptsAndDecryptsOnTheWay() throws {
        let setup = try Setup()
        let s = setup.s
        let (plain, encrypted, again) = (s.path + "/plain", s.path + "/encrypted", s.path + "/again")
        let config = s.path + "/three.conf"
        try s.writeFile(config, "BACKUP_PATH=\(plain)\nBACKUP_PATH_2=\(encrypted)\nBACKUP_PATH_3=\(again)\nCIPHER_PASS_FILE_2=\(s.path)/passphrase\n")
        let cluster = try TestCluster.create(s, name: "db", repository: nil)
        defer { cluster.stopIfRunning() }
        try cluster.appendConfig("archive_mode = on\narchive_command = '\(s.pgbk) archive-push --config \(config) --repo 1 %p'\n")
        let made = try s.pgbk(["init", "--config", config, "-D", cluster.dataDir])
        #expect(made.succeeded && made.stderr.contains("encrypted repository created in repo2")
                && made.stderr.contains("repository created in repo1") && made.stderr.contains("repository created in repo3"), "\(made)")
        try cluster.start()
        let marker = "pgbk-copy-marker-\(UInt32.random(in: 1...UInt32.max))"
        try cluster.execute("CREATE TABLE secrets AS SELECT g AS id, '\(marker)' || g AS v FROM generate_series(1, 20000) g")
        let backup = ["backup", "--config", config, "--repo", "1", "-D", cluster.dataDir, "--compress", "none"] + cluster.connectionArgs
        #expect(try s.pgbk(backup + ["-b", "full"]).succeeded)
        #expect(try s.pgbk(["validate", "--config", config, "--repo", "1"]).succeeded)
        try cluster.execute("UPDATE secrets SET v = v || '-changed' WHERE id % 5 = 0")
        #expect(try s.pgbk(backup + ["-b", "incremental"]).succeeded)
        try cluster.switchWALAndWaitForArchive(repository: plain)
        let expected = try dumpFingerprint(cluster)
        try cluster.stop()
        #expect(try !setup.filesHolding(marker, below: plain).isEmpty, "stored uncompressed in the plain repository")

        for (from, to) in [(1, 2), (2, 3)] {
            let copied = try s.pgbk(["copy", "--config", config, "--from-repo", String(from), "--to-repo", String(to)])
            #expect(copied.succeeded && copied.stderr.contains("2 backup(s)"), "\(from) to \(to): \(copied)")
            let validate = try s.pgbk(["validate", "--config", config, "--repo", String(to)])
            #expect(validate.succeeded, "\(validate)")
            let target = try s.makeDirectory("restored-\(to)")
            let restore = try s.pgbk(["restore", "--config", config, "--repo", String(to), "-D", target], asCurrentUser: true)
            #expect(restore.succeeded, "\(restore)")
            let restored = try TestCluster.startRestored(target, scratch: s, name: "restored-\(to)")
            #expect(try dumpFingerprint(restored) == expected, "restored from repo\(to)")
            try restored.stop()
        }
        #expect(try setup.filesHolding(marker, below: encrypted).isEmpty)
        #expect(try !setup.filesHolding(marker, below: again).isEmpty, "decrypted into the plain one")
    }
}
