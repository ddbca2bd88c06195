import Testing
import Repository

/// The S3 suites on a second implementation, SeaweedFS (issue 24, item 6): the storage
/// contract and the driver's promises, a full and incremental chain with PITR and expire,
/// the fault and lock suites, two repositories with copy both ways, and Object Lock, so
/// that no behaviour of the Ceph gateway passes for S3's. Once each; its own
/// server, so it runs beside the Ceph scenarios.
@Suite(.ownThread) struct SeaweedTests {
    @Test func theStorageContractHoldsOnSeaweedFS() throws {
        try S3Scenarios.S3RepositoryTests.storageContract(on: try SeaweedGateway.get())
    }

    @Test func backupChainPITRAndExpireOnSeaweedFS() throws {
        try S3Scenarios.S3RepositoryTests.backupChainPITRAndExpire(try S3Fixture("weedchain", on: try SeaweedGateway.get()))
    }

    /// The fault suite (all but HTTPS, which SeaweedFS's loopback server does not offer) and
    /// the lock suite, as on Ceph.
    @Test func faultsOnSeaweedFS() throws {
        typealias Faults = S3Scenarios.S3FaultTests
        let gateway = try SeaweedGateway.get()
        try Faults.aFlippedByteInAnObjectFailsValidate(on: gateway)
        try Faults.wrongCredentialsFailInOneLineNamingTheKeyNeverTheSecret(on: gateway)
        try Faults.theGatewayStoppingInTheMiddleOfABackupFailsItCleanly(on: gateway)
        try Faults.throttlingAndDroppedConnectionsAreRetried(on: gateway)
        try Faults.aLostAnswerToCompleteMultipartUploadIsASuccess(on: gateway)
        try Faults.unfinishedUploadsOfKilledWritersAreAborted(on: gateway)
        try Faults.anUploadWhoseBodyIsNotItsSignedMD5IsRefused(on: gateway)
    }

    @Test func twoRepositoriesOnSeaweedFS() throws {
        try S3Scenarios.S3MultipleRepositoryTests.aDirectoryAndABucketBothHoldEverySegmentAndCopyGoesBothWays(on: try SeaweedGateway.get())
    }

    @Test func locksOnSeaweedFS() throws {
        try S3Scenarios.S3LockTests.backupExcludesExpireAndDeleteAcrossUsersAndHosts(on: try SeaweedGateway.get())
    }

    /// Object Lock as SeaweedFS enforces it (issue 24, item 5).
    @Test func aLockedBucketRestoresAsItWasBeforeAnAttackWithTheCredentials() throws {
        try ObjectLockScenario.ransomwareDrill(on: try SeaweedGateway.get())
    }
}
