import CryptoDigest
import PostgresFormat
import Repository

/// PostgreSQL's `backup_manifest` for a restored data directory, in the format pg_basebackup
/// writes and pg_verifybackup reads (src/backend/backup/backup_manifest.c): every file the
/// restore wrote with its size and CRC-32C, the backup's WAL range, and a SHA-256 of the
/// manifest itself. A second opinion from PostgreSQL's own tool before the server starts
/// (`pg_verifybackup -n DIR`: the WAL is in the archive, not in pg_wal).
enum RestoredManifest {
    struct File: Sendable {
        let path: String
        let size: UInt64
        let mtime: Int64
        let crc: UInt32
    }

    /// Version 2 (PostgreSQL 17 on) also names the system identifier, which pg_verifybackup
    /// then checks against pg_control.
    static func text(files: [File], info: BackupInfo) throws -> String {
        let major = info.pgVersionNum / 10000
        var out = "{ \"PostgreSQL-Backup-Manifest-Version\": \(major >= 17 ? 2 : 1),\n"
        if major >= 17 { out += "\"System-Identifier\": \(info.systemIdentifier),\n" }
        out += "\"Files\": ["
        for (n, file) in files.sorted(by: { $0.path < $1.path }).enumerated() {
            out += n == 0 ? "\n" : ",\n"
            out += "{ \"Path\": \(JSONText.quote(file.path)), \"Size\": \(file.size), \"Last-Modified\": \"\(lastModified(file.mtime))\", "
            out += "\"Checksum-Algorithm\": \"CRC32C\", \"Checksum\": \"\(checksumHex(file.crc))\" }"
        }
        out += "\n],\n\"WAL-Ranges\": [\n"
        if let start = info.startLSN, let stop = info.stopLSN {
            out += "{ \"Timeline\": \(info.timeline), \"Start-LSN\": \"\(start)\", \"End-LSN\": \"\(stop)\" }"
        }
        out += "\n],\n"
        try Digest.load()
        out += "\"Manifest-Checksum\": \"\(Digest.hex(Digest.sha256(Array(out.utf8))))\"}\n"
        return out
    }

    /// PostgreSQL writes the CRC's four bytes as they lie in memory (little-endian here).
    static func checksumHex(_ crc: UInt32) -> String {
        Digest.hex([UInt8(crc & 0xff), UInt8(crc >> 8 & 0xff), UInt8(crc >> 16 & 0xff), UInt8(crc >> 24)])
    }

    static func lastModified(_ seconds: Int64) -> String {
        String(Timestamp(seconds: seconds).description.dropLast(3)) + " GMT"
    }
}
