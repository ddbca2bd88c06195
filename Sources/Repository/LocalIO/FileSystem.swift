import CShims
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// What `lstat` says about a path, reduced to what backups record.
public struct FileStatus: Sendable, Equatable {
    public enum Kind: Sendable { case regular, directory, symlink, other }
    public let kind: Kind
    public let mode: UInt32        // permission bits only
    public let size: UInt64
    public let mtime: Int64
    public let uid: UInt32
    public let gid: UInt32
}

/// Thin, path-carrying wrappers over the POSIX calls pgbk needs. Every error names its path.
public enum FileSystem {
    public static func status(_ path: String, followLinks: Bool = false) throws -> FileStatus {
        var st = stat()
        let rc = followLinks ? stat(path, &st) : lstat(path, &st)
        guard rc == 0 else { throw SystemError("stat", path) }
        let kind: FileStatus.Kind
        switch st.st_mode & S_IFMT {
        case S_IFREG: kind = .regular
        case S_IFDIR: kind = .directory
        case S_IFLNK: kind = .symlink
        default: kind = .other
        }
        return FileStatus(kind: kind, mode: UInt32(st.st_mode & 0o7777), size: UInt64(st.st_size),
                          mtime: Int64(st.st_mtim.tv_sec), uid: st.st_uid, gid: st.st_gid)
    }

    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        (try? status(path, followLinks: true).kind) == .directory
    }

    /// Entry names of a directory, sorted, without "." and "..". Names must be UTF-8: pgbk
    /// records paths as text and refuses to guess at other encodings.
    public static func list(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw SystemError("open directory", path) }
        defer { closedir(dir) }
        var names: [String] = []
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { throw SystemError("read directory", path) }
                break
            }
            let name: String? = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(validatingCString: $0) }
            }
            guard let name else {
                throw SystemError("read a file name that is not valid UTF-8 in directory", path, code: EILSEQ)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        // By UTF-8 bytes: the order backups list files in (FileList.walkPrecedes). In place:
        // a database's directory can name a million files.
        names.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        return names
    }

    public static func makeDirectory(_ path: String, mode: UInt32 = 0o700) throws {
        guard mkdir(path, mode_t(mode)) == 0 else { throw SystemError("create directory", path) }
    }

    /// mkdir -p; existing directories are fine.
    public static func makeDirectories(_ path: String, mode: UInt32 = 0o700) throws {
        if isDirectory(path) { return }
        let parent = parentDirectory(of: path)
        if parent != path && !parent.isEmpty { try makeDirectories(parent, mode: mode) }
        if mkdir(path, mode_t(mode)) != 0 && errno != EEXIST { throw SystemError("create directory", path) }
    }

    /// A directory only this user can use: made 0700 (with its parents) if absent, else it
    /// must be a real directory (not a link) of this user's that nobody else can write. For
    /// a fixed name in a shared place such as /tmp, which anyone could have made first.
    public static func makePrivateDirectory(_ path: String) throws {
        try makeDirectories(parentDirectory(of: path), mode: 0o755)
        if mkdir(path, 0o700) != 0 && errno != EEXIST { throw SystemError("create directory", path) }
        var st = stat()
        guard lstat(path, &st) == 0 else { throw SystemError("inspect directory", path) }
        guard st.st_mode & S_IFMT == S_IFDIR, st.st_uid == geteuid(), st.st_mode & 0o022 == 0 else {
            throw SystemError("use directory (not a directory of this user's that only it can write)", path, code: EPERM)
        }
    }

    public static func readLink(_ path: String) throws -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n >= 0 else { throw SystemError("read symbolic link", path) }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public static func makeSymlink(_ path: String, target: String) throws {
        guard symlink(target, path) == 0 else { throw SystemError("create symbolic link", path) }
    }

    public static func rename(_ from: String, _ to: String) throws {
        guard Glibc.rename(from, to) == 0 else { throw SystemError("rename to \"\(to)\"", from) }
    }

    /// Publishes `from` under `to` only if nothing has that name (a hard link cannot replace).
    /// Filesystems without hard links fall back to rename: callers hold a lock there.
    public static func linkNoReplace(_ from: String, _ to: String) throws {
        if Glibc.link(from, to) == 0 { return }
        let code = errno
        guard code == EPERM || code == EOPNOTSUPP || code == EMLINK else { throw SystemError("publish as \"\(to)\"", from, code: code) }
        guard !exists(to) else { throw SystemError("publish as \"\(to)\"", from, code: EEXIST) }
        try rename(from, to)
    }

    public static func remove(_ path: String) throws {
        guard unlink(path) == 0 || errno == ENOENT else { throw SystemError("remove", path) }
    }

    /// rm -r for a directory pgbk owns (a backup's data); does not follow symbolic links.
    public static func removeTree(_ path: String) throws {
        guard let st = try? status(path) else { return }
        if st.kind == .directory {
            for name in try list(path) { try removeTree(path + "/" + name) }
            guard rmdir(path) == 0 || errno == ENOENT else { throw SystemError("remove directory", path) }
        } else {
            try remove(path)
        }
    }

    public static func setMode(_ path: String, _ mode: UInt32) throws {
        guard chmod(path, mode_t(mode)) == 0 else { throw SystemError("change permissions of", path) }
    }

    public static func setOwner(_ path: String, uid: UInt32, gid: UInt32) throws {
        guard lchown(path, uid, gid) == 0 else { throw SystemError("change owner of", path) }
    }

    public static func setModificationTime(_ path: String, _ seconds: Int64) throws {
        var times = [timespec(tv_sec: Int(seconds), tv_nsec: 0), timespec(tv_sec: Int(seconds), tv_nsec: 0)]
        guard utimensat(AT_FDCWD, path, &times, AT_SYMLINK_NOFOLLOW) == 0 else {
            throw SystemError("set modification time of", path)
        }
    }

    /// fsync a directory so that renames and creations inside it survive a crash.
    public static func syncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { throw SystemError("open directory", path) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw SystemError("fsync directory", path) }
    }

    /// Whether syncfs(2) reports a write-back error to its caller: Linux does from 5.8 on;
    /// before, it returns 0 whatever was lost, so pgbk fsyncs each file instead of relying on
    /// it (docs/guarantees.md).
    public static let syncfsReportsErrors: Bool = {
        var names = utsname()
        guard uname(&names) == 0 else { return false }
        let release = withUnsafeBytes(of: &names.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return kernelReportsSyncfsErrors(release: release)
    }()

    /// "6.1.0-18-amd64" and "5.8.0" yes; "5.4.0-150-generic" and anything unreadable, no.
    public static func kernelReportsSyncfsErrors(release: String) -> Bool {
        let numbers = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        guard numbers.count == 2 else { return false }
        return (numbers[0], numbers[1]) >= (5, 8)
    }

    /// Flushes everything written to the filesystem holding `path` (syncfs): one journal
    /// commit and device flush for a whole restore instead of one per file. Only where
    /// `syncfsReportsErrors`; elsewhere callers sync file by file.
    public static func syncFilesystem(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { throw SystemError("open directory", path) }
        defer { close(fd) }
        guard pgbk_syncfs(fd) == 0 else { throw SystemError("sync filesystem of", path) }
    }

    public static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    public static func baseName(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// An absolute, lexically normalised path (no "." or ".." components, no trailing slash).
    public static func absolute(_ path: String) -> String {
        var full = path
        if !path.hasPrefix("/") {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            if getcwd(&buffer, buffer.count) != nil {
                full = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) + "/" + path
            }
        }
        var parts: [Substring] = []
        for component in full.split(separator: "/") {
            if component == "." { continue }
            if component == ".." { _ = parts.popLast(); continue }
            parts.append(component)
        }
        return "/" + parts.joined(separator: "/")
    }

    /// The canonical path (symbolic links resolved), or nil when it does not exist.
    public static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(decoding: UnsafeRawBufferPointer(start: resolved, count: strlen(resolved)), as: UTF8.self)
    }

    public static func readAll(_ path: String, limit: Int = 16 << 20) throws -> [UInt8] {
        let file = try OpenFile(reading: path)
        defer { file.close() }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = try file.read(into: &chunk)
            if n == 0 { break }
            result.append(contentsOf: chunk[0..<n])
            if result.count > limit { throw SystemError("read (file is unexpectedly large)", path, code: EFBIG) }
        }
        return result
    }

    public static func readText(_ path: String, limit: Int = 16 << 20) throws -> String {
        String(decoding: try readAll(path, limit: limit), as: UTF8.self)
    }
}
