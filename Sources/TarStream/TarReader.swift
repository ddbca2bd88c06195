import CArchiveLoader

/// A tar stream read member by member as it arrives, through libarchive: BASE_BACKUP sends
/// one per tablespace. Bytes come from `source` (a read that fills the buffer, 0 at the end);
/// memory is one buffer, whatever the archive's size.
public final class TarReader {
    public struct Entry: Sendable, Equatable {
        public enum Kind: Sendable, Equatable { case file, directory, symlink }
        /// The member's name, without a leading "./" and, for a directory, its trailing "/".
        public let path: String
        public let kind: Kind
        public let size: UInt64
        public let mode: UInt32
        public let mtime: Int64
        public let linkTarget: String?
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    private let archive: OpaquePointer
    private let source: (UnsafeMutableRawBufferPointer) throws -> Int
    private var buffer: UnsafeMutableRawBufferPointer
    /// An error `source` threw inside libarchive's callback, rethrown to the caller.
    private var sourceError: (any Error)?
    private let name: String

    /// `name`: what the stream is, for messages ("base.tar").
    public init(name: String, bufferSize: Int = 1 << 20, source: @escaping (UnsafeMutableRawBufferPointer) throws -> Int) throws {
        if let error = pgbk_archive_load() { throw Failure(description: String(cString: error)) }
        guard let archive = pgbk_archive_read_new() else { throw Failure(description: "\(name): libarchive could not start a reader") }
        self.archive = archive
        self.source = source
        self.name = name
        buffer = .allocate(byteCount: bufferSize, alignment: 16)
        _ = pgbk_archive_read_support_format_tar(archive)
        let status = pgbk_archive_read_open(archive, Unmanaged.passUnretained(self).toOpaque(), nil, { _, client, block in
            let reader = Unmanaged<TarReader>.fromOpaque(client!).takeUnretainedValue()
            do {
                let n = try reader.source(reader.buffer)
                block?.pointee = UnsafeRawPointer(reader.buffer.baseAddress)
                return n
            } catch {
                reader.sourceError = error
                return -1
            }
        }, nil)
        // Fully initialised by now: a throw here still runs deinit, which frees both.
        guard status == ARCHIVE_OK else { throw failure("cannot read the archive") }
    }

    deinit {
        pgbk_archive_read_free(archive)
        buffer.deallocate()
    }

    /// The next member, nil at the end of the archive.
    public func next() throws -> Entry? {
        var entry: OpaquePointer?
        switch pgbk_archive_read_next_header(archive, &entry) {
        case ARCHIVE_EOF:
            return nil
        case ARCHIVE_OK, ARCHIVE_WARN:
            break
        default:
            throw failure("cannot read the next member")
        }
        guard let entry, let rawPath = pgbk_archive_entry_pathname(entry) else { throw failure("a member without a name") }
        var path = String(cString: rawPath)
        if path.hasPrefix("./") { path.removeFirst(2) }
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        let kind: Entry.Kind
        switch pgbk_archive_entry_filetype(entry) {
        case PGBK_AE_IFREG: kind = .file
        case PGBK_AE_IFDIR: kind = .directory
        case PGBK_AE_IFLNK: kind = .symlink
        case let other: throw Failure(description: "\(name): \(path) is of file type 0o\(String(other, radix: 8)), not a file, directory or symbolic link")
        }
        return Entry(path: path, kind: kind, size: UInt64(max(0, pgbk_archive_entry_size(entry))), mode: pgbk_archive_entry_perm(entry),
                     mtime: Int64(pgbk_archive_entry_mtime(entry)), linkTarget: pgbk_archive_entry_symlink(entry).map { String(cString: $0) })
    }

    /// The current member's content into `into`, filled unless the member ends; 0 at its end.
    public func read(into: UnsafeMutableRawBufferPointer) throws -> Int {
        var total = 0
        while total < into.count {
            let n = pgbk_archive_read_data(archive, into.baseAddress! + total, into.count - total)
            if n < 0 { throw failure("cannot read a member's data") }
            if n == 0 { break }
            total += n
        }
        return total
    }

    private func failure(_ what: String) -> any Error {
        if let sourceError { return sourceError }
        let reason = pgbk_archive_error_string(archive).map { String(cString: $0) } ?? "no reason given"
        return Failure(description: "\(name): \(what): \(reason)")
    }
}
