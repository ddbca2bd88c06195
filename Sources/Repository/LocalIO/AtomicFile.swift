#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Crash-safe replacement of a file: temp file in the same directory, fsync, rename, fsync
/// the directory. After a crash the path holds either the old content or the new, whole.
public enum AtomicFile {
    public static func write(_ path: String, _ bytes: [UInt8], mode: UInt32 = 0o600) throws {
        let temp = temporaryName(for: path)
        do {
            let file = try OpenFile(creating: temp, mode: mode)
            try file.write(bytes)
            try file.sync()
            try file.closeChecked()
            try FileSystem.rename(temp, path)
        } catch {
            try? FileSystem.remove(temp)
            throw error
        }
        try FileSystem.syncDirectory(FileSystem.parentDirectory(of: path))
    }

    public static func write(_ path: String, text: String, mode: UInt32 = 0o600) throws {
        try write(path, Array(text.utf8), mode: mode)
    }

    /// A name no other writer uses: pgbk never shares a temp file between processes.
    public static func temporaryName(for path: String) -> String {
        let dir = FileSystem.parentDirectory(of: path)
        return dir + "/." + FileSystem.baseName(of: path) + ".tmp." + String(getpid())
    }

    /// Whether a directory entry is one of pgbk's temp files (left behind by a crash).
    public static func isTemporaryName(_ name: String) -> Bool {
        name.hasPrefix(".") && name.contains(".tmp.")
    }
}
