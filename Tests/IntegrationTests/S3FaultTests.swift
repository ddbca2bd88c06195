import Testing
import TestSupport
import Foundation
@testable import ObjectStorage
import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Faults of an S3 repository on a real server (Ceph here; SeaweedTests runs them on SeaweedFS): damage, wrong credentials, an outage in
/// the middle of a backup, throttling and dropped connections.
extension S3Scenarios { @Suite struct S3FaultTests {
    /// A source cluster with one validated full backup in a fresh bucket.
    static func backedUp(_ bucket: String, on gateway: any S3Gateway, env: [String: String] = [:]) throws -> (S3Fixture, TestCluster, String) {
        let f = try S3Fixture(bucket, on: gateway)
        let source = try f.journalCluster()
        try source.execute("CREATE TABLE filler AS SELECT g, md5(g::text) AS v FROM generate_series(1, 20000) g")
        let id = try f.backup(source, "full", env: env)
        return (f, source, id)
    }

    @Test func aFlippedByteInAnObjectFailsValidate() throws { try Self.aFlippedByteInAnObjectFailsValidate(on: try CephGateway.get()) }

    static func aFlippedByteInAnObjectFailsValidate(on gateway: any S3Gateway) throws {
        // Unbundled, so that the relation is an object of its own (a byte flipped inside a
        // bundle: BundledStorageTests and IncrementalChainTests).
        let (f, source, id) = try backedUp("flip", on: gateway, env: ["BUNDLE": "off"])
        defer { source.stopIfRunning() }
        let relation = try #require(try source.scalar("SELECT pg_relation_filepath('filler')"))
        let name = "backup/\(id)/data/\(relation)"
        var bytes = try f.storage.readAll(name, limit: 64 << 20)
        bytes[bytes.count / 2] ^= 0x10
        try f.storage.writeAll(name, bytes)

        let v = try f.pgbk("validate", [id])
        #expect(v.status != 0, "\(v)")
        #expect(v.stdout.contains("CORRUPT") || v.stderr.contains("CORRUPT"), "\(v)")
        #expect((v.stdout + v.stderr).contains(relation), "the damaged object is named: \(v)")
        #expect(try f.backups().first?["status"] as? String == "CORRUPT")
        let target = try f.scratch.makeDirectory("restore")
        let r = try f.pgbk("restore", ["-D", target])
        #expect(failsWithOneError(r), "\(r)")
    }

    @Test func wrongCredentialsFailInOneLineNamingTheKeyNeverTheSecret() throws { try Self.wrongCredentialsFailInOneLineNamingTheKeyNeverTheSecret(on: try CephGateway.get()) }

    static func wrongCredentialsFailInOneLineNamingTheKeyNeverTheSecret(on gateway: any S3Gateway) throws {
        let f = try S3Fixture("creds", on: gateway)
        let wrongSecret = "WrongSecret0123456789abcdefWXYZ"
        let wrong = f.scratch.path + "/wrong.conf"
        try f.writeConfig(wrong, f.gateway.settings(secret: wrongSecret))
        let cluster = try TestCluster.create(f.scratch, name: "c", repository: nil)
        for r in [try f.pgbk("init", ["-D", cluster.dataDir], config: wrong), try f.pgbk("show", config: wrong)] {
            #expect(!r.succeeded && oneLine(r), "\(r)")
            #expect(r.stderr.contains("SignatureDoesNotMatch") && r.stderr.contains(f.gateway.accessKey), "\(r)")
            #expect(!(r.stdout + r.stderr).contains(wrongSecret) && !(r.stdout + r.stderr).contains(f.gateway.secretKey))
        }
        let unknown = f.scratch.path + "/unknown.conf"
        try f.writeConfig(unknown, f.gateway.settings().merging(["AWS_ACCESS_KEY_ID": "PGBKNOSUCHKEY000"]) { $1 })
        let u = try f.pgbk("show", config: unknown)
        #expect(!u.succeeded && oneLine(u) && u.stderr.contains("PGBKNOSUCHKEY000"), "\(u)")
        #expect(try f.keys() == [], "nothing was written")

        // A secret in a file every user can read is refused before anything is sent.
        let open = f.scratch.path + "/open.conf"
        try f.writeConfig(open, f.gateway.settings(), mode: 0o644)
        let o = try f.pgbk("init", ["-D", cluster.dataDir], config: open)
        #expect(!o.succeeded && oneLine(o) && o.stderr.contains("chmod o-rwx"), "\(o)")
        #expect(!(o.stdout + o.stderr).contains(f.gateway.secretKey))
        // The same settings from the environment, with no file: fine.
        let env = try f.scratch.pgbk(["init", "--config", "/dev/null", "-B", f.url, "-D", cluster.dataDir],
                                     env: S3Fixture.clearedEnvironment.merging(f.gateway.settings()) { $1 })
        #expect(env.succeeded, "\(env)")
        let style = try f.pgbk("show", ["--s3-uri-style", "virtual"])
        #expect(!style.succeeded && oneLine(style) && style.stderr.contains("path or host"), "\(style)")
        // A bucket that does not exist is named as such.
        let missing = try f.scratch.pgbk(["show", "--config", f.config, "-B", "s3://no-such-bucket-\(getpid())"],
                                         env: S3Fixture.clearedEnvironment)
        #expect(!missing.succeeded && oneLine(missing) && missing.stderr.contains("NoSuchBucket"), "\(missing)")
    }

    /// HTTPS: a private CA through AWS_CA_BUNDLE works; without it the certificate is refused.
    @Test func httpsVerifiesTheServerCertificate() throws { try Self.httpsVerifiesTheServerCertificate(on: try CephGateway.get()) }

    static func httpsVerifiesTheServerCertificate(on gateway: any S3Gateway) throws {
        let f = try S3Fixture("tls", on: gateway)
        let cluster = try TestCluster.create(f.scratch, name: "c", repository: nil)
        let trusted = f.scratch.path + "/tls.conf"
        try f.writeConfig(trusted, f.gateway.settings(endpoint: f.gateway.tlsEndpoint, extra: ["AWS_CA_BUNDLE": f.gateway.caBundle]))
        let untrusted = f.scratch.path + "/untrusted.conf"
        try f.writeConfig(untrusted, f.gateway.settings(endpoint: f.gateway.tlsEndpoint))
        let refused = try f.pgbk("init", ["-D", cluster.dataDir], config: untrusted)
        #expect(!refused.succeeded && oneLine(refused) && refused.stderr.lowercased().contains("certificate"), "\(refused)")
        #expect(try f.keys() == [])
        let initialized = try f.pgbk("init", ["-D", cluster.dataDir], config: trusted)
        #expect(initialized.succeeded, "\(initialized)")
        #expect(try f.pgbk("show", config: trusted).succeeded)
        #expect(try f.keys() == ["pgbk.ini", "repository.ini"])
    }

    @Test func theGatewayStoppingInTheMiddleOfABackupFailsItCleanly() throws { try Self.theGatewayStoppingInTheMiddleOfABackupFailsItCleanly(on: try CephGateway.get()) }

    static func theGatewayStoppingInTheMiddleOfABackupFailsItCleanly(on gateway: any S3Gateway) throws {
        let (f, source, firstID) = try backedUp("outage", on: gateway)
        defer { source.stopIfRunning() }
        try source.execute("CREATE TABLE more AS SELECT g, md5(g::text) AS v FROM generate_series(1, 50000) g")
        // The gateway goes away for this backup alone, through a proxy that cuts its
        // connections and answers no more (stopping the real one would fail every other
        // test using it at that moment).
        let proxy = try FaultProxy(upstreamPort: f.gateway.port)
        defer { proxy.close() }
        let viaProxy = f.scratch.path + "/outage.conf"
        try f.writeConfig(viaProxy, f.gateway.settings(endpoint: proxy.endpoint, extra: ["S3_RETRIES": "2"]))
        // Stopped (SIGSTOP) after its 200th file; the gateway goes away; then it goes on.
        let process = try f.spawn("backup", ["-D", source.dataDir, "-b", "full", "-j", "2"] + source.connectionArgs,
                                  env: ["PGBK_FAULT": "backup-file-copied@200:stop"], config: viaProxy)
        try process.waitUntilStopped()
        proxy.outage()
        process.resume()
        let failed = process.wait()
        proxy.endOutage()
        #expect(failsWithOneError(failed), "\(failed)")
        #expect(failed.stderr.contains("after 3 attempts"), "retried, then gave up: \(failed)")

        // The next backup marks the orphan ERROR and succeeds; the repository validates.
        let next = try f.backup(source, "full")
        let shown = try parseBackupsJSON(try f.pgbk("show", ["--json", "--all"]).stdout)
        let statuses = Dictionary(uniqueKeysWithValues: shown.compactMap { b in (b["id"] as? String).map { ($0, b["status"] as? String ?? "") } })
        #expect(statuses[firstID] == "OK" && statuses[next] == "OK", "\(statuses)")
        #expect(statuses.values.filter { $0 == "ERROR" }.count == 1, "\(statuses)")
        let failedID = try #require(statuses.first { $0.value == "ERROR" }?.key)
        #expect(try f.keys("backup/\(failedID)") == ["backup/\(failedID)/backup.ini"], "its data is gone")
    }

    @Test func throttlingAndDroppedConnectionsAreRetried() throws { try Self.throttlingAndDroppedConnectionsAreRetried(on: try CephGateway.get()) }

    static func throttlingAndDroppedConnectionsAreRetried(on gateway: any S3Gateway) throws {
        let (f, source, _) = try backedUp("proxy", on: gateway)
        defer { source.stopIfRunning() }
        let proxy = try FaultProxy(upstreamPort: f.gateway.port)
        defer { proxy.close() }
        let viaProxy = f.scratch.path + "/proxy.conf"
        try f.writeConfig(viaProxy, f.gateway.settings(endpoint: proxy.endpoint))

        let faults: [FaultProxy.Fault] = [.throttle, .drop, .throttle, .cut(afterBytes: 200), .drop]
        proxy.plan(faults)
        let b = try f.pgbk("backup", ["-D", source.dataDir, "-b", "incremental", "-j", "3"] + source.connectionArgs, config: viaProxy)
        #expect(b.succeeded, "\(b)")
        #expect(proxy.served == faults, "every planned fault was met")
        proxy.plan([.cut(afterBytes: 100), .throttle])
        #expect(try f.pgbk("validate", config: viaProxy).succeeded)
        #expect(try f.backups().allSatisfy { $0["status"] as? String == "OK" })

        // A server that never stops throttling: the command fails in one line, having
        // tried 1 + S3_RETRIES times.
        proxy.plan([], always: .throttle)
        let limited = f.scratch.path + "/limited.conf"
        try f.writeConfig(limited, f.gateway.settings(endpoint: proxy.endpoint, extra: ["S3_RETRIES": "2"]))
        let before = try f.keys()
        let exhausted = try f.pgbk("backup", ["-D", source.dataDir, "-b", "full"] + source.connectionArgs, config: limited)
        #expect(!exhausted.succeeded && oneLine(exhausted), "\(exhausted)")
        #expect(exhausted.stderr.contains("HTTP 503") && exhausted.stderr.contains("after 3 attempts"), "\(exhausted)")
        #expect(proxy.served.count == 3)
        #expect(try f.keys() == before, "nothing was written")

        // A full store (HTTP 507) fails at the first answer: retrying cannot make room.
        proxy.plan([], always: .answer(status: 507, code: "InsufficientStorage"))
        let full = try f.pgbk("backup", ["-D", source.dataDir, "-b", "full"] + source.connectionArgs, config: viaProxy)
        #expect(!full.succeeded && full.stderr.contains("InsufficientStorage") && !full.stderr.contains("attempts"), "\(full)")
        #expect(proxy.served.count == 1, "one request, not retried: \(proxy.served.count)")
    }

    /// Issue 22, defect 2: the gateway completes a multipart upload but its answer is lost.
    /// Every upload carries a Content-MD5 (S3Client.integrityHeaders), which Object Lock
    /// buckets demand and pgbk counts on as the server's own check of what it stored: the
    /// server must refuse a body that is not what that digest says (the digest of other
    /// bytes here), and store nothing.
    @Test func anUploadWhoseBodyIsNotItsSignedMD5IsRefused() throws { try Self.anUploadWhoseBodyIsNotItsSignedMD5IsRefused(on: try CephGateway.get()) }

    static func anUploadWhoseBodyIsNotItsSignedMD5IsRefused(on gateway: any S3Gateway) throws {
        let bucket = "md5-\(getpid())"
        _ = try gateway.makeBucket(bucket, prefix: "r")
        let values = gateway.settings()
        let client = try S3Client(settings: S3Settings(url: "s3://\(bucket)/r", lookup: { values[$0] }))
        let body = pseudoRandomBytes(64 << 10, seed: 3), other = pseudoRandomBytes(64 << 10, seed: 4)
        for (name, digestOf, stored) in [("refused", other, false), ("accepted", body, true)] {
            let headers = other.withUnsafeBytes { o in body.withUnsafeBytes { b in S3Client.integrityHeaders(digestOf == other ? o : b) } }
            var put = S3Client.Request(method: "PUT", key: "r/" + name)
            put.headers = headers
            #expect(put.headers.contains { $0.0 == "content-md5" })
            var refusal: S3Error?
            do { _ = try client.send(put, body: body) } catch { refusal = error }
            if stored {
                #expect(refusal == nil, "\(String(describing: refusal))")
            } else if case .http(_, let status, let code, _, _)? = refusal {
                #expect(status == 400 && code.contains("Digest"), "\(code)")
            } else {
                Issue.record("a body that is not its signed Content-MD5 was not refused: \(String(describing: refusal))")
            }
            var head = S3Client.Request(method: "HEAD", key: "r/" + name)
            head.accepted = [404]
            #expect(try client.send(head).status == (stored ? 200 : 404))
        }
    }

    /// The retry meets NoSuchUpload (as AWS answers once the upload is cleaned up; Ceph
    /// completes it again, so the proxy answers that retry itself); the object is there with
    /// exactly these parts, so the write succeeded and says so.
    @Test func aLostAnswerToCompleteMultipartUploadIsASuccess() throws { try Self.aLostAnswerToCompleteMultipartUploadIsASuccess(on: try CephGateway.get()) }

    static func aLostAnswerToCompleteMultipartUploadIsASuccess(on gateway: any S3Gateway) throws {
        let proxy = try FaultProxy(upstreamPort: gateway.port)
        defer { proxy.close() }
        let bucket = "lostcomplete-\(getpid())"
        _ = try gateway.makeBucket(bucket)
        let values = gateway.settings(endpoint: proxy.endpoint, extra: ["S3_PART_SIZE": "5M"])
        let storage = try S3Storage(settings: S3Settings(url: "s3://\(bucket)/r", lookup: { values[$0] }))
        let content = pseudoRandomBytes(11 << 20, seed: 7)
        for (name, noReplace) in [("plain", false), ("noreplace", true)] {
            proxy.onRequests("POST", containing: "uploadId=", [.drop, .answer(status: 404, code: "NoSuchUpload")])
            let served = proxy.requestFaultsServed.load(ordering: .sequentiallyConsistent)
            let stream = try storage.openWrite(name, expectedSize: nil, noReplace: noReplace)
            try content.withUnsafeBytes { try stream.write($0) }
            try stream.commit()
            #expect(proxy.requestFaultsServed.load(ordering: .sequentiallyConsistent) == served + 2,
                    "the completion's answer was dropped and its retry met NoSuchUpload")
            #expect(try storage.readAll(name, limit: 16 << 20) == content, "\(name): the object is whole")
        }
    }

    /// Issue 22, defect 18: a killed writer's multipart upload (its parts kept, and billed, for
    /// ever) is aborted by the next validate, backup or purge once older than S3_UPLOAD_EXPIRY;
    /// a recent one (another writer's, in flight) is left alone.
    @Test func unfinishedUploadsOfKilledWritersAreAborted() throws { try Self.unfinishedUploadsOfKilledWritersAreAborted(on: try CephGateway.get()) }

    static func unfinishedUploadsOfKilledWritersAreAborted(on gateway: any S3Gateway) throws {
        let f = try S3Fixture("uploads", on: gateway)
        let cluster = try TestCluster.create(f.scratch, name: "c", repository: nil)
        let r = try f.pgbk("init", ["-D", cluster.dataDir])
        #expect(r.succeeded, "\(r)")
        let client = f.storage.client
        let key = f.storage.settings.key("backup/20260101-000000F/data/base/1/1")
        let upload = try client.createMultipartUpload(key)
        let part = [UInt8](repeating: 7, count: 5 << 20)
        _ = try part.withUnsafeBytes { try client.uploadPart(key, uploadID: upload, number: 1, body: $0) }
        let prefix = f.storage.settings.prefix + "/"
        #expect(try client.listMultipartUploads(prefix: prefix).map(\.uploadID) == [upload])

        #expect(try f.pgbk("validate").succeeded)
        #expect(try client.listMultipartUploads(prefix: prefix).map(\.uploadID) == [upload], "a day has not passed")
        let expired = f.scratch.path + "/expired.conf"
        try f.writeConfig(expired, f.gateway.settings(extra: ["S3_UPLOAD_EXPIRY": "0"]))
        let v = try f.pgbk("validate", config: expired)
        #expect(v.succeeded && v.stderr.contains("aborted 1 unfinished upload"), "\(v)")
        #expect(try client.listMultipartUploads(prefix: prefix).isEmpty)
    }
} }
