import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Checks made on a restore destination before anything is written to it.
enum RestoreTarget {
    /// Refuses a directory with a live postmaster or any content; a missing one is fine.
    static func checkEmpty(_ path: String, isDataDirectory: Bool) throws {
        guard FileSystem.exists(path) else { return }
        guard FileSystem.isDirectory(path) else {
            throw EngineError.invalidArgument("restore target \(path) exists and is not a directory")
        }
        if isDataDirectory, let pid = livePostmaster(in: path) {
            throw EngineError.serverRunning(path: path, pid: pid, delta: false)
        }
        let entries = try FileSystem.list(path)
        if !entries.isEmpty {
            throw EngineError.targetNotEmpty(path: path, entries: entries.count, interrupted: isDataDirectory && entries.contains(RestoreMarker.name))
        }
    }

    /// The PID in postmaster.pid when that process exists.
    static func livePostmaster(in path: String) -> Int32? {
        guard let text = try? FileSystem.readText(path + "/postmaster.pid"),
              let first = text.split(separator: "\n").first, let pid = Int32(first), pid > 0 else { return nil }
        if kill(pid, 0) == 0 || errno == EPERM { return pid }
        return nil
    }

    /// Who should own the restored files: the target's owner, or its parent's when the target
    /// does not exist yet. Only applied when running as root (others cannot give files away).
    static func owner(for path: String) throws -> (uid: UInt32, gid: UInt32)? {
        guard geteuid() == 0 else { return nil }
        let reference = FileSystem.exists(path) ? path : FileSystem.parentDirectory(of: path)
        let status = try FileSystem.status(reference, followLinks: true)
        return (status.uid, status.gid)
    }
}

/// An exclusive flock on the restore target directory, held while a restore writes into it:
/// a second restore into the same directory (a cron job and a DBA, two delta rebuilds) fails
/// at once instead of mixing its files with the first one's. Released by the kernel if the
/// holder dies.
final class RestoreTargetLock {
    private let lock: FileLock

    init(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open directory", path) }
        guard let lock = try FileLock.take(fd, path: path, waitSeconds: 0) else {
            throw EngineError.invalidArgument("another pgbk restore is writing into \(path); wait for it to finish")
        }
        self.lock = lock
    }
}
