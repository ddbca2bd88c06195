import CryptoDigest
@testable import ObjectStorage
import Testing

@Suite struct WireFormatTests {
    init() throws { try NativeLibraries.load() }

    @Test func listBucketResult() throws {
        let body = """
        <?xml version="1.0" encoding="UTF-8"?>
        <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>r/</Prefix>
        <IsTruncated>true</IsTruncated><NextContinuationToken>tok+1</NextContinuationToken>
        <Contents><Key>r/a%20b</Key><LastModified>2026-11-30T22:29:56.128Z</LastModified><Size>42</Size></Contents>
        <CommonPrefixes><Prefix>r/wal/</Prefix></CommonPrefixes><Empty/></ListBucketResult>
        """
        let doc = try #require(XMLElement.parse(Array(body.utf8)))
        #expect(doc.name == "ListBucketResult" && doc["IsTruncated"] == "true" && doc["NextContinuationToken"] == "tok+1")
        let item = try #require(doc.children("Contents").first)
        #expect(PercentEncoding.decode(item["Key"]) == "r/a b" && item["Size"] == "42")
        #expect(ISODate.parse(item["LastModified"]) == 1_796_077_796)
        #expect(doc.children("CommonPrefixes").map { $0["Prefix"] } == ["r/wal/"])
        #expect(doc.child("Empty") != nil)
    }

    @Test func malformedBodiesAreNotDocuments() {
        for body in ["", "<a>", "<a></b>", "not xml", "<a/><b/>"] {
            #expect(XMLElement.parse(Array(body.utf8)) == nil, "\(body)")
        }
    }

    @Test func entitiesFromADoctypeAreNotExpandedOrFetched() throws {
        let body = """
        <?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]><Error><Code>&x;</Code></Error>
        """
        let code = XMLElement.parse(Array(body.utf8))?["Code"] ?? ""
        #expect(!code.contains("root:"))
    }

    @Test func escapesAndDates() {
        #expect(XMLElement.escape("a<b>&\"'") == "a&lt;b&gt;&amp;&quot;&apos;")
        #expect(HTTPDate.parse("Mon, 30 Nov 2026 22:29:56 GMT") == 1_796_077_796)
        #expect(HTTPDate.parse("yesterday") == nil)
        #expect(PercentEncoding.decode("%zz") == nil && PercentEncoding.decode("a%2Bb+c") == "a+b c")
    }

    @Test func digestsFromLibcrypto() {
        #expect(Digest.hex(Digest.sha256(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Digest.base64(Array("hello".utf8)) == "aGVsbG8=" && Digest.base64([]) == "")
        let md5 = Array("".utf8).withUnsafeBytes { Digest.md5($0) }
        #expect(Digest.hex(md5) == "d41d8cd98f00b204e9800998ecf8427e")
    }
}

/// Issue 22, defect 21: a full store is not retried (507 was, 6 times with backoff).
@Suite struct RetryRuleTests {
    @Test(arguments: [(503, "SlowDown", true), (500, "InternalError", true), (429, "", true), (408, "", true),
                      (507, "InsufficientStorage", false), (403, "QuotaExceeded", false), (500, "XMinioStorageFull", false),
                      (400, "EntityTooLarge", false), (501, "NotImplemented", false), (403, "AccessDenied", false)])
    func aFullStoreIsNotRetried(_ status: Int, _ code: String, _ retriable: Bool) {
        let error = S3Error.http(request: "PUT s3://b/k", status: status, code: code, message: "", hint: "")
        #expect(error.isRetriable == retriable, "\(status) \(code)")
    }
}
