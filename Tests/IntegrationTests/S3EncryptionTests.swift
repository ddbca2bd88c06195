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
        // A drill (its record stored encrypted), and a delta restore over the restored copy.
        let drills = try f.scratch.makeDirectory("drills")
        let drill = try f.pgbk("drill", ["--scratch-dir", drills, "-U", "postgres", "--no-amcheck", "--sql-check", "SELECT count(*) = 12 FROM journal"])
        #expect(drill.succeeded && drill.stderr.contains(": OK: backup "), "\(drill)")
        let latest = f.scratch.path + "/latest"
        let delta = try f.pgbk("restore", ["-D", latest, "--delta", "--recovery-target-action", "promote"])
        #expect(delta.succeeded, "\(delta)")
        let again = try TestCluster.startRestored(latest, scratch: f.scratch, name: "again")
        defer { again.stopIfRunning() }
        #expect(try again.execute("SELECT n FROM journal ORDER BY n").rows.compactMap { $0[0].flatMap { Int($0) } } == Array(1...12))
        try again.stop()

        let objects = try Self.objectsHolding([marker, "secrets", "journal"], f)
        // Bundled by default: a few dozen objects (catalog, bundles, large files, WAL).
        #expect(objects.read > 15 && objects.holding.isEmpty, "\(objects)")
        let encrypted = try Self.objectsHolding(["PGBKAES1"], f)
        // Bundled by default on S3: each bundle.list (names, offsets, sizes) is stored in plain.
        let bundleLists = try f.keys("backup").filter { $0.hasSuffix("/bundle.list") }.count
        #expect(bundleLists == 2, "both backups bundled")
        #expect(encrypted.holding.count == encrypted.read - 1 - encrypted.keyFiles - bundleLists,
                "every object but encryption.ini, the key files and the bundle lists is encrypted: \(encrypted)")
    }

    /// Server-side encryption of each kind, as a bucket's policy may demand: SSE-KMS (the Ceph
    /// gateway's testing key backend) and SSE-C (a customer key from a file) over https on
    /// Ceph, SSE-S3 on SeaweedFS (Ceph 16 accepts SSE-S3's header and stores the object in
    /// plain, which pgbk refuses). A backup (multipart uploads for the
    /// larger files), archived WAL and a restore from them; boto3's head_object of every
    /// object shows the encryption; under SSE-C, an object read without the key is refused.
    @Test func serverSideEncryptionOfEachKindCoversEveryObject() throws {
        let ceph = try CephGateway.get()
        let keyScratch = try Scratch()
        let keyFile = keyScratch.path + "/sse-c.key"
        try AtomicFile.write(keyFile, (0..<32).map { _ in UInt8.random(in: 0...255) }, mode: 0o600)
        try keyScratch.chownToPostgres(keyFile)
        let tls = ["AWS_ENDPOINT_URL": ceph.tlsEndpoint, "AWS_CA_BUNDLE": ceph.caBundle, "S3_PART_SIZE": "5M"]
        let kinds: [(name: String, gateway: any S3Gateway, settings: [String: String], expected: String)] = [
            ("sse-kms", ceph, tls.merging(["S3_SSE": "aws:kms", "S3_SSE_KMS_KEY_ID": "testkey-1"]) { $1 }, "aws:kms testkey-1"),
            ("sse-c", ceph, tls.merging(["S3_SSE_CUSTOMER_KEY_FILE": keyFile]) { $1 }, "SSE-C AES256"),
            ("sse-s3", try SeaweedGateway.get(), ["S3_SSE": "AES256", "S3_PART_SIZE": "5M"], "AES256"),
        ]
        for kind in kinds {
            let f = try S3Fixture(kind.name, settings: kind.settings, on: kind.gateway)
            let source = try f.journalCluster()
            defer { source.stopIfRunning() }
            try source.execute("CREATE TABLE filler AS SELECT g, md5(g::text) AS v FROM generate_series(1, 200000) g")
            _ = try f.backup(source, "full", ["--compress=none"])
            try Journal(cluster: source).write(1...4, switchEvery: 2)
            try f.switchWALAndWaitForArchive(source)
            try source.stop()
            #expect(try f.restoreJournal(as: kind.name, []) == Array(1...4), "\(kind.name)")
            let seen = try Self.encryptionOfEveryObject(f, customerKey: kind.name == "sse-c" ? keyFile : nil)
            #expect(seen.count > 10 && seen.allSatisfy { $0.value == kind.expected }, "\(kind.name): \(seen.filter { $0.value != kind.expected })")
            #expect(try f.keys("backup").count > 0)
        }
        // Ceph 16 takes SSE-S3's header and stores the object in plain: refused, not a false OK.
        let ignored = try S3Fixture("sse-ignored", settings: tls.merging(["S3_SSE": "AES256"]) { $1 })
        let cluster = try TestCluster.create(ignored.scratch, name: "c", repository: nil)
        let refused = try ignored.pgbk("init", ["-D", cluster.dataDir])
        #expect(failsWithOneError(refused) && refused.stderr.contains("did not say it applied the server-side encryption asked for (S3_SSE=AES256)"),
                "\(refused)")
    }

    /// Each object's server-side encryption as boto3's head_object reports it ("aws:kms
    /// KEYID", "AES256", "SSE-C AES256"); with `customerKey`, an object's HEAD without the
    /// key must fail (reported as "readable without the key").
    static func encryptionOfEveryObject(_ f: S3Fixture, customerKey: String?) throws -> [String: String] {
        // Ceph serves SSE over https only; SeaweedFS here over http.
        let ceph = f.gateway as? CephGateway
        let settings = ceph.map { $0.settings(endpoint: $0.tlsEndpoint) } ?? f.gateway.settings()
        let bucket = String(f.url.dropFirst("s3://".count).prefix { $0 != "/" })
        let script = """
        import boto3, json, sys
        endpoint, key, secret, bucket, ca, customer = sys.argv[1:7]
        s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret,
                          region_name="us-east-1", verify=ca if ca else None)
        extra = {}
        if customer:
            extra = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": open(customer, "rb").read()}
        seen = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="repo/"):
            for o in page.get("Contents", []):
                h = s3.head_object(Bucket=bucket, Key=o["Key"], **extra)
                if customer:
                    seen[o["Key"]] = "SSE-C " + h.get("SSECustomerAlgorithm", "none")
                    try:
                        s3.head_object(Bucket=bucket, Key=o["Key"])
                        seen[o["Key"]] = "readable without the key"
                    except Exception:
                        pass
                else:
                    kms = h.get("SSEKMSKeyId")
                    seen[o["Key"]] = h.get("ServerSideEncryption", "none") + (" " + kms.split("/")[-1] if kms else "")
        print(json.dumps(seen))
        """
        let path = f.scratch.path + "/sse.py"
        try f.scratch.writeFile(path, script)
        let ca = ceph?.caBundle ?? ""
        let r = try Command.run("/usr/bin/env", ["python3", path, settings["AWS_ENDPOINT_URL"]!, settings["AWS_ACCESS_KEY_ID"]!,
                                                 settings["AWS_SECRET_ACCESS_KEY"]!, bucket, ca, customerKey ?? ""], outputDirectory: f.scratch.path)
        guard r.succeeded, let seen = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: String] else {
            throw TestFailure("boto3: \(r)")
        }
        return seen
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
