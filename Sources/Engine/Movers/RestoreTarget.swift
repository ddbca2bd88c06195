import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Checks made on a restore destination before anything is written to it.
enum RestoreTarget {
    /// Refuses a directory with a live postmaster or any content; a missing one is fine.
    static func checkEmpty(_ path: String) throws {
        guard FileSystem.exists(path) else { return }
        guard FileSystem.isDirectory(path) else {
            throw EngineError.invalidArgument("restore target \(path) exists and is not a directory")
        }
        if let pid = livePostmaster(in: path) {
            throw EngineError.serverRunning(path: path, pid: pid, delta: false)
        }
        let entries = try FileSystem.list(path)
        if !entries.isEmpty {
            throw EngineError.targetNotEmpty(path: path, entries: entries.count, interrupted: entries.contains(RestoreMarker.name))
        }
    }

    /// That this process can create `path` (and its missing parents) or, where it exists,
    /// write into it and set its mode: checked before anything is written, so a restore never
    /// stops half-way on a directory it cannot make ("Permission denied" under root's /srv).
    static func checkUsable(_ path: String, what: String) throws {
        let euid = geteuid()
        let user = LocalHost.userName(euid)
        if FileSystem.exists(path) {
            let status = try FileSystem.status(path, followLinks: true)
            guard status.kind == .directory else { throw EngineError.invalidArgument("\(what) \(path) exists and is not a directory") }
            guard euid == 0 || status.uid == euid else {
                throw EngineError.invalidArgument("\(what) \(path) belongs to \(LocalHost.userName(status.uid)), and pgbk runs as \(user): as root, chown \(user) \(path)")
            }
            guard access(path, W_OK | X_OK) == 0 else {
                throw EngineError.invalidArgument("\(what) \(path) is not writable by \(user) (\(String(cString: strerror(errno)))): chmod u+rwx \(path)")
            }
            return
        }
        var ancestor = FileSystem.parentDirectory(of: path)
        while ancestor != "/" && !FileSystem.exists(ancestor) { ancestor = FileSystem.parentDirectory(of: ancestor) }
        guard FileSystem.isDirectory(ancestor), access(ancestor, W_OK | X_OK) == 0 else {
            throw EngineError.invalidArgument("\(what) \(path) does not exist and \(user) cannot create it (\(ancestor) is not writable by \(user)): as root, install -d -o \(user) -m 0700 \(path)")
        }
    }

    /// A tablespace location may hold other major versions' directories (pg_upgrade puts
    /// them side by side) but not the backup's own `PG_<major>_<catversion>` with anything in
    /// it: that is the lost cluster's tablespace, or another cluster's.
    static func checkTablespaceLocation(_ location: String, versionDirectory: String?, oid: String) throws {
        guard FileSystem.exists(location) else { return }
        guard FileSystem.isDirectory(location) else {
            throw EngineError.invalidArgument("tablespace \(oid)'s location \(location) exists and is not a directory")
        }
        guard let version = versionDirectory else { return }
        let inside = location + "/" + version
        guard FileSystem.exists(inside) else { return }
        if FileSystem.isDirectory(inside), try FileSystem.list(inside).isEmpty { return }
        throw EngineError.invalidArgument("tablespace \(oid)'s location \(location) already holds \(version) (the lost cluster's tablespace, or another cluster's): move the location aside and make it again, empty, for the restoring user (mv \(location) \(location).old; install -d -o USER -m 0700 \(location)), or restore the tablespace elsewhere with -T \(location)=NEWDIR")
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
