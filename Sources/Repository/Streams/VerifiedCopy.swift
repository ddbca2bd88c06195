import PostgresFormat
import StorageInterface

/// What a stored file's content must be: its size (nil: any, as for archived WAL whose name
/// carries the checksum) and CRC-32C; a page delta is also read record by record.
public struct StoredContent: Sendable {
    public var size: UInt64?
    public var checksum: UInt32
    /// A page delta's block size: its records are read and checked as they pass.
    public var pageDeltaBlockSize: Int?

    public init(size: UInt64?, checksum: UInt32, pageDeltaBlockSize: Int? = nil) {
        self.size = size
        self.checksum = checksum
        self.pageDeltaBlockSize = pageDeltaBlockSize
    }

    /// Part `part` of a backup's file (the whole file when it is not split), as the file
    /// list records it.
    public init(_ entry: FileEntry, part: Int, blockSize: Int) {
        checksum = (entry.isSplit ? entry.partChecksums[part] : entry.checksum) ?? 0
        if entry.kind == .pageDelta {
            size = nil
            pageDeltaBlockSize = blockSize
        } else {
            size = entry.isSplit ? min(entry.partSize, entry.size - UInt64(part) * entry.partSize) : entry.size
            pageDeltaBlockSize = nil
        }
    }

    /// Reads `reader` to its end; a reason when what it gave is not this content.
    func problem(reading reader: StoredFileReader, buffer: inout [UInt8]) throws -> String? {
        if let blockSize = pageDeltaBlockSize {
            _ = try PageDelta.readPages(reader, blockSize: blockSize) { _, _ in }
        } else {
            while try reader.read(into: &buffer) > 0 {}
        }
        if let size, reader.size != size { return "size \(reader.size), expected \(size)" }
        if reader.checksum != checksum { return "checksum \(CRC32C.hex(reader.checksum)), expected \(CRC32C.hex(checksum))" }
        return nil
    }
}

/// A stored object copied from one storage to another byte for byte, and read as validate
/// reads it while it passes: the copy is committed only when the bytes are the content the
/// catalog records, so the target never holds under that name what the source's catalog
/// does not describe. On object storage every part carries its Content-MD5, which the
/// server checks: what it stores is what was read here. One pass: no read-back.
public enum VerifiedCopy {
    /// The bytes copied, and a reason (nothing committed) when the source's content is not
    /// `content`. A missing or undecodable source is a reason too; an I/O error is thrown.
    /// `targetName`: where the copy goes (`name` when nil; merge stores another backup's).
    public static func copy(_ name: String, from source: any RepositoryStorage, to target: any RepositoryStorage, as targetName: String? = nil,
                            compression: Compression, content: StoredContent, buffer: inout [UInt8]) throws -> (bytes: UInt64, problem: String?) {
        let input: any StorageReadStream
        do { input = try source.openRead(name) } catch {
            guard let reason = StoredFileReader.contentProblem(error) else { throw error }
            return (0, reason)
        }
        let outputName = targetName ?? name
        let parent = PosixStorage.parent(of: outputName)
        if !parent.isEmpty { try target.makeDirectories(parent) }
        let output: any StorageWriteStream
        do { output = try target.openWrite(outputName, expectedSize: nil, noReplace: false) } catch {
            input.close()
            throw error
        }
        let tee = TeeReadStream(input, into: output)
        do {
            let reader = try StoredFileReader(stream: tee, path: source.describe(name), compression: compression)
            defer { reader.close() }
            if let problem = try content.problem(reading: reader, buffer: &buffer) {
                output.abandon()
                return (tee.bytes, problem)
            }
            // Whatever follows the content (nothing, in what pgbk writes) is copied too:
            // the copy is the object, byte for byte.
            while try buffer.withUnsafeMutableBytes({ try tee.read(into: $0) }) > 0 {}
            try output.commit()
        } catch {
            output.abandon()
            guard let reason = StoredFileReader.contentProblem(error) else { throw error }
            return (tee.bytes, reason)
        }
        try target.syncDirectory(parent)
        return (tee.bytes, nil)
    }
}

/// A read stream that writes every byte it hands out into `output`.
final class TeeReadStream: StorageReadStream {
    private let source: any StorageReadStream
    private let output: any StorageWriteStream
    private(set) var bytes: UInt64 = 0

    init(_ source: any StorageReadStream, into output: any StorageWriteStream) {
        self.source = source
        self.output = output
    }

    func readSome(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = try source.readSome(into: buffer)
        if n > 0 { try output.write(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) }
        bytes += UInt64(n)
        return n
    }

    func close() { source.close() }
}
