import Testing
import Foundation
import Repository
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// An encrypted repository on the Ceph gateway (issue 27): full, incremental, archived WAL
/// and PITR exactly as on a plain one, and no object in the bucket, each read with boto3,
/// holds a byte of what the database holds.
extension S3Scenarios { @Suite struct S3EncryptionTests {
    @Test func anEncryptedBucketHoldsNoPlaintextAndRestoresToAnyPoint() throws {
        let f = try S3Fixture("encrypted", passphrase: "s3 passphrase \(getpid())")
        let source = try f.journalCluster()
        defer { source.stopIfRunning() }
        let marker = "pgbk-s3-marker-\(UInt32.random(in: 1...UInt32.max))"
        try source.execute("CREATE TABLE secrets AS SELECT g AS id, '\(marker)' || g AS v FROM generate_series(1, 30000) g")
        let journal = Journal(cluster: source)
        _ = try f.backup(source, "full", ["--compress=zstd", "-j", "4"])
        try journal.write(1...6, switchEvery: 3)
        _ = try f.backup(source, "incremental")
        try source.execute("INSERT INTO secrets VALUES (0, '\(marker)-wal-only')")
        try journal.write(7...12, switchEvery: 3)
        try f.switchWALAndWaitForArchive(source)
        let time9 = try journal.timeBetween(9, 10)
        try source.stop()

        #expect(try f.restoreJournal(as: "latest", []) == Array(1...12))
        #expect(try f.restoreJournal(as: "t9", ["--recovery-target-time", time9]) == Array(1...9))
        #expect(try f.pgbk("validate").succeeded)

        let objects = try Self.objectsHolding([marker, "secrets", "journal"], f)
        #expect(objects.read > 30 && objects.holding.isEmpty, "\(objects)")
        let encrypted = try Self.objectsHolding(["PGBKAES1"], f)
        #expect(encrypted.holding.count == encrypted.read - 1 - encrypted.keyFiles, "every object but encryption.ini and the key files is encrypted: \(encrypted)")
    }

    /// Reads every object below the repository's prefix with boto3: how many, which hold
    /// any of `needles`, how many are key files.
    static func objectsHolding(_ needles: [String], _ f: S3Fixture) throws -> (read: Int, holding: [String], keyFiles: Int) {
        let settings = f.gateway.settings()
        let bucket = String(f.url.dropFirst("s3://".count).prefix { $0 != "/" })
        let script = """
        import boto3, json, sys
        s3 = boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3], region_name="us-east-1")
        needles = [n.encode() for n in json.loads(sys.argv[5])]
        read, holding, keys = 0, [], 0
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=sys.argv[4], Prefix="repo/"):
            for o in page.get("Contents", []):
                body = s3.get_object(Bucket=sys.argv[4], Key=o["Key"])["Body"].read()
                read += 1
                keys += o["Key"].startswith("repo/keys/")
                if any(n in body for n in needles): holding.append(o["Key"])
        print(json.dumps({"read": read, "holding": holding, "keys": keys}))
        """
        let path = f.scratch.path + "/objects.py"
        try f.scratch.writeFile(path, script)
        let needleJSON = String(decoding: try JSONSerialization.data(withJSONObject: needles), as: UTF8.self)
        let r = try Command.run("/usr/bin/env", ["python3", path, settings["AWS_ENDPOINT_URL"]!, settings["AWS_ACCESS_KEY_ID"]!,
                                                     settings["AWS_SECRET_ACCESS_KEY"]!, bucket, needleJSON], outputDirectory: f.scratch.path)
        guard r.succeeded, let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any],
              let read = object["read"] as? Int, let holding = object["holding"] as? [String], let keys = object["keys"] as? Int else {
            throw TestFailure("boto3: \(r)")
        }
        return (read, holding, keys)
    }
} }
