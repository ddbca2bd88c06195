import Testing

/// The ransomware drill (ObjectLockScenario) on the Ceph gateway too: Object Lock, object
/// versions and Content-MD5 as a second implementation enforces them.
extension S3Scenarios { @Suite struct S3ObjectLockTests {
    @Test func aLockedBucketRestoresAsItWasBeforeAnAttackOnCeph() throws {
        try ObjectLockScenario.ransomwareDrill(on: try CephGateway.get())
    }
} }
