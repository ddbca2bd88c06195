import SystemPackage
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// An open file descriptor with path-carrying errors. Owned by one task; close it explicitly
/// (deinit closes as a safety net, without fsync).
public final class OpenFile {
    public let path: String
    private var fd: Int32

    public init(reading path: String) throws {
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open file", path) }
        self.path = path
    }

    /// Creates a new file; fails if it exists (O_EXCL), so nothing is overwritten by accident.
    public init(creating path: String, mode: UInt32 = 0o600) throws {
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(mode))
        guard fd >= 0 else { throw SystemError("create file", path) }
        self.path = path
    }

    /// Opens a file for reading and writing in place, creating it (with `mode`) if missing:
    /// a delta restore compares a file's content with the backup's and rewrites what differs.
    public init(updating path: String, mode: UInt32 = 0o600) throws {
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode_t(mode))
        guard fd >= 0 else { throw SystemError("open file for update", path) }
        self.path = path
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    public var descriptor: Int32 { fd }

    /// Reads until the buffer is full or the file ends; returns the byte count (0 at the end).
    public func read(into buffer: inout [UInt8], count: Int? = nil) throws -> Int {
        let wanted = min(count ?? buffer.count, buffer.count)
        return try buffer.withUnsafeMutableBytes { try read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<wanted])) }
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var total = 0
        while total < buffer.count {
            let n: Int
            do { n = try descriptorValue.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[total...])) } catch let e as Errno {
                throw SystemError("read file", path, code: e.rawValue)
            }
            if n == 0 { break }
            total += n
        }
        return total
    }

    /// swift-system's view of the descriptor: it retries EINTR and completes partial writes.
    private var descriptorValue: FileDescriptor { FileDescriptor(rawValue: fd) }

    /// Moves the file position, for reading a part of a file.
    public func seek(to offset: UInt64) throws {
        guard lseek(fd, off_t(offset), SEEK_SET) >= 0 else { throw SystemError("seek in file", path) }
    }

    /// Reads `count` bytes at `offset` without moving the file position (nil past the end).
    public func read(count: Int, at offset: UInt64) throws -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, count, off_t(offset)) }
        guard n >= 0 else { throw SystemError("read file", path) }
        return n == count ? bytes : nil
    }

    /// Reads into `buffer` from `offset` until it is full or the file ends; returns the count.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
        var total = 0
        while total < buffer.count {
            let n: Int
            do {
                n = try descriptorValue.read(fromAbsoluteOffset: Int64(offset) + Int64(total),
                                             into: UnsafeMutableRawBufferPointer(rebasing: buffer[total...]))
            } catch let e as Errno {
                throw SystemError("read file", path, code: e.rawValue)
            }
            if n == 0 { break }
            total += n
        }
        return total
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        do { _ = try descriptorValue.writeAll(bytes) } catch let e as Errno { throw SystemError("write file", path, code: e.rawValue) }
    }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Writes all of `bytes` at `offset`, leaving the file position alone.
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        do { _ = try descriptorValue.writeAll(toAbsoluteOffset: Int64(offset), bytes) } catch let e as Errno {
            throw SystemError("write file", path, code: e.rawValue)
        }
    }

    /// The file's size now (fstat).
    public func size() throws -> UInt64 {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SystemError("inspect file", path) }
        return UInt64(st.st_size)
    }

    public func truncate(to size: UInt64) throws {
        guard ftruncate(fd, off_t(size)) == 0 else { throw SystemError("truncate file", path) }
    }

    public func sync() throws {
        guard fsync(fd) == 0 else { throw SystemError("fsync file", path) }
    }

    /// fdatasync: the data, and the metadata needed to read it (not the times). For a file
    /// written in place within its size.
    public func syncData() throws {
        guard fdatasync(fd) == 0 else { throw SystemError("fdatasync file", path) }
    }

    /// Tells the kernel the file is read once from start to end.
    public func adviseSequential() {
        _ = posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_SEQUENTIAL))
    }

    public func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    public func closeChecked() throws {
        let rc = Glibc.close(fd)
        fd = -1
        guard rc == 0 else { throw SystemError("close file", path) }
    }
}
