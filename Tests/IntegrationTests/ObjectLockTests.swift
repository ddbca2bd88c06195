import Testing
import Foundation
@testable import ObjectStorage
import Repository
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// A copy an attacker cannot destroy (issue 24, item 5): repo2 in a bucket with versioning
/// and Object Lock (compliance mode). expire on it succeeds and says what the lock keeps;
/// then a script with pgbk's own credentials removes repo1 and deletes and overwrites every
/// object of repo2, and cannot remove a single locked version; `restore --repo 2
/// --repo-target-time` (a time before the attack) reads the bucket as it was and gives every
/// committed row, its recovery reading WAL the same way.
enum ObjectLockScenario {
    static func ransomwareDrill(on gateway: any S3Gateway) throws {
        let f = try S3Fixture("locked", on: gateway, objectLockDays: 1)
        let r1 = f.scratch.path + "/repo1"
        func pgbk(_ command: String, _ args: [String]) throws -> CommandResult {
            try f.scratch.pgbk([command, "--config", f.config, "-B", r1, "-B", f.url] + args, env: S3Fixture.clearedEnvironment)
        }
        let source = try TestCluster.create(f.scratch, name: "src", repository: nil)
        defer { source.stopIfRunning() }
        try source.appendConfig("archive_mode = on\narchive_command = '\(f.scratch.pgbk) archive-push --config \(f.config) -B \(r1) -B \(f.url) %p'\n")
        let made = try pgbk("init", ["-D", source.dataDir])
        #expect(made.succeeded, "\(made)")
        try source.start()
        try source.execute("CREATE TABLE journal (n int PRIMARY KEY)")
        let journal = Journal(cluster: source)
        for (mode, rows) in [("full", 1...5), ("full", 6...10)] {
            let backup = try pgbk("backup", ["--repo", "2", "-D", source.dataDir, "-b", mode] + source.connectionArgs)
            #expect(backup.succeeded, "\(backup)")
            #expect(try pgbk("validate", ["--repo", "2"]).succeeded)
            try journal.write(rows, switchEvery: 2)
        }
        try f.switchWALAndWaitForArchive(source)
        try source.stop()

        // expire on the locked bucket: the older full and its WAL go from the repository;
        // the lock keeps their versions, which expire says rather than failing.
        let expire = try pgbk("expire", ["--repo", "2", "--keep-data-generations", "1"])
        #expect(expire.succeeded && expire.stderr.contains("has Object Lock (COMPLIANCE, 1 days)")
                && expire.stderr.contains("archived WAL file"), "\(expire)")

        // The attack, a whole second after the last good write (S3 times versions to the second).
        let beforeAttack = Self.utc(time(nil))
        sleep(2)
        try FileSystem.removeTree(r1)
        for key in try f.keys() {
            if key.hasSuffix(".ini") { try f.storage.writeAll(key, Array("paid yet?\n".utf8)) } else { try f.storage.remove(key) }
        }
        var refused = 0, removed = 0
        let versions = try f.storage.client.listVersions(prefix: "repo/").filter { !$0.isDeleteMarker }
        for version in versions {
            do { try f.storage.client.deleteVersion(version.key, versionId: version.versionId); removed += 1 } catch { refused += 1 }
        }
        #expect(removed == 0 && refused == versions.count && refused > 10, "removed \(removed) of \(versions.count) locked versions")
        let attacked = try pgbk("restore", ["--repo", "2", "-D", f.scratch.path + "/attacked"])
        #expect(!attacked.succeeded, "\(attacked)")

        // The bucket as it was: its backups listed, and a restore that recovers every row.
        let shown = try pgbk("show", ["--repo", "2", "--repo-target-time", beforeAttack, "--json"])
        #expect(shown.succeeded && shown.stdout.contains("\"status\": \"OK\""), "\(shown)")
        let target = f.scratch.path + "/restored"
        let restore = try pgbk("restore", ["--repo", "2", "--repo-target-time", beforeAttack, "-D", target,
                                           "--recovery-target-action", "promote"])
        #expect(restore.succeeded, "\(restore)")
        let restored = try TestCluster.startRestored(target, scratch: f.scratch, name: "restored")
        defer { restored.stopIfRunning() }
        let rows = try restored.execute("SELECT n FROM journal ORDER BY n").rows.compactMap { $0[0].flatMap { Int($0) } }
        #expect(rows == Array(1...10))
        let amcheck = try restored.runClient("pg_amcheck", restored.connectionArgs + ["--all", "--install-missing", "--heapallindexed"])
        #expect(amcheck.succeeded && amcheck.stdout.isEmpty, "\(amcheck)")

        // Read-only: a command that writes refuses the option; a directory has no versions.
        let writes = try pgbk("expire", ["--repo", "2", "--repo-target-time", beforeAttack, "--keep-data-generations", "1"])
        #expect(failsWithOneError(writes) && writes.stderr.contains("--repo-target-time"), "\(writes)")
        let directory = try pgbk("show", ["--repo", "1", "--repo-target-time", beforeAttack])
        #expect(failsWithOneError(directory) && directory.stderr.contains("is a directory"), "\(directory)")
        let noZone = try pgbk("show", ["--repo", "2", "--repo-target-time", "2026-12-01 03:00:00"])
        #expect(failsWithOneError(noZone) && noZone.stderr.contains("with its zone"), "\(noZone)")
    }

    static func utc(_ seconds: time_t) -> String {
        var t = seconds, parts = tm()
        gmtime_r(&t, &parts)
        return String(format: "%04d-%02d-%02d %02d:%02d:%02d+00", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                      parts.tm_hour, parts.tm_min, parts.tm_sec)
    }
}
