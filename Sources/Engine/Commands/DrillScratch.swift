import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// A drill's scratch directory (`pgbk-drill.XXXXXX` in --scratch-dir): the restored copy and
/// its server, and an owner file naming the drill and the pgbk process running it, so that
/// the next drill can clean up after one that was killed (kill -9 runs no handler) and record
/// it as failed.
struct DrillScratch {
    static let prefix = "pgbk-drill."
    static let ownerFile = "pgbk-drill.owner"

    let path: String
    var data: String { path + "/data" }

    /// A new 0700 directory with the owner file in it.
    static func make(in parent: String, for record: DrillRecord) throws -> DrillScratch {
        var template = Array((parent + "/" + prefix + "XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw SystemError("create the drill's scratch directory in", parent) }
        let scratch = DrillScratch(path: String(cString: made))
        var owner = IniFile()
        owner["PID"] = String(getpid())
        owner["DRILL_ID"] = record.id
        owner["START_TIME"] = record.startTime.description
        owner["TARGET"] = record.target
        try AtomicFile.write(scratch.path + "/" + ownerFile, text: owner.text())
        return scratch
    }

    /// Stops its server if one runs and removes the directory. Renamed first, so that a
    /// thread still writing into it (a signal came mid-restore) can create nothing more there.
    func remove() throws {
        ScratchServer.stopByPIDFile(data: data)
        let doomed = path + ".removing"
        if rename(path, doomed) != 0 && errno != ENOENT { throw SystemError("rename", path) }
        try FileSystem.removeTree(doomed)
    }

    /// Scratch directories of drills whose pgbk is gone: their servers stopped, the
    /// directories removed, and each such drill recorded as FAILED.
    static func cleanLeftovers(in parent: String, repository: Repository, by drillID: String) {
        guard let names = try? FileSystem.list(parent) else { return }
        for name in names where name.hasPrefix(prefix) {
            let scratch = DrillScratch(path: parent + "/" + name)
            var st = stat()
            guard lstat(scratch.path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR, st.st_uid == geteuid() else { continue }
            let owner = (try? FileSystem.readText(scratch.path + "/" + ownerFile)).flatMap { try? IniFile(text: $0, path: scratch.path) }
            if let owner {
                if let pid = owner["PID"].flatMap({ pid_t($0) }), isPgbk(pid) { continue }
            } else if !name.hasSuffix(".removing") && Timestamp.now().seconds - Int64(st.st_mtim.tv_sec) < 600 {
                continue  // just made by a drill that has not written its owner file yet
            }
            do { try scratch.remove() } catch {
                Console.warning("could not remove \(scratch.path), left by an interrupted drill: \(error)")
                continue
            }
            Console.warning("removed \(scratch.path), left by drill \(owner?["DRILL_ID"] ?? "?") whose pgbk (PID \(owner?["PID"] ?? "?")) is gone")
            // A directory not yet renamed for removal: its drill never reached its last step
            // (removal, then the record), so it has no record. One being removed may have.
            if let owner, !name.hasSuffix(".removing") { recordInterrupted(owner, repository: repository, by: drillID) }
        }
    }

    private static func recordInterrupted(_ owner: IniFile, repository: Repository, by drillID: String) {
        // saveDrill moves to the next free ID if another drill of the same second took this one.
        guard let id = owner["DRILL_ID"], DrillRecord.isDrillID(id) else { return }
        let start = owner["START_TIME"].flatMap { Timestamp($0) } ?? .now()
        var record = DrillRecord(id: id, result: .failed, startTime: start, endTime: .now(), target: owner["TARGET"] ?? "?")
        record.reason = "interrupted: pgbk (PID \(owner["PID"] ?? "?")) ended without cleaning up; drill \(drillID) stopped its server and removed its copy"
        _ = try? repository.saveDrill(record)
    }

    /// Whether `pid` is a running pgbk (not a reused PID of something else).
    private static func isPgbk(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let cmdline = try? FileSystem.readAll("/proc/\(pid)/cmdline", limit: 1 << 16) else { return true }
        let argv0 = String(decoding: cmdline.prefix { $0 != 0 }, as: UTF8.self)
        return FileSystem.baseName(of: argv0).hasPrefix("pgbk")
    }
}
