@testable import ObjectStorage

/// What the bucket's owner sets up (docs/user-guide.md, "A copy an attacker cannot
/// destroy"), and what an attacker with pgbk's credentials tries.
extension S3Client {
    /// A new bucket with versioning and Object Lock, default retention in compliance mode.
    func createLockedBucket(days: Int) throws {
        let response = try send(Request(method: "PUT", key: nil, headers: [("x-amz-bucket-object-lock-enabled", "true")], accepted: [409]))
        if response.status == 409, XMLElement.parse(response.body)?["Code"] != "BucketAlreadyOwnedByYou" {
            throw failure(Request(method: "PUT", key: nil), response)
        }
        let xml = "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention>"
            + "<Mode>COMPLIANCE</Mode><Days>\(days)</Days></DefaultRetention></Rule></ObjectLockConfiguration>"
        let body = Array(xml.utf8)
        _ = try send(Request(method: "PUT", key: nil, query: [("object-lock", "")], headers: body.withUnsafeBytes { Self.integrityHeaders($0) }),
                     body: body)
    }

    /// Removes one version of an object: what Object Lock refuses before its retention ends.
    func deleteVersion(_ key: String, versionId: String) throws {
        _ = try send(Request(method: "DELETE", key: key, query: [("versionId", versionId)]))
    }
}
