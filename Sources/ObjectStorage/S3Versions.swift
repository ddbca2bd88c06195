import CryptoDigest

/// Object versions and Object Lock: what a repository in a versioned, locked bucket needs
/// beyond plain objects (reading it as it was at a time; telling what the lock keeps).
extension S3Client {
    /// One version of an object, or a delete marker, as ListObjectVersions gives it.
    public struct ObjectVersion: Sendable, Equatable {
        public var key: String
        public var versionId: String
        public var isDeleteMarker: Bool
        public var mtime: Int64
        public var size: UInt64
    }

    /// Every version and delete marker below `prefix`, each key's newest first (the order
    /// S3 lists them in), following the key and version markers.
    public func listVersions(prefix: String) throws(S3Error) -> [ObjectVersion] {
        var versions: [ObjectVersion] = []
        var markers: (key: String, version: String)?
        repeat {
            var query = [("versions", ""), ("prefix", prefix), ("encoding-type", "url")]
            if let markers { query += [("key-marker", markers.key), ("version-id-marker", markers.version)] }
            let request = Request(method: "GET", key: nil, query: query, responseLimit: 16 << 20)
            let response = try send(request)
            guard let document = XMLElement.parse(response.body), document.name == "ListVersionsResult" else {
                throw .protocolError(request: describe(request) + "?versions&prefix=" + prefix, reason: "not a ListVersionsResult")
            }
            for item in document.children where item.name == "Version" || item.name == "DeleteMarker" {
                guard let key = PercentEncoding.decode(item["Key"]), !item["VersionId"].isEmpty, let mtime = ISODate.parse(item["LastModified"]) else {
                    throw .protocolError(request: describe(request), reason: "a listed version without key, version ID or time")
                }
                versions.append(ObjectVersion(key: key, versionId: item["VersionId"], isDeleteMarker: item.name == "DeleteMarker",
                                              mtime: mtime, size: UInt64(item["Size"]) ?? 0))
            }
            markers = nil
            if document["IsTruncated"] == "true" {
                let next = (PercentEncoding.decode(document["NextKeyMarker"]) ?? "", document["NextVersionIdMarker"])
                guard !next.0.isEmpty else {
                    throw .protocolError(request: describe(request), reason: "truncated version listing without a next marker")
                }
                markers = next
            }
        } while markers != nil
        return versions
    }

    /// The bucket's Object Lock default retention, as "COMPLIANCE, 14 days"; nil when the
    /// bucket has no Object Lock or no default retention.
    public func objectLockRetention() throws(S3Error) -> String? {
        let request = Request(method: "GET", key: nil, query: [("object-lock", "")], accepted: [400, 404])
        let response = try send(request)
        guard response.status == 200, let document = XMLElement.parse(response.body), document["ObjectLockEnabled"] == "Enabled",
              let retention = document.child("Rule")?.child("DefaultRetention") else { return nil }
        let period = !retention["Days"].isEmpty ? "\(retention["Days"]) days" : "\(retention["Years"]) years"
        return "\(retention["Mode"]), \(period)"
    }
}
