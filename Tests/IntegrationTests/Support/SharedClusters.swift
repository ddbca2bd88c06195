import Testing
import Repository

/// Two running clusters shared by one suite: `primary` archives into `repository` and has one
/// validated full backup; `other` is a different cluster (another system identifier) with a
/// repository of its own. Set up once per suite by the `.sharedClusters` trait.
final class SharedClusters: Sendable {
    let scratch: Scratch
    let primary: TestCluster
    let repository: String
    let other: TestCluster
    let otherRepository: String
    let firstBackupID: String

    @TaskLocal static var current: SharedClusters?

    init() throws {
        scratch = try Scratch()
        repository = scratch.path + "/repo"
        otherRepository = scratch.path + "/other-repo"
        primary = try TestCluster.create(scratch, name: "primary", repository: repository)
        other = try TestCluster.create(scratch, name: "other", repository: otherRepository)
        for (cluster, repo) in [(primary, repository), (other, otherRepository)] {
            let r = try scratch.pgbk(["init", "-B", repo, "-D", cluster.dataDir])
            guard r.succeeded else { throw CommandError(result: r) }
            try cluster.start()
        }
        try primary.execute("CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 10000) g")
        try other.execute("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 1000) g")
        let backup = try scratch.pgbk(["backup", "-B", repository, "-D", primary.dataDir] + primary.connectionArgs)
        guard backup.succeeded else { throw CommandError(result: backup) }
        let validate = try scratch.pgbk(["validate", "-B", repository])
        guard validate.succeeded else { throw CommandError(result: validate) }
        let ids = try Repository.open(repository).backupIDs()
        guard let id = ids.first else { throw TestFailure("fixture backup missing") }
        firstBackupID = id
    }

    func tearDown() {
        primary.stopIfRunning()
        other.stopIfRunning()
    }

    static func get() throws -> SharedClusters {
        try #require(current, "the suite needs the .sharedClusters trait")
    }
}

struct SharedClustersTrait: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(for test: Test, testCase: Test.Case?,
                      performing function: @Sendable () async throws -> Void) async throws {
        let clusters = try SharedClusters()
        defer { clusters.tearDown() }
        try await SharedClusters.$current.withValue(clusters) { try await function() }
    }
}

extension Trait where Self == SharedClustersTrait {
    static var sharedClusters: Self { Self() }
}
