import PostgresFormat
import Repository

/// WAL a crashed server wrote that the archive never got, still in a data directory's
/// pg_wal: committed work that only recovery reading it can bring back. A delta restore keeps
/// it in place (DeltaTarget); a plain restore into an empty directory cannot see it, so it
/// looks beside its target for the directory the runbook's `mv main main.broken` left and
/// names what is there and how recovery gets it.
enum UnarchivedWAL {
    /// Segments in `dataDirectory/pg_wal` the archive lacks, sorted. A recycled segment
    /// (renamed ahead for reuse, holding old WAL) is left out: its first page was not written
    /// at the position its name says.
    static func segments(in dataDirectory: String, archive: WALArchiveStore, systemIdentifier: UInt64) -> [String] {
        let wal = dataDirectory + "/pg_wal"
        guard let names = try? FileSystem.list(wal) else { return [] }
        return names.filter { name in
            guard let segment = WALSegmentName(name, segmentSize: archive.segmentSize),
                  let file = try? OpenFile(reading: wal + "/" + name) else { return false }
            defer { file.close() }
            guard let bytes = try? file.read(count: WALLongPageHeader.size, at: 0),
                  let header = try? WALLongPageHeader(bytes: bytes, path: wal + "/" + name),
                  header.systemIdentifier == systemIdentifier, header.pageAddress == segment.startLSN else { return false }
            return (try? archive.find(name)) == .some(nil)
        }.sorted()
    }

    /// Data directories of the cluster `systemIdentifier` beside `target` (its siblings), by
    /// their pg_control.
    static func siblingDataDirectories(of target: String, systemIdentifier: UInt64) -> [String] {
        let parent = FileSystem.parentDirectory(of: target)
        guard let names = try? FileSystem.list(parent) else { return [] }
        return names.sorted().map { parent == "/" ? "/" + $0 : parent + "/" + $0 }.filter { path in
            guard path != target, FileSystem.isDirectory(path), FileSystem.exists(path + "/PG_VERSION"),
                  let bytes = try? FileSystem.readAll(path + "/global/pg_control", limit: 64 << 10),
                  let control = try? ControlFile(bytes: bytes, path: path) else { return false }
            return control.systemIdentifier == systemIdentifier
        }
    }

    /// One line per sibling data directory whose pg_wal holds WAL the archive lacks: where it
    /// is and the command that gives it to recovery (which reads pg_wal after the archive).
    static func adviceForPlainRestore(into target: String, archive: WALArchiveStore, systemIdentifier: UInt64) -> [String] {
        siblingDataDirectories(of: target, systemIdentifier: systemIdentifier).compactMap { directory in
            let found = segments(in: directory, archive: archive, systemIdentifier: systemIdentifier)
            guard let first = found.first, let last = found.last else { return nil }
            let range = found.count == 1 ? first : "\(first) to \(last)"
            return "\(directory)/pg_wal holds \(found.count) WAL segment(s) this cluster wrote after the last archived one (\(range)), where a stopped or crashed server's last transactions are: recovery replays them after the archived WAL if they are copied into the restored pg_wal before the server starts, as its owner (cp -p \(directory)/pg_wal/\(found.count == 1 ? first : String(first.prefix(8)) + "*") \(target)/pg_wal/)"
        }
    }
}
