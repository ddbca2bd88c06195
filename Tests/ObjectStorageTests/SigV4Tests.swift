@testable import ObjectStorage
import Testing

/// AWS's published examples (S3 API reference, "Signature Calculations for the Authorization
/// Header: Transferring Payload in a Single Chunk").
@Suite struct SigV4Tests {
    let signer = SigV4(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                       sessionToken: nil, region: "us-east-1")

    init() throws { try NativeLibraries.load() }

    func authorization(_ headers: [(String, String)]) -> String {
        headers.first { $0.0 == "Authorization" }?.1 ?? ""
    }

    @Test func getObjectWithRange() {
        let added = signer.sign(method: "GET", path: "/test.txt", query: [],
                                headers: [("host", "examplebucket.s3.amazonaws.com"), ("range", "bytes=0-9")],
                                payloadHash: SigV4.emptyPayloadHash, date: AmzDate(stamp: "20130524T000000Z"))
        #expect(authorization(added) == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func listObjectsWithQuery() {
        let added = signer.sign(method: "GET", path: "/", query: [("prefix", "J"), ("max-keys", "2")],
                                headers: [("host", "examplebucket.s3.amazonaws.com")],
                                payloadHash: SigV4.emptyPayloadHash, date: AmzDate(stamp: "20130524T000000Z"))
        #expect(authorization(added).hasSuffix("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"))
    }

    @Test func aChangedByteChangesTheSignature() {
        func signature(_ range: String) -> String {
            authorization(signer.sign(method: "GET", path: "/test.txt", query: [],
                                      headers: [("host", "examplebucket.s3.amazonaws.com"), ("range", range)],
                                      payloadHash: SigV4.emptyPayloadHash, date: AmzDate(stamp: "20130524T000000Z")))
        }
        #expect(signature("bytes=0-9") != signature("bytes=0-8"))
    }

    @Test func theSecretNeverAppearsInWhatIsSent() {
        let withToken = SigV4(accessKeyID: "AKID", secretKey: "very-secret", sessionToken: "token", region: "eu-west-1")
        let added = withToken.sign(method: "PUT", path: "/b/k", query: [], headers: [("host", "h")],
                                   payloadHash: SigV4.emptyPayloadHash, date: AmzDate(secondsSince1970: 1_369_353_600))
        #expect(added.contains { $0.0 == "x-amz-security-token" && $0.1 == "token" })
        #expect(added.contains { $0.0 == "x-amz-date" && $0.1 == "20130524T000000Z" })
        #expect(!added.contains { $0.1.contains("very-secret") })
    }

    @Test func uriEncodingKeepsUnreservedAndSlashes() {
        #expect(SigV4.uriEncode("backup/2026 x/a+b~c_d.e-f", keepSlash: true) == "backup/2026%20x/a%2Bb~c_d.e-f")
        #expect(SigV4.uriEncode("a/b", keepSlash: false) == "a%2Fb")
        #expect(SigV4.uriEncode("é", keepSlash: true) == "%C3%A9")
        #expect(SigV4.canonicalQuery([("uploads", ""), ("delete", "")]) == "delete=&uploads=")
    }
}
