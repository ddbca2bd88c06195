import Testing
import Foundation
import Repository
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// S3_STORAGE_CLASS and S3_TAGS (issue 28) on the Ceph gateway (which ceph-rgw.sh gives a
/// STANDARD_IA class): backup data and archived WAL go to the class, the catalog stays
/// STANDARD, every object carries the tags, multipart uploads included; the backup then
/// validates and restores from there. Outside S3Scenarios: its own bucket, run beside others.
@Suite(.ownThread) struct S3StorageClassTests {
    @Test func dataGoesToTheClassTheCatalogStaysAndEveryObjectIsTagged() throws {
        let f = try S3Fixture("sclass", settings: ["S3_STORAGE_CLASS": "STANDARD_IA", "S3_TAGS": "team=db&cost-centre=42/a"])
        let source = try f.journalCluster()
        defer { source.stopIfRunning() }
        try source.execute("CREATE TABLE filler AS SELECT g, md5(g::text) AS v FROM generate_series(1, 200000) g")
        _ = try f.backup(source, "full", ["--compress=none"])
        try Journal(cluster: source).write(1...4, switchEvery: 2)
        try f.switchWALAndWaitForArchive(source)
        try source.stop()
        #expect(try f.restoreJournal(as: "classy", []) == Array(1...4))

        let objects = try Self.classesAndTags(f)
        let data = objects.filter { $0.key.contains("/data/") || $0.key.contains("/bundle/") || $0.key.hasPrefix("repo/wal/0") }
        let catalog = objects.filter { ["repository.ini", "pgbk.ini", "backup.ini", "file.list", "bundle.list"].contains(($0.key as NSString).lastPathComponent) }
        #expect(data.count > 5 && catalog.count >= 5, "\(objects.keys.sorted())")
        #expect(data.keys.contains { $0.contains("/bundle/") }, "small files in bundles, object storage's default: \(data.keys.sorted())")
        #expect(data.values.contains { $0.size > 5 << 20 }, "a multipart upload among the data")
        for (key, object) in data { #expect(object.storageClass == "STANDARD_IA", "\(key): \(object.storageClass)") }
        for (key, object) in catalog { #expect(object.storageClass == "STANDARD", "\(key): \(object.storageClass)") }
        for (key, object) in objects { #expect(object.tags == ["cost-centre": "42/a", "team": "db"], "\(key): \(object.tags)") }
    }

    struct Object { let storageClass: String; let tags: [String: String]; let size: Int }

    /// Every object below the repository's prefix, as boto3 reads it: its class (HEAD), its
    /// tags (GetObjectTagging) and its size.
    static func classesAndTags(_ f: S3Fixture) throws -> [String: Object] {
        let settings = f.gateway.settings()
        let bucket = String(f.url.dropFirst("s3://".count).prefix { $0 != "/" })
        let script = """
        import boto3, json, sys
        endpoint, key, secret, bucket = sys.argv[1:5]
        s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret, region_name="us-east-1")
        seen = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="repo/"):
            for o in page.get("Contents", []):
                h = s3.head_object(Bucket=bucket, Key=o["Key"])
                tags = s3.get_object_tagging(Bucket=bucket, Key=o["Key"])["TagSet"]
                seen[o["Key"]] = [h.get("StorageClass", "STANDARD"), {t["Key"]: t["Value"] for t in tags}, o["Size"]]
        print(json.dumps(seen))
        """
        let path = f.scratch.path + "/classes.py"
        try f.scratch.writeFile(path, script)
        let r = try Command.run("/usr/bin/env", ["python3", path, settings["AWS_ENDPOINT_URL"]!, settings["AWS_ACCESS_KEY_ID"]!,
                                                 settings["AWS_SECRET_ACCESS_KEY"]!, bucket], outputDirectory: f.scratch.path)
        guard r.succeeded, let seen = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: [Any]] else {
            throw TestFailure("boto3: \(r)")
        }
        return seen.compactMapValues { v in
            guard v.count == 3, let c = v[0] as? String, let t = v[1] as? [String: String], let n = v[2] as? Int else { return nil }
            return Object(storageClass: c, tags: t, size: n)
        }
    }
}
