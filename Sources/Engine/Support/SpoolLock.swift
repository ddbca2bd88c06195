import PostgresFormat
import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The lock of a background pgbk's spool directory (the WAL prefetcher's, the pusher's): held
/// by the one process at work, released by the kernel if it dies.
struct SpoolLock: Sendable {
    let path: String

    /// The lock, or nil when another process has it.
    func take() -> FileLock? {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return nil }
        return try? FileLock.take(fd, path: path, waitSeconds: 0)
    }

    /// Whether a process holds it.
    func isHeld() -> Bool {
        guard let lock = take() else { return FileSystem.exists(path) }
        lock.release()
        return false
    }
}

/// Size and CRC-32C of a local file, read in 1 MiB blocks: what a spool's file is checked
/// against before it is handed out or certified.
func sizeAndChecksum(of path: String) throws -> (size: UInt64, checksum: UInt32) {
    let file = try OpenFile(reading: path)
    defer { file.close() }
    var crc = CRC32C()
    var size: UInt64 = 0
    var buffer = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let n = try file.read(into: &buffer)
        if n == 0 { return (size, crc.value) }
        buffer.withUnsafeBytes { crc.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        size += UInt64(n)
    }
}
