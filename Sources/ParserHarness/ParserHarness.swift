import PostgresFormat
import Repository
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Every format pgbk reads from disk or from the repository, behind one entry point, so that
/// the fuzzer (`make fuzz`, Fuzz/) and the regression tests feed them the same way. A parser
/// may return a value or throw; anything else (a trap, a crash, a hang) is a bug.
public enum ParserHarness {
    public enum Target: String, CaseIterable, Sendable {
        case backupInfo = "backup-ini", repositoryIdentity = "repository-ini", repositoryConfig = "pgbk-ini"
        case fileList = "file-list", pageDelta = "page-delta"
        case storedZlib = "stored-zlib", storedZstd = "stored-zstd", storedLZ4 = "stored-lz4"
        case walPages = "wal-pages", walFileContent = "wal-file-content", timelineHistory = "timeline-history"
        case backupLabel = "backup-label", tablespaceMap = "tablespace-map", controlFile = "pg-control"
        case walRecordLayout = "wal-record-layout"
    }

    /// Parses `bytes` as `target`; errors are the expected outcome for most inputs.
    public static func run(_ target: Target, _ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        switch target {
        case .backupInfo: _ = try? BackupInfo(text: text, path: "backup.ini")
        case .repositoryIdentity: _ = try? RepositoryIdentity(text: text, path: "repository.ini")
        case .repositoryConfig: _ = try? RepositoryConfig(text: text, path: "pgbk.ini")
        case .fileList: _ = try? FileList.decode(text, path: "file.list")
        case .pageDelta: withStoredFile(bytes, .none) { reader in try PageDelta.readPages(reader, blockSize: 8192) { _, _ in } }
        case .storedZlib: withStoredFile(bytes, .zlib) { try drain($0) }
        case .storedZstd: withStoredFile(bytes, .zstd) { try drain($0) }
        case .storedLZ4: withStoredFile(bytes, .lz4) { try drain($0) }
        case .walPages: scanPages(bytes)
        case .walFileContent: checkWALFileContent(bytes)
        case .timelineHistory: _ = try? TimelineHistory(timeline: 5, text: text)
        case .backupLabel: _ = try? BackupLabel(text: text)
        case .tablespaceMap: _ = try? TablespaceMap(text: text)
        case .controlFile: _ = try? ControlFile(bytes: bytes)
        case .walRecordLayout:
            // A record body, read as 14 and as 15+ (image compression flags differ).
            for magic: UInt16 in [0xD10D, 0xD118] {
                _ = bytes.withUnsafeBytes { WALRecordLayout.parse($0, length: bytes.count, pageMagic: magic) }
            }
        }
    }

    /// Stored-file readers read through a repository storage: the in-memory one, so that the
    /// fuzzer spends its time in the parsers rather than on the disk.
    static func withStoredFile(_ bytes: [UInt8], _ compression: Compression, _ body: (StoredFileReader) throws -> Void) {
        let storage = MemoryStorage()
        let name = "stored" + compression.fileSuffix
        guard (try? storage.writeAll(name, bytes)) != nil,
              let reader = try? StoredFileReader(storage: storage, name: name, compression: compression) else { return }
        defer { reader.close() }
        try? body(reader)
    }

    static func drain(_ reader: StoredFileReader) throws {
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while try reader.read(into: &buffer) > 0 {}
    }

    /// WAL pages as the archive reader feeds them: 8 KiB at a time, each at the address its
    /// header claims (so that the record decoding, not only the address check, is reached).
    static func scanPages(_ bytes: [UInt8]) {
        _ = try? WALLongPageHeader(bytes: bytes, path: "segment")
        var scanner = WALRecordScanner(pageSize: 8192, startLSN: LSN(0))
        scanner.collectBlocks = true  // the block headers of every record too (changed-block maps)
        var offset = 0
        while offset + 8192 <= bytes.count {
            let address = bytes[offset + 8..<offset + 16].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * $1.offset) }
            let result = bytes.withUnsafeBytes { raw in
                scanner.feed(UnsafeRawBufferPointer(rebasing: raw[offset..<offset + 8192]), at: LSN(address), emit: { _ in }) { _ in }
            }
            if result != .more && result != .nextSegment { break }
            offset += 8192
        }
    }

    static func checkWALFileContent(_ bytes: [UInt8]) {
        let cluster = WALFileContent.Cluster(systemIdentifier: 1, segmentSize: 16 << 20)
        try? WALFileContent.checkSegmentStart(bytes, name: "000000010000000000000001", cluster: cluster, path: "p")
        try? WALFileContent.checkTimelineHistory(bytes, name: "00000002.history")
        try? WALFileContent.checkBackupHistory(bytes, name: "000000010000000000000002.00000028.backup", segmentSize: 16 << 20)
    }
}
