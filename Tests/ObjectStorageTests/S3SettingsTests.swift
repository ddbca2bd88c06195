@testable import ObjectStorage
import Testing
import Repository
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

@Suite struct S3SettingsTests {
    static let credentials = ["AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s3cr3t-value"]

    func settings(_ url: String, _ extra: [String: String] = [:]) throws -> S3Settings {
        let values = Self.credentials.merging(extra) { $1 }
        return try S3Settings(url: url, lookup: { values[$0] })
    }

    func message(_ body: () throws -> Any) -> String {
        do { _ = try body(); return "" } catch { return "\(error)" }
    }

    @Test func bucketAndPrefix() throws {
        let s = try settings("s3://pgbk-repo/prod/db1/")
        #expect(s.bucket == "pgbk-repo" && s.prefix == "prod/db1")
        #expect(s.key("wal/x") == "prod/db1/wal/x" && s.key("") == "prod/db1")
        #expect(s.location == "s3://pgbk-repo/prod/db1")
        let root = try settings("s3://pgbk-repo")
        #expect(root.prefix == "" && root.key("pgbk.ini") == "pgbk.ini")
    }

    @Test func refusesWhatIsNotABucketOrHasDotDot() {
        #expect(message { try settings("s3://Bad_Bucket/x") }.contains("not a bucket name"))
        #expect(message { try settings("s3://ab") }.contains("not a bucket name"))
        #expect(message { try settings("s3://bucket/a/../b") }.contains(". or .."))
        #expect(message { try settings("/var/backups") }.contains("not an s3://"))
    }

    @Test func awsDefaultsAndVirtualHostAddressing() throws {
        let s = try settings("s3://bucket", ["AWS_REGION": "eu-central-1"])
        #expect(s.endpoint == .init(secure: true, host: "s3.eu-central-1.amazonaws.com", port: nil))
        #expect(s.addressing == .host)
        #expect(s.target(key: "a b/c") == ("bucket.s3.eu-central-1.amazonaws.com", "/a%20b/c"))
        #expect(try settings("s3://bucket", ["AWS_DEFAULT_REGION": "ap-south-1"]).region == "ap-south-1")
        #expect(try settings("s3://bucket").region == "us-east-1")
    }

    @Test func pathStyleForIPAndLocalhostAndWhenForced() throws {
        for endpoint in ["http://127.0.0.1:7480", "http://localhost:9000", "http://[::1]:9000"] {
            let s = try settings("s3://bucket/p", ["AWS_ENDPOINT_URL": endpoint])
            #expect(s.addressing == .path, "\(endpoint)")
        }
        let ip = try settings("s3://bucket/p", ["AWS_ENDPOINT_URL": "http://127.0.0.1:7480"])
        #expect(ip.target(key: "p/k") == ("127.0.0.1:7480", "/bucket/p/k"))
        let forced = try settings("s3://bucket", ["AWS_ENDPOINT_URL": "https://s3.example.net", "S3_URI_STYLE": "path"])
        #expect(forced.addressing == .path && forced.target(key: nil) == ("s3.example.net", "/bucket"))
        let host = try settings("s3://bucket", ["AWS_ENDPOINT_URL": "http://127.0.0.1:80", "S3_URI_STYLE": "host"])
        #expect(host.addressing == .host && host.endpoint.authority == "127.0.0.1")
        #expect(message { try settings("s3://bucket", ["S3_URI_STYLE": "virtual"]) }.contains("path or host"))
    }

    @Test func endpointsAreCheckedAndTheServiceSpecificOneWins() throws {
        #expect(message { try settings("s3://bucket", ["AWS_ENDPOINT_URL": "ftp://x"]) }.contains("http:// or https://"))
        #expect(message { try settings("s3://bucket", ["AWS_ENDPOINT_URL": "http://h:99999"]) }.contains("port"))
        #expect(message { try settings("s3://bucket", ["AWS_ENDPOINT_URL": "http://h/path"]) }.contains("no path"))
        let s = try settings("s3://bucket", ["AWS_ENDPOINT_URL": "http://a:1", "AWS_ENDPOINT_URL_S3": "http://b:2"])
        #expect(s.endpoint.host == "b" && s.endpoint.port == 2)
    }

    @Test func tuningKeysHaveLimits() throws {
        #expect(try settings("s3://bucket", ["S3_PART_SIZE": "64M"]).partSize == 64 << 20)
        #expect(message { try settings("s3://bucket", ["S3_PART_SIZE": "4M"]) }.contains("S3_PART_SIZE"))
        #expect(try settings("s3://bucket", ["S3_RETRIES": "0"]).retries == 0)
        #expect(message { try settings("s3://bucket", ["S3_RETRIES": "-1"]) }.contains("S3_RETRIES"))
        #expect(message { try settings("s3://bucket", ["S3_TIMEOUT": "x"]) }.contains("S3_TIMEOUT"))
        #expect(try settings("s3://bucket").readAhead == 2 && settings("s3://bucket", ["S3_READ_AHEAD": "0"]).readAhead == 0)
        #expect(message { try settings("s3://bucket", ["S3_READ_AHEAD": "17"]) }.contains("S3_READ_AHEAD"))
    }

    @Test func missingCredentialsNameTheKeyNeverTheSecret() {
        let none = message { try S3Settings(url: "s3://bucket", lookup: { _ in nil }) }
        #expect(none.contains("AWS_ACCESS_KEY_ID"))
        let noSecret = message { try S3Settings(url: "s3://bucket", lookup: { $0 == "AWS_ACCESS_KEY_ID" ? "AKIDEXAMPLE" : nil }) }
        #expect(noSecret.contains("AKIDEXAMPLE") && noSecret.contains("AWS_SECRET_ACCESS_KEY"))
    }

    @Test func serverSideEncryptionOfEachKindAndWhatIsRefused() throws {
        #expect(try settings("s3://bucket").serverSideEncryption == nil)
        #expect(try settings("s3://bucket", ["S3_SSE": "AES256"]).serverSideEncryption == .s3)
        #expect(try settings("s3://bucket", ["S3_SSE": "aws:kms"]).serverSideEncryption == .kms(keyID: nil))
        #expect(try settings("s3://bucket", ["S3_SSE": "aws:kms", "S3_SSE_KMS_KEY_ID": "k1"]).serverSideEncryption == .kms(keyID: "k1"))
        #expect(message { try settings("s3://bucket", ["S3_SSE": "aes256"]) }.contains("must be AES256 (SSE-S3) or aws:kms"))
        #expect(message { try settings("s3://bucket", ["S3_SSE_KMS_KEY_ID": "k1"]) }.contains("S3_SSE is not aws:kms"))
        #expect(message { try settings("s3://bucket", ["S3_SSE": "AES256", "S3_SSE_KMS_KEY_ID": "k1"]) }.contains("not aws:kms"))

        let dir = "/tmp/pgbk-sse-\(getpid())"
        try FileSystem.makeDirectory(dir, mode: 0o700)
        defer { try? FileSystem.removeTree(dir) }
        let key = (0..<32).map { UInt8($0) }
        try AtomicFile.write(dir + "/key", key, mode: 0o600)
        #expect(try settings("s3://bucket", ["S3_SSE_CUSTOMER_KEY_FILE": dir + "/key"]).serverSideEncryption == .customer(key: key))
        try AtomicFile.write(dir + "/short", Array(key.prefix(16)), mode: 0o600)
        #expect(message { try settings("s3://bucket", ["S3_SSE_CUSTOMER_KEY_FILE": dir + "/short"]) }.contains("holds 16 bytes, not the 32"))
        try AtomicFile.write(dir + "/open", key, mode: 0o644)
        #expect(message { try settings("s3://bucket", ["S3_SSE_CUSTOMER_KEY_FILE": dir + "/open"]) }.contains("can be read by every user"))
        #expect(message { try settings("s3://bucket", ["S3_SSE_CUSTOMER_KEY_FILE": dir + "/none"]) }.contains("S3_SSE_CUSTOMER_KEY_FILE \(dir)/none"))
        #expect(message { try settings("s3://bucket", ["S3_SSE": "AES256", "S3_SSE_CUSTOMER_KEY_FILE": dir + "/key"]) }.contains("both set"))
        // The key never appears in a message.
        #expect(!message { try settings("s3://bucket", ["S3_SSE": "x", "S3_SSE_CUSTOMER_KEY_FILE": dir + "/key"]) }.contains("000102"))
    }

    @Test func eachKindAddsItsHeadersWhereS3AsksForThem() throws {
        let kms = try S3Client(settings: try settings("s3://bucket", ["S3_SSE": "aws:kms", "S3_SSE_KMS_KEY_ID": "k1"]))
        #expect(kms.creationHeaders.map(\.0) == ["x-amz-server-side-encryption", "x-amz-server-side-encryption-aws-kms-key-id"]
                && kms.contentHeaders.isEmpty)
        var customer = try settings("s3://bucket")
        customer.serverSideEncryption = .customer(key: Array(repeating: 0, count: 32))
        let c = try S3Client(settings: customer)
        // base64 of 32 zero bytes, and of their MD5 (70bc8f4b72a86921468bf8e8441dce51).
        #expect(c.contentHeaders.first { $0.0 == "x-amz-server-side-encryption-customer-key" }?.1 == "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
        #expect(c.contentHeaders.first { $0.0 == "x-amz-server-side-encryption-customer-key-md5" }?.1 == "cLyPS3KoaSFGi/joRB3OUQ==")
        #expect(c.creationHeaders.count == 3)
    }

    /// S3_STORAGE_CLASS goes on backup data and WAL only; S3_TAGS on every object created;
    /// classes whose objects cannot be read at once, and tags S3 would refuse, are refused here.
    @Test func storageClassOnDataOnlyAndTagsOnEveryObject() throws {
        let client = try S3Client(settings: try settings("s3://bucket", ["S3_STORAGE_CLASS": "STANDARD_IA", "S3_TAGS": "team=db&cost centre=42/a"]))
        #expect(client.objectHeaders(data: true).map(\.0) == ["x-amz-storage-class", "x-amz-tagging"])
        #expect(client.objectHeaders(data: true)[0].1 == "STANDARD_IA")
        #expect(client.objectHeaders(data: false).map(\.0) == ["x-amz-tagging"])
        #expect(client.objectHeaders(data: false)[0].1 == "team=db&cost%20centre=42%2Fa")
        #expect(try S3Client(settings: try settings("s3://bucket")).objectHeaders(data: true).isEmpty)
        for data in ["wal/0000000100000000/000000010000000000000002-9f8e7d6c.zst", "wal/receiving/000000010000000000000002.partial",
                     "backup/20261122-163700F/data/base/5/1259", "backup/20261122-163700F/srvlog/postgresql.log",
                     "backup/20261122-163700F/bundle/3"] {
            #expect(S3Storage.isData(data), "\(data)")
        }
        for catalog in ["repository.ini", "pgbk.ini", "backup/20261122-163700F/backup.ini", "backup/20261122-163700F/file.list",
                        "backup/20261122-163700F/srvlog.list", "backup/20261122-163700F/bundle.list", "drill/20261123-030000D.ini", "wal/00000002.history-1a2b3c4d",
                        "keys/1/ab.key", "encryption.ini", "locks/x", "backup/data"] {
            #expect(!S3Storage.isData(catalog), "\(catalog)")
        }
        #expect(message { try settings("s3://bucket", ["S3_STORAGE_CLASS": "GLACIER"]) }.contains("restore request"))
        #expect(message { try settings("s3://bucket", ["S3_STORAGE_CLASS": "DEEP_ARCHIVE"]) }.contains("restore request"))
        #expect(message { try settings("s3://bucket", ["S3_STORAGE_CLASS": "standard-ia"]) }.contains("S3_STORAGE_CLASS"))
        #expect(message { try settings("s3://bucket", ["S3_TAGS": "novalue"]) }.contains("KEY=VALUE"))
        #expect(message { try settings("s3://bucket", ["S3_TAGS": "a=1&a=2"]) }.contains("twice"))
        #expect(message { try settings("s3://bucket", ["S3_TAGS": "aws:x=1"]) }.contains("aws:"))
        #expect(message { try settings("s3://bucket", ["S3_TAGS": "k=v;rm"]) }.contains("S3_TAGS"))
        #expect(message { try settings("s3://bucket", ["S3_TAGS": (1...11).map { "k\($0)=v" }.joined(separator: "&")]) }.contains("10 per object"))
    }
}
