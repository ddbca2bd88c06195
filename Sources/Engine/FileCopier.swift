import PostgresFormat
import Repository

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
}
