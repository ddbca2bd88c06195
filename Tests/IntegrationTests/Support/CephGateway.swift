#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import ObjectStorage
import Repository

/// One real Ceph RADOS Gateway on loopback for the whole test process (scripts/ceph-rgw.sh:
/// a monitor, a memstore OSD and radosgw), started on first use and stopped at exit.
/// Tests get a bucket each.
final class CephGateway: Sendable {
    let directory: String
    let port: Int
    let endpoint: String
    /// HTTPS with a self-signed certificate for 127.0.0.1, and that certificate.
    let tlsEndpoint: String
    let caBundle: String
    let accessKey: String
    let secretKey: String

    static let script: String = {
        // Tests/IntegrationTests/Support/CephGateway.swift -> the package root.
        var path = #filePath
        for _ in 0..<4 { path = FileSystem.parentDirectory(of: path) }
        return path + "/scripts/ceph-rgw.sh"
    }()

    static let shared: Result<CephGateway, TestFailure> = {
        do {
            let gateway = try CephGateway()
            atexit { CephGateway.stopAtExit() }
            return .success(gateway)
        } catch {
            return .failure(TestFailure("cannot start the Ceph gateway: \(error)"))
        }
    }()

    static func get() throws -> CephGateway { try shared.get() }

    private init() throws {
        directory = "/tmp/pgbk-ceph-\(getpid())"
        try? FileSystem.removeTree(directory)
        try FileSystem.makeDirectories(directory)
        try FileSystem.setMode(directory, 0o755)  // postgres (archive_command) reads the CA bundle
        // Below the ephemeral range (32768-60999) and TestCluster's ports (20000-39999).
        port = 10000 + Int(getpid() % 4900) * 2
        let r = try Command.run("/bin/bash", [Self.script, "start", directory, String(port)], outputDirectory: directory)
        guard r.succeeded else { throw CommandError(result: r) }
        var values: [String: String] = [:]
        for line in r.stdout.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            values[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        guard let e = values["ENDPOINT"], let t = values["TLS_ENDPOINT"], let c = values["CA_BUNDLE"],
              let a = values["ACCESS_KEY"], let s = values["SECRET_KEY"] else {
            throw TestFailure("ceph-rgw.sh printed no credentials: \(r)")
        }
        (endpoint, tlsEndpoint, caBundle, accessKey, secretKey) = (e, t, c, a, s)
    }

    private static func stopAtExit() {
        guard case .success(let gateway) = shared else { return }
        _ = try? Command.run("/bin/bash", [script, "stop", gateway.directory], outputDirectory: "/tmp")
        try? FileSystem.removeTree(gateway.directory)
    }

    /// radosgw alone: the cluster and its data stay.
    /// The settings a pgbk configuration file holds for this gateway.
    func settings(endpoint: String? = nil, secret: String? = nil, extra: [String: String] = [:]) -> [String: String] {
        ["AWS_ENDPOINT_URL": endpoint ?? self.endpoint, "AWS_ACCESS_KEY_ID": accessKey,
         "AWS_SECRET_ACCESS_KEY": secret ?? secretKey, "AWS_REGION": "us-east-1"].merging(extra) { $1 }
    }

    /// A new, empty bucket, and the storage driver on `s3://BUCKET/PREFIX`.
    func makeBucket(_ name: String, prefix: String = "repo") throws -> S3Storage {
        let values = settings()
        let storage = try S3Storage(settings: S3Settings(url: "s3://\(name)/\(prefix)", lookup: { values[$0] }))
        // The first requests after start can fail while the gateway creates its pools.
        try waitUntil("bucket \(name) to be created", seconds: 60) { (try? storage.client.createBucket()) != nil }
        return storage
    }
}
