import CryptoDigest
@testable import ObjectStorage
import Testing

/// Which version of each object a repository read at a time sees (--repo-target-time), and
/// the content checksum every upload carries (Object Lock buckets require one).
@Suite struct PointInTimeTests {
    init() throws { try NativeLibraries.load() }

    func version(_ key: String, _ id: String, at mtime: Int64, deleted: Bool = false) -> S3Client.ObjectVersion {
        S3Client.ObjectVersion(key: key, versionId: id, isDeleteMarker: deleted, mtime: mtime, size: 10)
    }

    @Test func theVersionCurrentAtTheTimeIsTheNewestMadeAtOrBeforeIt() {
        // Newest first per key, as S3 lists them.
        let listed = [
            version("a", "a3", at: 300), version("a", "a2", at: 200), version("a", "a1", at: 100),
            version("b", "b2", at: 250, deleted: true), version("b", "b1", at: 150),
            version("c", "c1", at: 400),
            version("d", "d3", at: 200, deleted: true), version("d", "d2", at: 200), version("d", "d1", at: 50),
        ]
        let at200 = S3PointInTimeStorage.current(listed, at: 200)
        #expect(at200["a"]?.versionId == "a2")
        #expect(at200["b"]?.versionId == "b1")  // deleted only later
        #expect(at200["c"] == nil)  // made later
        #expect(at200["d"] == nil)  // deleted in the same second, after the overwrite (listed first)
        let at260 = S3PointInTimeStorage.current(listed, at: 260)
        #expect(at260["b"] == nil && at260["a"]?.versionId == "a2")
        #expect(S3PointInTimeStorage.current(listed, at: 99).keys.sorted() == ["d"])
    }

    @Test func listVersionsResultKeepsVersionsAndDeleteMarkersInOrder() throws {
        let body = """
        <?xml version="1.0" encoding="UTF-8"?>
        <ListVersionsResult><IsTruncated>false</IsTruncated>
        <DeleteMarker><Key>r/x</Key><VersionId>m1</VersionId><IsLatest>true</IsLatest><LastModified>2026-12-02T10:00:02.000Z</LastModified></DeleteMarker>
        <Version><Key>r/x</Key><VersionId>v1</VersionId><IsLatest>false</IsLatest><LastModified>2026-12-02T10:00:01.000Z</LastModified><Size>7</Size></Version>
        </ListVersionsResult>
        """
        let document = try #require(XMLElement.parse(Array(body.utf8)))
        #expect(document.children.map(\.name).filter { $0 != "IsTruncated" } == ["DeleteMarker", "Version"])
    }

    @Test func everyUploadCarriesTheBodysMD5() {
        let empty = [UInt8]().withUnsafeBytes { S3Client.integrityHeaders($0) }
        #expect(empty.first { $0.0 == "content-md5" }?.1 == "1B2M2Y8AsgTpgAmY7PhCfg==")
        let abc = Array("abc".utf8).withUnsafeBytes { S3Client.integrityHeaders($0) }
        #expect(abc.first { $0.0 == "content-md5" }?.1 == "kAFQmDzST7DWlj99KOF/cg==")
    }
}
