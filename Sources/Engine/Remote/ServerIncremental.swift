import CryptoDigest
import PostgresClient
import Repository

/// BASE_BACKUP ( INCREMENTAL ), PostgreSQL 17 on with summarize_wal: the server sends only
/// the blocks its WAL summaries say changed since the parent, once it has the parent's
/// backup_manifest (UPLOAD_MANIFEST). pgbk writes that manifest from the parent's file list:
/// the server keeps only the names, sizes and WAL range from it.
enum ServerIncremental {
    /// Uploads the parent's manifest on `replication`. nil when the next BASE_BACKUP there can
    /// be incremental; otherwise why every file will be received instead.
    static func offer(parent: BackupInfo, files: [FileEntry], cluster: RemoteCluster, sql: Connection,
                      replication: Connection) -> String? {
        guard cluster.major.number >= 17 else { return "PostgreSQL \(cluster.major.number) sends every file (INCREMENTAL is 17's)" }
        do {
            guard try WALSummaryReader.isEnabled(on: sql, major: cluster.major.number) else {
                return "summarize_wal is off: the server sends every file"
            }
            try replication.uploadManifest(try manifest(of: parent, files: files))
            return nil
        } catch {
            return "the server did not take the parent's manifest: \(error)"
        }
    }

    /// The parent's backup_manifest: every file it lists, with its size (and its CRC-32C where
    /// the file is stored whole), and its WAL range.
    static func manifest(of parent: BackupInfo, files: [FileEntry]) throws -> [UInt8] {
        let listed = files.compactMap { entry -> RestoredManifest.File? in
            guard entry.kind == .file || entry.kind == .pageDelta || entry.kind == .unchanged else { return nil }
            return RestoredManifest.File(path: entry.path, size: entry.size, mtime: entry.mtime,
                                         crc: entry.kind == .file ? entry.checksum : nil)
        }
        var bytes: [UInt8] = []
        try RestoredManifest.write(files: listed, info: parent) { bytes += $0 }
        return bytes
    }
}
