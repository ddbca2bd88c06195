import PostgresClient
import PostgresFormat
import TarStream

/// BASE_BACKUP's archives as tar readers, one after the other, as they arrive: each reader
/// pulls the archive's CopyData from the stream and ends where the next archive (or the
/// manifest) begins. After the last archive, the manifest and the stop position.
public final class BaseBackupArchives {
    public struct Archive {
        public let name: String
        public let tablespace: BaseBackupStream.Tablespace?
        public let reader: TarReader
    }

    public let stream: BaseBackupStream
    public private(set) var manifest: [UInt8] = []
    public private(set) var stop: (lsn: LSN, timeline: TimelineID)?
    /// The archives' bytes received so far (what crossed the network, before the manifest).
    public private(set) var archiveBytes: UInt64 = 0
    /// The event that ended the current archive, not yet acted on.
    private var pending: BaseBackupStream.Event?
    private var current: Feed?

    public init(_ stream: BaseBackupStream) { self.stream = stream }

    /// The next archive; nil once none is left, and then `manifest` and `stop` are read. An
    /// archive whose reader was not read to its end is skipped to it first.
    public func nextArchive() throws -> Archive? {
        if let current, !current.ended { try current.drain() }
        while true {
            let event = try pending ?? stream.next()
            pending = nil
            switch event {
            case .archive(let name, let tablespace):
                let feed = Feed(self)
                current = feed
                return Archive(name: name, tablespace: tablespace, reader: try TarReader(name: name) { try feed.fill($0) })
            case .manifest:
                try readManifest()
            case .end(let lsn, let timeline):
                stop = (lsn, timeline)
                return nil
            case .data:
                throw PostgresError(kind: .query, message: "BASE_BACKUP sent data outside an archive", query: "BASE_BACKUP")
            case .progress:
                continue
            }
        }
    }

    private func readManifest() throws {
        while true {
            switch try stream.next() {
            case .data(let bytes, let offset):
                manifest += bytes[offset...]
                guard manifest.count <= 1 << 30 else {
                    throw PostgresError(kind: .query, message: "BASE_BACKUP's manifest is larger than 1 GiB", query: "BASE_BACKUP")
                }
            case .progress:
                continue
            case let other:
                pending = other
                return
            }
        }
    }

    /// One archive's bytes, from the stream's data events until any other.
    final class Feed {
        unowned let owner: BaseBackupArchives
        private var leftover: ArraySlice<UInt8> = []
        private(set) var ended = false

        init(_ owner: BaseBackupArchives) { self.owner = owner }

        func fill(_ buffer: UnsafeMutableRawBufferPointer) throws -> Int {
            while leftover.isEmpty {
                guard !ended else { return 0 }
                switch try owner.stream.next() {
                case .data(let bytes, let offset):
                    leftover = bytes[offset...]
                    owner.archiveBytes += UInt64(leftover.count)
                case .progress: continue
                case let other:
                    owner.pending = other
                    ended = true
                }
            }
            let n = min(buffer.count, leftover.count)
            leftover.prefix(n).withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: n) }
            leftover = leftover.dropFirst(n)
            return n
        }

        func drain() throws {
            let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
            defer { scratch.deallocate() }
            while try fill(scratch) > 0 {}
        }
    }
}
