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
        /// nil: listed without a checksum (a parent's manifest for UPLOAD_MANIFEST, where the
        /// server keeps names and sizes only).
        let crc: UInt32?
    }

    /// The whole manifest of `files`, by path, in pieces to `output` (see Writer).
    static func write(files: [File], info: BackupInfo, to output: (UnsafeRawBufferPointer) throws -> Void) throws {
        try withoutActuallyEscaping(output) { output in
            let writer = try Writer(info: info, to: output)
            for i in files.indices.sorted(by: { files[$0].path < files[$1].path }) { try writer.add(files[i]) }
            try writer.finish()
        }
    }

    /// A manifest written a file at a time, as a restore finishes them (pg_verifybackup
    /// takes them in any order), in pieces to `output`, hashed on the way: a cluster of a
    /// million files has a manifest of a hundred megabytes, never held. Version 2
    /// (PostgreSQL 17 on) also names the system identifier, which pg_verifybackup then
    /// checks against pg_control.
    final class Writer {
        private let info: BackupInfo
        private let output: (UnsafeRawBufferPointer) throws -> Void
        private let hash: Digest.SHA256Stream
        private var pending = ""
        private var count = 0

        init(info: BackupInfo, to output: @escaping (UnsafeRawBufferPointer) throws -> Void) throws {
            try Digest.load()
            self.info = info
            self.output = output
            hash = Digest.SHA256Stream()
            let major = info.pgVersionNum / 10000
            try emit("{ \"PostgreSQL-Backup-Manifest-Version\": \(major >= 17 ? 2 : 1),\n")
            if major >= 17 { try emit("\"System-Identifier\": \(info.systemIdentifier),\n") }
            try emit("\"Files\": [")
        }

        func add(_ file: File) throws {
            let checksum = file.crc.map { ", \"Checksum-Algorithm\": \"CRC32C\", \"Checksum\": \"\(checksumHex($0))\"" } ?? ""
            try emit((count == 0 ? "\n" : ",\n") + "{ \"Path\": \(JSONText.quote(file.path)), \"Size\": \(file.size), \"Last-Modified\": \"\(lastModified(file.mtime))\"\(checksum) }")
            count += 1
        }

        /// The WAL range and the manifest's own checksum.
        func finish() throws {
            try emit("\n],\n\"WAL-Ranges\": [\n")
            if let start = info.startLSN, let stop = info.stopLSN {
                try emit("{ \"Timeline\": \(info.timeline), \"Start-LSN\": \"\(start)\", \"End-LSN\": \"\(stop)\" }")
            }
            try emit("\n],\n", force: true)
            try emit("\"Manifest-Checksum\": \"\(Digest.hex(hash.finish()))\"}\n", hashed: false, force: true)
        }

        private func emit(_ text: String, hashed: Bool = true, force: Bool = false) throws {
            pending += text
            guard force || pending.utf8.count >= 1 << 16 else { return }
            try pending.withUTF8 { bytes in
                if hashed { hash.update(UnsafeRawBufferPointer(bytes)) }
                try output(UnsafeRawBufferPointer(bytes))
            }
            pending = ""
        }
    }

    /// PostgreSQL writes the CRC's four bytes as they lie in memory (little-endian here).
    static func checksumHex(_ crc: UInt32) -> String {
        Digest.hex([UInt8(crc & 0xff), UInt8(crc >> 8 & 0xff), UInt8(crc >> 16 & 0xff), UInt8(crc >> 24)])
    }

    static func lastModified(_ seconds: Int64) -> String {
        String(Timestamp(seconds: seconds).description.dropLast(3)) + " GMT"
    }
}
