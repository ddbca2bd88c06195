import StorageInterface
import Synchronization
import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Reads an object in ranged GETs of `chunkSize`: memory stays at a few chunks whatever the
/// object's size, a dropped connection costs one chunk's retry, and If-Match pins every
/// chunk to the version the first one came from. Once the first chunk has named the
/// object's size, the next `readAhead` chunks are fetched on threads of their own while the
/// caller works through the current one, so that the network, the decompression and the
/// disk overlap within a file (restore from object storage).
final class S3ReadStream: StorageReadStream {
    private let client: S3Client
    private let key: String
    private let described: String
    private let chunkSize: UInt64
    private let readAhead: Int
    private let versionId: String?
    private var next: UInt64
    private var end: UInt64?
    private var etag: String?
    private var chunk: [UInt8] = []
    private var position = 0
    private var ahead: [PendingChunk] = []

    init(client: S3Client, key: String, described: String, range: Range<UInt64>?, chunkSize: Int, readAhead: Int = 2,
         versionId: String? = nil) throws {
        self.client = client
        self.versionId = versionId
        self.key = key
        self.described = described
        self.chunkSize = UInt64(chunkSize)
        self.readAhead = readAhead
        next = range?.lowerBound ?? 0
        end = range?.upperBound
        // The first chunk now: a missing object fails the open, as on a file system.
        try fetch()
    }

    deinit { close() }

    private func fetch() throws {
        let upper = min(next + chunkSize, end ?? UInt64.max)
        guard upper > next || etag == nil else { chunk = []; position = 0; return }
        let got: S3Client.Chunk?
        if let first = ahead.first, first.range.lowerBound == next {
            ahead.removeFirst()
            got = try first.wait()
        } else {
            // Nothing read ahead, or a short answer left what was read ahead out of step.
            dropAhead()
            got = try client.get(key, range: next..<max(upper, next + 1), ifMatch: etag, versionId: versionId)
        }
        guard let got else {
            if etag != nil { throw S3Error.protocolError(request: "GET \(described)", reason: "the object disappeared while it was being read") }
            throw StorageError.notFound(described)
        }
        if etag == nil {
            etag = got.etag.isEmpty ? nil : got.etag
            end = min(end ?? got.totalSize, got.totalSize)
        }
        chunk = got.bytes
        if let end, next + UInt64(chunk.count) > end { chunk.removeLast(Int(next + UInt64(chunk.count) - end)) }
        next += UInt64(chunk.count)
        position = 0
        scheduleAhead()
    }

    /// Starts the GETs of the chunks after those already asked for, up to `readAhead`. Only
    /// a pinned object (an ETag or a version) is read ahead: every chunk must come from one.
    private func scheduleAhead() {
        guard let end, etag != nil || versionId != nil else { return }
        var from = ahead.last?.range.upperBound ?? next
        while ahead.count < readAhead, from < end {
            let range = from..<min(from + chunkSize, end)
            guard let pending = PendingChunk(client: client, key: key, range: range, etag: etag, versionId: versionId) else { break }
            ahead.append(pending)
            from = range.upperBound
        }
    }

    private func dropAhead() {
        for pending in ahead { _ = try? pending.wait() }
        ahead = []
    }

    func readSome(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if position == chunk.count {
            guard let end, next < end else { return 0 }
            try fetch()
            guard !chunk.isEmpty else {
                throw S3Error.protocolError(request: "GET \(described)", reason: "empty range before the end of the object")
            }
        }
        let n = min(buffer.count, chunk.count - position)
        chunk.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + position, byteCount: n) }
        position += n
        return n
    }

    /// Waits for the GETs still under way (a reader that stops early pays for at most
    /// `readAhead` chunks).
    func close() {
        chunk = []
        dropAhead()
    }
}

/// One ranged GET on a thread of its own, joined by `wait` (once).
private final class PendingChunk {
    private final class Outcome: Sendable {
        let value = Mutex<Result<S3Client.Chunk?, S3Error>?>(nil)
    }
    private let thread: pthread_t
    private let outcome = Outcome()
    private var joined = false
    let range: Range<UInt64>

    init?(client: S3Client, key: String, range: Range<UInt64>, etag: String?, versionId: String?) {
        self.range = range
        let outcome = self.outcome
        guard let thread = LocalHost.startThread({
            let got = Result { () throws(S3Error) -> S3Client.Chunk? in
                try client.get(key, range: range, ifMatch: etag, versionId: versionId)
            }
            outcome.value.withLock { $0 = got }
        }) else { return nil }
        self.thread = thread
    }

    func wait() throws -> S3Client.Chunk? {
        if !joined {
            pthread_join(thread, nil)
            joined = true
        }
        return try outcome.value.withLock { $0 }!.get()
    }
}

/// Buffers up to one part; an object that fits is one PUT at commit, a larger one a
/// multipart upload that only `commit` completes. Nothing is visible before then, and
/// `abandon` aborts the upload.
final class S3WriteStream: StorageWriteStream {
    private let client: S3Client
    private let key: String
    private let described: String
    private let noReplace: Bool
    private let data: Bool
    private let partSize: Int
    private var buffer: [UInt8] = []
    private var uploadID: String?
    private var etags: [String] = []
    private var done = false

    init(client: S3Client, key: String, described: String, noReplace: Bool, data: Bool, partSize: Int, expectedSize: UInt64?) {
        self.client = client
        self.data = data
        self.key = key
        self.described = described
        self.noReplace = noReplace
        self.partSize = partSize
        buffer.reserveCapacity(min(partSize, Int(expectedSize ?? UInt64(partSize))))
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var rest = bytes
        while !rest.isEmpty {
            let n = min(rest.count, partSize - buffer.count)
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: rest[0..<n]))
            rest = UnsafeRawBufferPointer(rebasing: rest[n...])
            if buffer.count == partSize && !rest.isEmpty { try flushPart() }
        }
    }

    private func flushPart() throws {
        if uploadID == nil { uploadID = try client.createMultipartUpload(key, data: data) }
        let etag = try buffer.withUnsafeBytes { try client.uploadPart(key, uploadID: uploadID!, number: etags.count + 1, body: $0) }
        etags.append(etag)
        buffer.removeAll(keepingCapacity: true)
    }

    func commit() throws {
        guard !done else { return }
        do {
            if let uploadID {
                if !buffer.isEmpty { try flushPart() }
                // Servers that ignore If-None-Match on completion (Ceph before Reef) still get
                // the check just before: see docs/repository-format.md.
                if noReplace, try client.head(key) != nil { throw StorageError.exists(described) }
                guard try client.completeMultipartUpload(key, uploadID: uploadID, etags: etags, ifNoneMatch: noReplace) else {
                    throw StorageError.exists(described)
                }
            } else {
                guard try buffer.withUnsafeBytes({ try client.put(key, body: $0, ifNoneMatch: noReplace, data: data) }) else {
                    throw StorageError.exists(described)
                }
            }
        } catch {
            abandon()
            throw error
        }
        done = true
        buffer = []
    }

    func commit(as name: String) throws {
        throw S3Error.setup("\(described): an object store cannot publish under another name")
    }

    func abandon() {
        guard !done else { return }
        done = true
        buffer = []
        if let uploadID { client.abortMultipartUpload(key, uploadID: uploadID) }
    }
}
