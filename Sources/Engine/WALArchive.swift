import PostgresFormat
import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `archive_command` and `restore_command`. Both are called once per WAL segment, so they do
/// no more than one pass over the file and take no repository lock.
public struct WALArchive {
    let repository: Repository

    public init(repository: Repository) { self.repository = repository }

    public enum PushResult: Sendable, Equatable { case stored(String), alreadyArchived }

    /// Stores the file PostgreSQL names (`%p`, relative to its data directory) durably, or
    /// confirms an identical copy is already there.
    public func push(_ sourcePath: String, compression: Compression, level: Int32) throws -> PushResult {
        let walName = FileSystem.baseName(of: sourcePath)
        guard let kind = WALFileKind(fileName: walName) else {
            throw EngineError.invalidWALFile(path: sourcePath, reason: "not a WAL segment, .partial, .backup or .history file name")
        }
        let store = repository.wal
        let input = try OpenFile(reading: sourcePath)
        defer { input.close() }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var n = try input.read(into: &buffer)
        if kind.hasWALHeader {
            try checkHeader(Array(buffer[0..<min(n, WALLongPageHeader.size)]), path: sourcePath)
        }

        if let existing = try store.find(walName) {
            // PostgreSQL retries archive_command after a crash: the same file again is success.
            input.close()
            if try sameContent(sourcePath, existing) { return .alreadyArchived }
            throw EngineError.walConflict(walName: walName, archived: existing.path)
        }

        let dir = store.directory(for: walName)
        if !FileSystem.isDirectory(dir) {
            try FileSystem.makeDirectories(dir)
            try FileSystem.syncDirectory(FileSystem.parentDirectory(of: dir))
        }
        // Written under a temp name, renamed to <name>-<crc> once the checksum is known.
        let temp = dir + "/" + walName + ".incoming" + compression.fileSuffix
        let writer = try StoredFileWriter(path: temp, compression: compression, level: level)
        let summary: StoredFileSummary
        do {
            while n > 0 {
                try buffer.withUnsafeBytes { try writer.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                n = try input.read(into: &buffer)
            }
            summary = try writer.commit()
        } catch {
            writer.abandon()
            throw error
        }
        let final = dir + "/" + store.storedName(walName: walName, checksum: summary.checksum, compression: compression)
        do {
            try FileSystem.rename(temp, final)
            try FileSystem.syncDirectory(dir)
        } catch {
            try? FileSystem.remove(temp)
            throw error
        }
        return .stored(final)
    }

    private func checkHeader(_ bytes: [UInt8], path: String) throws {
        let header: WALLongPageHeader
        do { header = try WALLongPageHeader(bytes: bytes, path: path) } catch let e as FormatError {
            throw EngineError.invalidWALFile(path: path, reason: e.reason)
        }
        let expected = repository.identity.systemIdentifier
        guard header.systemIdentifier == expected else {
            throw EngineError.walFromOtherCluster(path: path, found: header.systemIdentifier, expected: expected)
        }
        guard header.segmentSize == repository.identity.walSegmentSize else {
            throw EngineError.invalidWALFile(path: path, reason: "segment size \(header.segmentSize) differs from the repository's \(repository.identity.walSegmentSize)")
        }
    }

    /// Byte-for-byte comparison of a file with an archived copy, in constant memory.
    private func sameContent(_ path: String, _ archived: ArchivedWAL) throws -> Bool {
        let source = try OpenFile(reading: path)
        defer { source.close() }
        let stored = try StoredFileReader(path: archived.path, compression: archived.compression)
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
        let reader = try StoredFileReader(path: archived.path, compression: archived.compression)
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
        guard let archived = try repository.wal.find(walName) else { return .notArchived }
        let reader = try StoredFileReader(path: archived.path, compression: archived.compression)
        defer { reader.close() }
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
            guard reader.checksum == archived.checksum else {
                throw EngineError.corruptFile(path: archived.path, reason: "checksum \(CRC32C.hex(reader.checksum)) does not match \(CRC32C.hex(archived.checksum)) in its name")
            }
            try output.closeChecked()
            try FileSystem.rename(temp, destination)
        } catch {
            output.close()
            try? FileSystem.remove(temp)
            throw error
        }
        return .restored
    }
}
