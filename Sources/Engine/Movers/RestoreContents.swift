import PostgresFormat
import Repository

/// The middle of a restore: every entry of the backup in its list's order. Directories and
/// tablespace links are made as they come (before anything inside them); files go to `jobs`
/// workers (OrderedWorkPool), whose results come back in the same order, each finished
/// file's line going into backup_manifest as it does. Memory holds a window of files, never
/// the list: a million files restore in the memory of a thousand.
struct RestoreContents {
    let repository: Repository
    let target: String
    let members: [BackupInfo]
    let tablespaces: RestoreTablespaces
    let owner: (uid: UInt32, gid: UInt32)?
    let delta: Bool
    let otherCopies: OtherCopies?
    let jobs: Int
    /// `--max-rate`: each restored file or part is counted against it once written.
    var limiter: RateLimiter? = nil
    /// `--db-include`/`--db-exclude`: the databases whose files are restored empty.
    var zeroed: Set<UInt32> = []

    /// What the contents leave for the last step.
    struct Outcome {
        var controlFile: FileEntry?
        var remappedTablespaceMap: String?
    }

    /// What a worker hands back for one unit.
    private struct Done: Sendable {
        let unit: RestoreUnit
        let piece: ContentPiece
        let counts: (files: Int, unchanged: Int, bytes: UInt64)
    }

    func run(_ entries: inout some RestoreEntries, writer: inout RestoreWriter, manifest: RestoredManifest.Writer,
             meter: ProgressMeter?) throws -> Outcome {
        var outcome = Outcome()
        var counts = (files: 0, unchanged: 0, bytes: UInt64(0))
        var pieces: [ContentPiece] = []
        let pool = makePool(meter: meter) { done in
            counts = (counts.files + done.counts.files, counts.unchanged + done.counts.unchanged, counts.bytes + done.counts.bytes)
            guard done.unit.isPiece else { return try Self.list(done.unit.file.entry, crc: done.piece.crc, in: manifest) }
            pieces.append(done.piece)
            guard done.unit.finishesFile else { return }
            let entry = done.unit.file.entry
            try RestoreWriter.completePrepared(entry, at: target + "/" + entry.path, delta: delta)
            counts.files += 1
            try Self.list(entry, crc: ContentPiece.wholeFileCRC(pieces), in: manifest)
            pieces = []
        }
        defer { pool.cancel() }
        let blockSize = UInt64(members[0].blockSize)
        while let planned = try entries.next() {
            let entry = planned.entry, path = target + "/" + entry.path
            switch entry.kind {
            case .directory:
                if entry.path == "." { try writer.setDirectoryMode(target, entry.mode) } else { try writer.makeDirectory(path, mode: entry.mode) }
            case .symlink:
                try writer.makeTablespace(link: path, location: tablespaces.location(of: entry.path)!)
            case .file, .pageDelta, .unchanged:
                if entry.path == "global/pg_control" { outcome.controlFile = entry; continue }
                if !zeroed.isEmpty, let database = DatabaseSelection.database(of: entry.path), zeroed.contains(database) {
                    try pool.submitDone(Done(unit: RestoreUnit.zeroed(planned), piece: ContentPiece(offset: 0, length: entry.size,
                                                                                                    crc: try writer.writeZeroed(entry, at: path)),
                                             counts: writer.takeCounts()))
                    meter?.add(bytes: entry.size, files: 1)
                    continue
                }
                if entry.path == "tablespace_map" && tablespaces.placements.contains(where: \.isMoved) {
                    let map = TablespaceMap(entries: tablespaces.placements.map { .init(oid: FileSystem.baseName(of: $0.entry.path), path: $0.location) })
                    try writer.writeText(map.text, to: path)
                    outcome.remappedTablespaceMap = map.text
                    meter?.add(bytes: entry.size, files: 1)
                    continue
                }
                let units = RestoreUnit.units(for: planned, blockSize: blockSize)
                if units.count > 1 { try writer.prepare(entry, at: path, size: entry.size) }
                for unit in units { try pool.submit(unit) }
            }
        }
        try pool.finish()
        try entries.finish()
        writer.add(counts)
        return outcome
    }

    /// The workers, each with its own writer (and buffers).
    private func makePool(meter: ProgressMeter?, consume: @escaping (Done) throws -> Void) -> OrderedWorkPool<RestoreUnit, Done> {
        let (repository, target, members, owner, delta, otherCopies, limiter) = (repository, target, members, owner, delta, otherCopies, limiter)
        let creationLock = SerialLock()
        return OrderedWorkPool(jobs: jobs, window: max(256, jobs * 64), makeState: {
            var worker = RestoreWriter(repository: repository, info: members[0], owner: owner)
            // One syncfs per filesystem at the end, where the kernel's syncfs reports write errors.
            worker.syncEachFile = !FileSystem.syncfsReportsErrors
            worker.delta = delta
            worker.otherCopies = otherCopies
            worker.creationLock = creationLock
            return worker
        }, work: { unit, worker in
            let piece = try unit.run(with: &worker, members: members, target: target)
            limiter?.take(Int(unit.bytes))
            meter?.add(bytes: unit.bytes, files: unit.finishesFile ? 1 : 0)
            try FaultInjection.point("restore-unit-written")
            return Done(unit: unit, piece: piece, counts: worker.takeCounts())
        }, consume: consume)
    }

    /// A restored file's line in backup_manifest (postgresql.auto.conf is rewritten later,
    /// and left out, as pg_basebackup's manifests leave it out once it changes).
    private static func list(_ entry: FileEntry, crc: UInt32, in manifest: RestoredManifest.Writer) throws {
        guard entry.path != "postgresql.auto.conf" else { return }
        try manifest.add(RestoredManifest.File(path: entry.path, size: entry.size, mtime: entry.mtime, crc: crc))
    }
}
