import Engine
import ObjectStorage
import Repository

/// After expire, delete or purge on a bucket with Object Lock: the removal succeeded (in a
/// versioned bucket it hides each object behind a delete marker), but the lock keeps every
/// version until its retention ends. Said, not failed: that is what the lock is for.
enum ObjectLockNote {
    static func say(_ repository: Repository, removed: String) {
        guard !removed.isEmpty, let storage = repository.driver as? S3Storage,
              let retention = try? storage.client.objectLockRetention() else { return }
        Console.info("\(repository.path) has Object Lock (\(retention)): \(removed) no longer appear in the repository, but the bucket keeps their object versions until each one's retention ends (--repo-target-time reads them; a lifecycle rule for noncurrent versions frees the space after)")
    }
}

extension ObjectLockNote {
    /// "backups A, B and 12 archived WAL files"; empty when nothing was removed.
    static func removed(backups: [String], wal: Int) -> String {
        var parts: [String] = []
        let ids = Array(Set(backups)).sorted()
        if !ids.isEmpty { parts.append("backup\(ids.count == 1 ? "" : "s") \(ids.joined(separator: ", "))") }
        if wal > 0 { parts.append("\(wal) archived WAL file\(wal == 1 ? "" : "s")") }
        return parts.joined(separator: " and ")
    }
}
