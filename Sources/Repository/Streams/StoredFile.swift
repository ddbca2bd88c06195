import StorageInterface
import PostgresFormat

/// Bytes handed to the storage (a class: the write pipeline's sink counts into it).
final class StoredCount {
    var bytes: UInt64 = 0
}

/// What was stored: the original size and checksum, and the bytes on disk.
public struct StoredFileSummary: Sendable, Equatable {
    public let size: UInt64
    public let storedSize: UInt64
    public let checksum: UInt32

    public init(size: UInt64, storedSize: UInt64, checksum: UInt32) {
        self.size = size
        self.storedSize = storedSize
        self.checksum = checksum
    }
}

/// Writes one file into the repository through its filters (FileFilters: checksum of the
/// original bytes, small writes gathered, optional compression), then the storage's atomic
/// write (on POSIX: temp name, fsync, rename). Memory: the filters' fixed buffers.
public final class StoredFileWriter {
    /// What a user sees in messages: the full path of a POSIX file.
    public let path: String
    private let stream: any StorageWriteStream
    private let checksum = Checksummed()
    private let stored = StoredCount()
    private let pipeline: WritePipeline

    /// `name` is the final repository-relative name including the compression suffix;
    /// `expectedSize` (the original's size, when known) lets small files skip the streamed
    /// writeback (see DirectFile). With `noReplace`, `commit` fails rather than replace an existing file.
    public init(storage: any RepositoryStorage, name: String, compression: Compression, level: Int32,
                expectedSize: UInt64? = nil, noReplace: Bool = false) throws {
        path = storage.describe(name)
        let stream = try storage.openWrite(name, expectedSize: expectedSize, noReplace: noReplace)
        self.stream = stream
        do {
            let stages = try FileFilters.writeChain(compression: compression, level: level, path: path, checksum: checksum)
            pipeline = WritePipeline(stages) { [stored] in
                try stream.write($0)
                stored.bytes += UInt64($0.count)
            }
        } catch {
            stream.abandon()
            throw error
        }
    }

    /// The same for a file given by its path (the POSIX driver on its directory).
    public convenience init(path: String, compression: Compression, level: Int32, expectedSize: UInt64? = nil) throws {
        try self.init(storage: PosixStorage(root: FileSystem.parentDirectory(of: path)), name: FileSystem.baseName(of: path),
                      compression: compression, level: level, expectedSize: expectedSize)
    }

    public func write(_ chunk: UnsafeRawBufferPointer) throws {
        try pipeline.write(chunk)
    }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Makes the file durable under its final name. The caller fsyncs the directory (once
    /// per directory, not once per file).
    public func commit() throws -> StoredFileSummary {
        let summary = try finish()
        try publish()
        return summary
    }

    /// Ends every filter: everything is written, nothing is published yet.
    public func finish() throws -> StoredFileSummary {
        do {
            try pipeline.finish()
        } catch {
            abandon()
            throw error
        }
        return StoredFileSummary(size: checksum.tally.size, storedSize: stored.bytes, checksum: checksum.tally.crc.value)
    }

    /// Publishes what `finish` ended, durably and all at once (StorageError.exists for a
    /// no-replace write whose name was taken meanwhile); `as` names it now, where the
    /// storage can rename.
    public func publish(as name: String? = nil) throws {
        do {
            if let name { try stream.commit(as: name) } else { try stream.commit() }
        } catch {
            abandon()
            throw error
        }
    }

    public func abandon() {
        stream.abandon()
    }
}

/// Reads a stored file back as its original bytes through its filters (FileFilters),
/// computing size and checksum on the way; every read fills the caller's buffer but the last.
public final class StoredFileReader {
    public let path: String
    private let file: any StorageReadStream
    private let chain: ChecksummedRead

    public convenience init(storage: any RepositoryStorage, name: String, compression: Compression) throws {
        try self.init(stream: try storage.openRead(name), path: storage.describe(name), compression: compression)
    }

    /// Over a stream already open (closed here if this fails); `path` names it in errors.
    public init(stream: any StorageReadStream, path: String, compression: Compression) throws {
        self.path = path
        file = stream
        do {
            chain = ChecksummedRead(try FileFilters.readChain(stream, compression: compression, path: path))
        } catch {
            file.close()
            throw error
        }
    }

    /// The same for a file given by its path (the POSIX driver on its directory).
    public convenience init(path: String, compression: Compression) throws {
        try self.init(storage: PosixStorage(root: FileSystem.parentDirectory(of: path)), name: FileSystem.baseName(of: path),
                      compression: compression)
    }

    public var checksum: UInt32 { chain.tally.crc.value }
    public var size: UInt64 { chain.tally.size }

    /// Fills `buffer` with original bytes as far as it can; returns the count, 0 at the end.
    public func read(into buffer: inout [UInt8]) throws -> Int {
        try buffer.withUnsafeMutableBytes { try read(into: $0) }
    }

    /// The same into memory the caller owns (an aligned chunk of a file being rebuilt).
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try chain.read(into: buffer)
    }

    public func close() { file.close() }

    /// Reads to the end and compares with what the manifest promised; returns a reason when
    /// they differ (or the file is missing, or its content is not what it claims to be), nil
    /// when the file is intact. An I/O error (a timeout, EIO, a refused request) is thrown:
    /// it says nothing about the file, so the caller must not call the backup corrupt.
    public static func verify(path: String, compression: Compression, size: UInt64?, checksum: UInt32,
                              buffer: inout [UInt8]) throws -> String? {
        try verify(storage: PosixStorage(root: FileSystem.parentDirectory(of: path)), name: FileSystem.baseName(of: path),
                   compression: compression, size: size, checksum: checksum, buffer: &buffer)
    }

    public static func verify(storage: any RepositoryStorage, name: String, compression: Compression, size: UInt64?,
                              checksum: UInt32, buffer: inout [UInt8]) throws -> String? {
        try verify(storage: storage, name: name, compression: compression, content: StoredContent(size: size, checksum: checksum), buffer: &buffer)
    }

    /// The same against a stored file's recorded content (a page delta read record by record).
    public static func verify(storage: any RepositoryStorage, name: String, compression: Compression, content: StoredContent,
                              buffer: inout [UInt8]) throws -> String? {
        do {
            let reader = try StoredFileReader(storage: storage, name: name, compression: compression)
            defer { reader.close() }
            return try content.problem(reading: reader, buffer: &buffer)
        } catch {
            guard let reason = contentProblem(error) else { throw error }
            return reason
        }
    }

    /// What an error says about a stored file's content (missing, not valid compressed data,
    /// not a valid page delta); nil for an error of reading it, which says nothing about it.
    public static func contentProblem(_ error: any Error) -> String? {
        switch error {
        case StorageError.notFound: return "missing"
        case let error as CompressionError: return "\(error)"
        case let error as EncryptionError: return "\(error)"
        case let error as CatalogError: return "\(error)"
        default: return nil
        }
    }
}
