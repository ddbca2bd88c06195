import Testing
import Repository

/// The S3 suites' core on a second implementation, SeaweedFS (issue 24, item 6): the storage
/// contract and the driver's promises, then a full and incremental chain with PITR and
/// expire, so that no behaviour of the Ceph gateway passes for S3's. Once each; its own
/// server, so it runs beside the Ceph scenarios.
@Suite(.serialized) struct SeaweedTests {
    @Test func theStorageContractHoldsOnSeaweedFS() throws {
        try S3Scenarios.S3RepositoryTests.storageContract(on: try SeaweedGateway.get())
    }

    @Test func backupChainPITRAndExpireOnSeaweedFS() throws {
        try S3Scenarios.S3RepositoryTests.backupChainPITRAndExpire(try S3Fixture("weedchain", on: try SeaweedGateway.get()))
    }

    /// Object Lock as SeaweedFS enforces it (issue 24, item 5).
    @Test func aLockedBucketRestoresAsItWasBeforeAnAttackWithTheCredentials() throws {
        try ObjectLockScenario.ransomwareDrill(on: try SeaweedGateway.get())
    }
}
