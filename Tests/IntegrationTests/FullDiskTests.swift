import Testing
import Repository
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The repository on a small tmpfs: a backup and an archive-push that run out of space fail
/// with a clear error and leave nothing that looks complete.
@Suite(.ownThread) struct FullDiskTests {
    @Test(.enabled(if: Command.isRoot, "mounting a tmpfs needs root"))
    func aFullRepositoryFailsCleanlyAndRecovers() throws {
        let s = try Scratch()
        let repoPath = try s.makeDirectory("small")
        var options = "size=24m,mode=0700"
        if let user = postgresUser { options += ",uid=\(user.uid),gid=\(user.gid)" }
        let mount = try Command.run("/bin/mount", ["-t", "tmpfs", "-o", options, "tmpfs", repoPath])
        try #require(mount.succeeded, "\(mount)")
        defer { _ = try? Command.run("/bin/umount", [repoPath]) }

        // WAL goes nowhere here: this test is about the backup's own writes.
        let cluster = try TestCluster.create(s, name: "src", repository: nil)
        defer { cluster.stopIfRunning() }
        try cluster.appendConfig("archive_mode = on\narchive_command = '/bin/true'\n")
        #expect(try s.pgbk(["init", "-B", repoPath, "-D", cluster.dataDir]).succeeded)
        try cluster.start()
        try cluster.execute("CREATE TABLE big AS SELECT g, md5(g::text) || md5((g * 7)::text) AS v FROM generate_series(1, 400000) g")

        let backup = try s.pgbk(["backup", "-B", repoPath, "-D", cluster.dataDir] + cluster.connectionArgs)
        #expect(backup.status != 0)
        #expect(backup.stderr.contains("No space left on device") && backup.stderr.contains(repoPath), "\(backup)")
        #expect(backup.stderr.split(separator: "\n").filter { $0.hasPrefix("pgbk: error:") }.count == 1, "\(backup)")
        let repo = try Repository.open(repoPath)
        let failed = try #require(try repo.loadAll().backups.last)
        #expect(failed.status == .error)
        #expect(failed.statusReason?.contains("No space left") == true)
        #expect(!FileSystem.exists(repo.dataDirectory(failed.id)), "a failed backup's data is removed")

        // archive-push into a full repository: non-zero, and no file of that name appears.
        let segmentName = try #require(try cluster.scalar("SELECT pg_walfile_name(pg_current_wal_lsn())"))
        let segment = s.path + "/" + segmentName
        try copyFile(from: cluster.dataDir + "/pg_wal/" + segmentName, to: segment, mode: 0o600)
        try s.chownToPostgres(segment)
        let filler = repoPath + "/filler"
        try fillDisk(filler, leaving: 1 << 20)
        let push = try s.pgbk(["archive-push", "-B", repoPath, segment])
        #expect(push.status != 0 && push.stderr.contains("No space left on device"), "\(push)")
        #expect(try allFiles(repoPath + "/wal").isEmpty, "no partial or temp file is left behind")

        try FileSystem.remove(filler)
        let retry = try s.pgbk(["archive-push", "-B", repoPath, segment])
        #expect(retry.succeeded, "\(retry)")
        #expect(try repo.wal.find(segmentName) != nil)
    }
}

/// Writes zeros until the file system is full, then gives back `leaving` bytes.
func fillDisk(_ path: String, leaving: Int) throws {
    let file = try OpenFile(creating: path)
    defer { file.close() }
    let chunk = [UInt8](repeating: 0, count: 1 << 20)
    var written = 0
    while true {
        do { try file.write(chunk) } catch { break }
        written += chunk.count
    }
    guard ftruncate(file.descriptor, off_t(max(0, written - leaving))) == 0 else { throw SystemError("truncate", path) }
}

func allFiles(_ dir: String) throws -> [String] {
    var out: [String] = []
    for name in try FileSystem.list(dir) {
        let path = dir + "/" + name
        if FileSystem.isDirectory(path) { out += try allFiles(path) } else { out.append(path) }
    }
    return out
}
