#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import ObjectStorage
import Repository

/// What the S3 tests need of a server: its settings and new buckets (an outage is a FaultProxy's).
protocol S3Gateway: Sendable {
    var port: Int { get }
    /// HTTPS, where the server offers it, and the CA bundle that trusts it.
    var tlsEndpoint: String { get }
    var caBundle: String { get }
    var accessKey: String { get }
    var secretKey: String { get }
    func settings(endpoint: String?, secret: String?, extra: [String: String]) -> [String: String]
    func makeBucket(_ name: String, prefix: String) throws -> S3Storage
}

extension S3Gateway {
    func settings() -> [String: String] { settings(endpoint: nil, secret: nil, extra: [:]) }
    func settings(extra: [String: String]) -> [String: String] { settings(endpoint: nil, secret: nil, extra: extra) }
    func settings(endpoint: String, extra: [String: String] = [:]) -> [String: String] { settings(endpoint: endpoint, secret: nil, extra: extra) }
    func settings(secret: String) -> [String: String] { settings(endpoint: nil, secret: secret, extra: [:]) }
    func makeBucket(_ name: String) throws -> S3Storage { try makeBucket(name, prefix: "repo") }
}

extension CephGateway: S3Gateway {}

/// A second S3 implementation beside Ceph (shared/notes/object-storage.md): SeaweedFS's
/// `weed server -s3` on loopback (scripts/fetch-seaweedfs.sh), SigV4 checked against an
/// identities file; started on first use, for the whole test process, and stopped at exit.
final class SeaweedGateway: S3Gateway {
    let directory: String
    let port: Int
    let endpoint: String
    var tlsEndpoint: String { endpoint }  // plain HTTP only: the TLS test runs on Ceph
    let caBundle = ""
    let accessKey = "pgbktest"
    let secretKey = "pgbk-seaweed-secret"
    private let base: Int

    static let weed: String = {
        var path = #filePath
        for _ in 0..<4 { path = FileSystem.parentDirectory(of: path) }
        let r = try? Command.run("/bin/bash", [path + "/scripts/fetch-seaweedfs.sh", "--bin"])
        return r?.stdout.split(separator: "\n").first.map(String.init) ?? "weed"
    }()

    static let shared: Result<SeaweedGateway, TestFailure> = {
        do {
            let gateway = try SeaweedGateway()
            atexit { SeaweedGateway.stopAtExit() }
            return .success(gateway)
        } catch {
            return .failure(TestFailure("cannot start SeaweedFS: \(error)"))
        }
    }()

    static func get() throws -> SeaweedGateway { try shared.get() }

    private init() throws {
        directory = "/tmp/pgbk-seaweed-\(getpid())"
        try? FileSystem.removeTree(directory)
        try FileSystem.makeDirectories(directory + "/data")
        try FileSystem.setMode(directory, 0o755)
        // Below Ceph's (10000-19800) and TestCluster's ports; every listener named, gRPC too.
        base = 5000 + Int(getpid() % 490) * 10
        port = base + 3
        endpoint = "http://127.0.0.1:\(port)"
        try AtomicFile.write(directory + "/identities.json", text: """
            {"identities":[{"name":"pgbk","credentials":[{"accessKey":"\(accessKey)","secretKey":"\(secretKey)"}],\
            "actions":["Admin","Read","Write","List","Tagging"]}]}
            """)
        try startGateway()
    }

    private var pidFile: String { directory + "/weed.pid" }

    func startGateway() throws {
        let args = ["server", "-dir=\(directory)/data", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.telemetry=false",
                    "-master.port=\(base)", "-master.port.grpc=\(base + 5)", "-volume.port=\(base + 1)", "-volume.port.grpc=\(base + 6)",
                    "-filer", "-filer.port=\(base + 2)", "-filer.port.grpc=\(base + 7)",
                    "-s3", "-s3.port=\(port)", "-s3.port.grpc=\(base + 8)", "-s3.port.iceberg=0", "-s3.port.lance=0",
                    // Each bucket is a collection with volumes of its own: room for the tests'
                    // buckets, and small volumes (the default limit runs out after two buckets).
                    "-volume.max=400", "-master.volumeSizeLimitMB=16",
                    "-s3.config=\(directory)/identities.json"]
        // `&` on the server alone, so that $! is its PID (stopGateway signals it). SSE-S3
        // (S3EncryptionTests) needs the key SeaweedFS wraps object keys with: a fixed test one.
        let kek = String(repeating: "5eaf00d1", count: 8)
        let script = "cd \(directory); WEED_S3_SSE_KEK=\(kek) \(Self.weed) \(args.joined(separator: " ")) > weed.log 2>&1 < /dev/null & echo $! > \(pidFile)"
        let r = try Command.run("/bin/bash", ["-c", script], outputDirectory: directory)
        guard r.succeeded else { throw CommandError(result: r) }
        let values = settings()
        let probe = try S3Storage(settings: S3Settings(url: "s3://pgbk-probe/x", lookup: { values[$0] }))
        // Its S3 port answers before its volumes are registered with its master; until then a
        // restarted server stores objects but answers 500 to reading them. Ready: one read back.
        try waitUntil("SeaweedFS to store and read back an object on \(endpoint)", seconds: 90) {
            (try? probe.client.createBucket()) != nil && (try? probe.writeAll("probe", [1, 2, 3])) != nil
                && (try? probe.readAll("probe")) == [1, 2, 3]
        }
    }

    /// The whole server: SIGTERM, then SIGKILL if it lingers. Its data stays.
    func stopGateway() throws {
        guard let text = try? FileSystem.readText(pidFile), let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return }
        kill(pid, SIGTERM)
        var waited = 0
        while kill(pid, 0) == 0 && waited < 100 { usleep(100_000); waited += 1 }
        if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
        try? FileSystem.remove(pidFile)
    }

    private static func stopAtExit() {
        guard case .success(let gateway) = shared else { return }
        try? gateway.stopGateway()
        try? FileSystem.removeTree(gateway.directory)
    }

    func settings(endpoint: String? = nil, secret: String? = nil, extra: [String: String] = [:]) -> [String: String] {
        ["AWS_ENDPOINT_URL": endpoint ?? self.endpoint, "AWS_ACCESS_KEY_ID": accessKey,
         "AWS_SECRET_ACCESS_KEY": secret ?? secretKey, "AWS_REGION": "us-east-1"].merging(extra) { $1 }
    }

    func makeBucket(_ name: String, prefix: String = "repo") throws -> S3Storage {
        let values = settings()
        let storage = try S3Storage(settings: S3Settings(url: "s3://\(name)/\(prefix)", lookup: { values[$0] }))
        try waitUntil("bucket \(name) to be created", seconds: 30) { (try? storage.client.createBucket()) != nil }
        return storage
    }
}
