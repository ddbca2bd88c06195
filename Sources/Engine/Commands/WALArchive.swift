import PostgresFormat
import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `archive_command` and `restore_command`. Both are called once per WAL segment, so they do
/// no more than one pass over the file and take no repository lock.
public struct WALArchive: Sendable {
    public let repository: Repository

    public init(repository: Repository) { self.repository = repository }

    public enum PushResult: Sendable, Equatable { case stored(String), alreadyArchived }

    /// Stores the file PostgreSQL names (`%p`, relative to its data directory) durably, or
    /// confirms an identical copy is already there. Success means the archive holds exactly
    /// these bytes under this name. The content is checked against the name, then written
    /// unpublished; then, under the publication lock, it is published only where no copy
    /// exists, and a copy that is there already is re-read and compared. The stored name
    /// carries the checksum: where the storage can rename, the file is read once and named
    /// when it is published; an object store must know the key before it writes, so there
    /// the checksum is taken in a first pass.
    public func push(_ sourcePath: String, compression: Compression, level: Int32) throws -> PushResult {
        let walName = FileSystem.baseName(of: sourcePath)
        guard let kind = WALFileKind(fileName: walName) else {
            throw EngineError.invalidWALFile(path: sourcePath, reason: "not a WAL segment, .partial, .backup or .history file name")
        }
        let store = repository.wal
        let storage = repository.storage
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        let onePass = storage.features.contains(.rename)
        let known = onePass ? nil : try firstPass(sourcePath, kind: kind, name: walName, buffer: &buffer)

        let dir = store.directory(for: walName)
        try storage.makeDirectories(dir)
        func final(_ checksum: UInt32) -> String { dir + "/" + store.storedName(walName: walName, checksum: checksum, compression: compression) }
        let writer = try StoredFileWriter(storage: storage, name: known.map { final($0.checksum) } ?? dir + "/" + walName + compression.fileSuffix,
                                          compression: compression, level: level, expectedSize: known?.size, noReplace: true)
        let summary: StoredFileSummary
        do {
            let input = try OpenFile(reading: sourcePath)
            defer { input.close() }
            var first = true
            while true {
                let n = try input.read(into: &buffer)
                if first && onePass { try checkContent(kind, name: walName, first: Array(buffer[0..<n]), input: input, path: sourcePath) }
                first = false
                if n == 0 { break }
                try buffer.withUnsafeBytes { try writer.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            }
            try FaultInjection.point("archive-push-before-publish")
            summary = try writer.finish()
        } catch {
            writer.abandon()
            throw error
        }
        if let known, summary.checksum != known.checksum || summary.size != known.size {
            writer.abandon()
            throw EngineError.invalidWALFile(path: sourcePath, reason: "it changed while it was being archived")
        }
        do {
            try checkSize(kind, summary.size, path: sourcePath)
        } catch {
            writer.abandon()
            throw error
        }
        let name = final(summary.checksum)
        let lock = try store.lockForPublication(walName)
        defer { lock.release() }
        // Only a store that renames has temporaries (an object store writes the final key).
        if onePass { store.removeStaleTemporaries(in: dir) }
        if let existing = try store.find(walName) {
            // PostgreSQL retries archive_command after a crash: the same content again is success.
            if try sameContent(sourcePath, existing) {
                writer.abandon()
                return .alreadyArchived
            }
            // A copy that fails its own checksum is bit rot, not history: the good one replaces it.
            guard try !store.isIntact(existing) else {
                writer.abandon()
                throw EngineError.walConflict(walName: walName, archived: existing.path)
            }
            Console.warning("archived \(existing.path) fails its checksum; replacing it with \(sourcePath)")
            if existing.name == name {
                // Bit rot keeps the name (the checksum in it is the good content's): the damaged
                // copy goes first, under the lock, or the no-replace publication would refuse.
                // Killed in between, the segment is missing until the push is run again.
                try storage.remove(existing.name)
                try writer.publish(as: onePass ? name : nil)
            } else {
                try writer.publish(as: onePass ? name : nil)
                try storage.remove(existing.name)
            }
        } else {
            try writer.publish(as: onePass ? name : nil)
        }
        try storage.syncDirectory(dir)
        try checkNoRacingCopy(of: walName, ours: name, in: dir)
        try FaultInjection.point("archive-push-after-publish")
        return .stored(storage.describe(name))
    }

    /// Where the publication lock is only this host's (object storage), a pusher on another
    /// host may have published a copy of the same name meanwhile. Whoever sees another copy
    /// after publishing its own removes its own and fails (PostgreSQL retries, and the retry
    /// finds the survivor): two pushers can both fail, never both succeed, and a copy whose
    /// pusher exited 0 is never removed. See docs/guarantees.md.
    private func checkNoRacingCopy(of walName: String, ours: String, in dir: String) throws {
        let storage = repository.storage
        guard !storage.features.contains(.fileLocks) else { return }
        let others = try repository.wal.list(directory: dir).filter { $0.walName == walName && $0.name != ours }
        guard let other = others.first else { return }
        try storage.remove(ours)
        throw EngineError.walConflict(walName: walName, archived: other.path)
    }

    /// Checks the content against the name and returns its checksum and size.
    private func firstPass(_ path: String, kind: WALFileKind, name: String, buffer: inout [UInt8]) throws -> (checksum: UInt32, size: UInt64) {
        let input = try OpenFile(reading: path)
        defer { input.close() }
        var crc = CRC32C()
        var size: UInt64 = 0
        var first = true
        while true {
            let n = try input.read(into: &buffer)
            if first {
                try checkContent(kind, name: name, first: Array(buffer[0..<n]), input: input, path: path)
                first = false
            }
            if n == 0 { break }
            buffer.withUnsafeBytes { crc.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            size += UInt64(n)
        }
        try checkSize(kind, size, path: path)
        return (crc.value, size)
    }

    /// A segment is exactly the cluster's segment size: a shorter one is a copy cut short
    /// (a .partial segment may be shorter, and says so in its name).
    private func checkSize(_ kind: WALFileKind, _ size: UInt64, path: String) throws {
        let expected = UInt64(repository.identity.walSegmentSize)
        guard kind == .segment, size != expected else { return }
        throw EngineError.invalidWALFile(path: path, reason: "\(size) bytes, but a WAL segment of this cluster is \(expected) bytes (a copy cut short?)")
    }

    /// The content must be what the name says (see WALFileContent). History and backup
    /// history files are small text: they are read whole for the check.
    private func checkContent(_ kind: WALFileKind, name: String, first: [UInt8], input: OpenFile, path: String) throws {
        let cluster = clusterForChecks
        do {
            switch kind {
            case .segment, .partial:
                try WALFileContent.checkSegmentStart(first, name: name, cluster: cluster, path: path)
            case .timelineHistory, .backupHistory:
                var rest = [UInt8](repeating: 0, count: 1)
                guard first.count < 1 << 20, try input.read(into: &rest) == 0 else {
                    throw WALFileContent.Problem.invalid("larger than 1 MiB: not a \(kind == .timelineHistory ? "timeline" : "backup") history file")
                }
                if kind == .timelineHistory {
                    try WALFileContent.checkTimelineHistory(first, name: name)
                } else {
                    try WALFileContent.checkBackupHistory(first, name: name, segmentSize: cluster.segmentSize)
                }
            }
        } catch let problem as WALFileContent.Problem {
            throw Self.error(problem, path: path, expected: cluster.systemIdentifier)
        }
    }

    /// Byte-for-byte comparison of a file with an archived copy, in constant memory.
    private func sameContent(_ path: String, _ archived: ArchivedWAL) throws -> Bool {
        let source = try OpenFile(reading: path)
        defer { source.close() }
        let stored = try repository.wal.reader(archived)
        defer { stored.close() }
        var a = [UInt8](repeating: 0, count: 1 << 20)
        var b = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let na = try source.read(into: &a)
            let nb = try stored.read(into: &b)
            if na != nb || a[0..<na] != b[0..<nb] { return false }
            if na == 0 { return true }
        }
    }

    /// The archived history of `timeline` (verified against its checksum), nil if not archived.
    public func history(of timeline: TimelineID) throws -> TimelineHistory? {
        guard let archived = try repository.wal.find(TimelineHistory.fileName(timeline)) else { return nil }
        let reader = try repository.wal.reader(archived)
        defer { reader.close() }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = try reader.read(into: &buffer)
            if n == 0 { break }
            bytes += buffer[0..<n]
        }
        guard reader.checksum == archived.checksum else {
            throw EngineError.corruptFile(path: archived.path, reason: "checksum does not match the one in its name")
        }
        return try TimelineHistory(timeline: timeline, text: String(decoding: bytes, as: UTF8.self))
    }

    public enum GetResult: Sendable, Equatable { case restored, notArchived }

    /// Writes the archived `walName` to `destination`, checking its checksum on the way.
    public func get(_ walName: String, to destination: String) throws -> GetResult {
        guard WALFileKind(fileName: walName) != nil else {
            throw EngineError.invalidWALFile(path: walName, reason: "not a WAL file name")
        }
        guard let archived = try repository.wal.find(walName) else { return try getReceiving(walName, to: destination) }
        try download(archived, to: destination)
        return .restored
    }

    /// A segment the archive lacks but receive-wal is receiving: its partial (ReceivedPartials),
    /// given to recovery at full size with zeros past what was received, so that recovery
    /// replays up to the last WAL received (the last commit acknowledged, with receive-wal as
    /// the synchronous standby) and then ends.
    private func getReceiving(_ walName: String, to destination: String) throws -> GetResult {
        guard let partial = try repository.receiving.find(walName), try checkReceived(partial) else { return .notArchived }
        let reader = try StoredFileReader(storage: repository.storage, name: partial.name, compression: .none)
        defer { reader.close() }
        try install(reader, at: destination, paddedTo: partial.segment.segmentSize) { _ in }
        Console.info("restored \(walName) from the segment receive-wal was receiving (\(repository.storage.describe(partial.name))): recovery replays what it received")
        return .restored
    }

    /// A partial is not trusted before its first page says it is this cluster's WAL, of the
    /// segment its name says (as archive-push checks a segment): anyone who can write the
    /// repository could have put it there. false: nothing was received into it yet (all
    /// zeros), which is no WAL and no damage either.
    @discardableResult
    public func checkReceived(_ partial: ReceivedPartials.Partial) throws -> Bool {
        let path = repository.storage.describe(partial.name)
        let stream = try repository.storage.openRead(partial.name, range: 0..<min(partial.size, 8192))
        defer { stream.close() }
        var first = [UInt8](repeating: 0, count: Int(min(partial.size, 8192)))
        let n = try first.withUnsafeMutableBytes { try stream.read(into: $0) }
        if first[0..<n].allSatisfy({ $0 == 0 }) { return false }
        do {
            try WALFileContent.checkSegmentStart(Array(first[0..<n]), name: partial.segment.name, cluster: clusterForChecks, path: path)
        } catch let problem as WALFileContent.Problem {
            throw Self.error(problem, path: path, expected: repository.identity.systemIdentifier)
        }
        return true
    }

    private var clusterForChecks: WALFileContent.Cluster {
        WALFileContent.Cluster(systemIdentifier: repository.identity.systemIdentifier,
                               segmentSize: UInt64(repository.identity.walSegmentSize),
                               major: PostgresMajor(text: repository.identity.pgMajorVersion))
    }

    private static func error(_ problem: WALFileContent.Problem, path: String, expected: UInt64) -> EngineError {
        switch problem {
        case .otherCluster(let found): return .walFromOtherCluster(path: path, found: found, expected: expected)
        case .invalid(let reason): return .invalidWALFile(path: path, reason: reason)
        }
    }

    /// Writes `archived` to `destination` atomically, its checksum checked before the rename.
    public func download(_ archived: ArchivedWAL, to destination: String) throws {
        let reader = try repository.wal.reader(archived)
        defer { reader.close() }
        try install(reader, at: destination) { reader in
            guard reader.checksum == archived.checksum else {
                throw EngineError.corruptFile(path: archived.path, reason: "checksum \(CRC32C.hex(reader.checksum)) does not match \(CRC32C.hex(archived.checksum)) in its name")
            }
        }
    }

    /// What `reader` gives, written to `destination` under a temporary name and renamed there
    /// once `check` (given the read reader) accepts it: recovery never sees half a file.
    /// `paddedTo`: the file is extended with zeros to that size (a partial segment).
    private func install(_ reader: StoredFileReader, at destination: String, paddedTo: UInt64? = nil,
                         check: (StoredFileReader) throws -> Void) throws {
        let temp = AtomicFile.temporaryName(for: destination)
        try? FileSystem.remove(temp)
        let output = try OpenFile(creating: temp)
        do {
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            while true {
                let n = try reader.read(into: &buffer)
                if n == 0 { break }
                try buffer.withUnsafeBytes { try output.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            }
            try check(reader)
            if let paddedTo { try output.truncate(to: paddedTo) }
            try output.closeChecked()
            try FileSystem.rename(temp, destination)
        } catch {
            output.close()
            try? FileSystem.remove(temp)
            throw error
        }
    }
}
