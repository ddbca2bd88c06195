import PostgresFormat
import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Copies one source file into the repository in large chunks through a reused buffer:
/// memory stays constant whatever the file size. Independent per file, so a later `-j N`
/// can run several copiers side by side, each with its own buffer.
struct FileCopier {
    let compression: Compression
    let level: Int32
    var buffer = [UInt8](repeating: 0, count: 1 << 20)

    init(compression: Compression, level: Int32) {
        self.compression = compression
        self.level = level
    }

    /// Copies up to `limit` bytes (the size seen when the file was listed: anything written
    /// later is in the WAL the backup requires). Returns nil when the file vanished first.
    mutating func copy(from source: String, to storedPath: String, limit: UInt64) throws -> StoredFileSummary? {
        let input: OpenFile
        do { input = try OpenFile(reading: source) } catch let e as SystemError where e.isNotFound { return nil }
        defer { input.close() }
        input.adviseSequential()
        let writer = try StoredFileWriter(path: storedPath, compression: compression, level: level)
        do {
            var remaining = limit
            while remaining > 0 {
                let n = try input.read(into: &buffer, count: Int(min(UInt64(buffer.count), remaining)))
                if n == 0 { break }  // the file shrank while we read it: WAL replay restores the rest
                try buffer.withUnsafeBytes { try writer.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                remaining -= UInt64(n)
            }
            input.adviseDontNeed()
            return try writer.commit()
        } catch {
            writer.abandon()
            throw error
        }
    }

    /// pg_control is rewritten in place by the running server; a read can catch it half
    /// written. Read it whole and store it only once its CRC checks out.
    mutating func copyControlFile(from source: String, to storedPath: String) throws -> StoredFileSummary? {
        var lastError: Error = FormatError(source, "unreadable")
        for attempt in 0..<10 {
            if attempt > 0 { usleep(100_000) }
            let bytes = try FileSystem.readAll(source, limit: 64 << 10)
            do {
                _ = try ControlFile(bytes: bytes, path: source)
            } catch {
                lastError = error
                continue
            }
            let writer = try StoredFileWriter(path: storedPath, compression: compression, level: level)
            do {
                try bytes.withUnsafeBytes { try writer.write($0) }
                return try writer.commit()
            } catch {
                writer.abandon()
                throw error
            }
        }
        throw lastError
    }
}
