import Testing
import Foundation
import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Issue 22, defect 8: the repository lock on S3 between users of one host (root's cron and
/// postgres) and between hosts (each with its own lock directory, PGBK_LOCK_PATH), racing a
/// backup against expire and delete; and a killed holder's lease expiring.
extension S3Scenarios { @Suite struct S3LockTests {
    @Test func backupExcludesExpireAndDeleteAcrossUsersAndHosts() throws {
        try Self.backupExcludesExpireAndDeleteAcrossUsersAndHosts(on: try CephGateway.get())
    }

    static func backupExcludesExpireAndDeleteAcrossUsersAndHosts(on gateway: any S3Gateway) throws {
        let f = try S3Fixture("locks", on: gateway)
        let source = try f.journalCluster()
        defer { source.stopIfRunning() }
        let first = try f.backup(source, "full")
        let host1 = try f.scratch.makeDirectory("host1-locks"), host2 = try f.scratch.makeDirectory("host2-locks")
        chmod(host1, 0o1777)
        chmod(host2, 0o1777)
        // The second host's pgbk runs as root with a configuration file of its own.
        let rootConfig = f.scratch.path + "/root.conf"
        try f.writeConfig(rootConfig, f.gateway.settings())
        chown(rootConfig, 0, 0)
        func asRoot(_ args: [String], lockPath: String? = nil, lease: String? = nil) throws -> CommandResult {
            var env = S3Fixture.clearedEnvironment
            if let lockPath { env["PGBK_LOCK_PATH"] = lockPath }
            if let lease { env["PGBK_LOCK_LEASE"] = lease }
            return try f.scratch.pgbk([args[0], "--config", rootConfig, "-B", f.url] + args.dropFirst(), asCurrentUser: true, env: env)
        }
        func stoppedBackup(lockPath: String?, lease: String? = nil) throws -> SpawnedProcess {
            var env = S3Fixture.clearedEnvironment
            if let lockPath { env["PGBK_LOCK_PATH"] = lockPath }
            if let lease { env["PGBK_LOCK_LEASE"] = lease }
            return try f.scratch.spawnPgbkStopped(["backup", "--config", f.config, "-B", f.url, "-D", source.dataDir, "-b", "full"]
                                                  + source.connectionArgs, at: "backup-before-done", env: env)
        }

        // One host, two users: postgres's backup holds the host lock root's expire needs.
        var backup = try stoppedBackup(lockPath: nil)
        let sameHost = try asRoot(["expire", "--keep-data-generations", "1"])
        #expect(!sameHost.succeeded && sameHost.stderr.contains("locked by another pgbk") && sameHost.stderr.contains("pgbk backup"), "\(sameHost)")
        backup.resume()
        #expect(backup.wait().succeeded)

        // Two hosts: no host lock in common, the lease in the bucket decides.
        backup = try stoppedBackup(lockPath: host1)
        for command in [["expire", "--keep-data-generations", "1"], ["delete", "2099-01-01"]] {
            let other = try asRoot(command, lockPath: host2)
            #expect(!other.succeeded && other.stderr.contains("locked by another pgbk") && other.stderr.contains("pgbk backup"), "\(command): \(other)")
        }
        #expect(try f.backups().contains { $0["id"] as? String == first }, "nothing was deleted meanwhile")
        backup.resume()
        #expect(backup.wait().succeeded)
        #expect(try f.pgbk("validate").succeeded)
        let expired = try asRoot(["expire", "--keep-data-generations", "1"], lockPath: host2)
        #expect(expired.succeeded, "\(expired)")

        // A holder killed with -9 leaves its lease, which expires (a 3 s lease here).
        backup = try stoppedBackup(lockPath: host1, lease: "3")
        kill(backup.pid, SIGKILL)
        _ = backup.wait()
        #expect(try !f.keys("locks").isEmpty, "the killed holder's lease is still in the bucket")
        let after = try asRoot(["validate", "--lock-timeout", "30"], lockPath: host2, lease: "3")
        #expect(after.succeeded, "\(after)")
        #expect(try f.keys("locks").allSatisfy { !$0.contains("x-") || (Int($0.split(separator: "-")[1]) ?? 0) < Int(Date().timeIntervalSince1970) },
                "no live lease is left behind")
    }
} }
