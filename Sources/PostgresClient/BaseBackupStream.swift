#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import CLibPQLoader
import PostgresFormat

/// BASE_BACKUP on a `replication=true` connection, read as a sequence of events: the start
/// position and tablespaces, then each archive (a tar stream per tablespace, `base.tar` for
/// the data directory) with its bytes, the backup manifest, and the stop position. From 15
/// on the server sends one COPY OUT whose messages carry a type byte (BaseBackupMessage);
/// before 15, one COPY OUT per archive and one for the manifest, untyped. Either way the
/// caller sees the same events.
public final class BaseBackupStream {
    public struct Options: Sendable {
        public var label: String
        public var fastCheckpoint = true
        /// kB/s, as MAX_RATE takes it (32 to 1048576); nil: unlimited.
        public var maxRateKBps: Int?
        /// PostgreSQL 17 on: only the blocks changed since the manifest uploaded first
        /// (Connection.uploadManifest), as INCREMENTAL.<name> files.
        public var incremental = false

        public init(label: String) { self.label = label }
    }

    public struct Tablespace: Sendable, Equatable {
        /// nil for the data directory.
        public let oid: UInt32?
        public let location: String?
        public let sizeKB: Int64?
    }

    public enum Event {
        case archive(name: String, tablespace: Tablespace?)
        /// Bytes of the current archive, or of the manifest after `.manifest`, from `offset`.
        case data([UInt8], offset: Int)
        case progress(UInt64)
        case manifest
        case end(stop: LSN, timeline: TimelineID)
    }

    public let start: LSN
    public let timeline: TimelineID
    public let tablespaces: [Tablespace]
    private let connection: Connection
    private let typed: Bool
    /// Before 15: the archives still to come (the data directory's is last), then the manifest.
    private var untypedArchives: [Tablespace]
    private var untypedManifestDone = false
    private var inCopy = false
    private var ended = false

    /// Sends BASE_BACKUP and reads what precedes the archives.
    public init(on connection: Connection, options: Options) throws {
        self.connection = connection
        typed = connection.serverVersionNumber >= 150000
        let sql = Self.command(options, typed: typed)
        guard pgbk_PQsendQuery(connection.handle, sql) == 1 else { throw connection.streamError("sending BASE_BACKUP") }
        let startRow = try connection.nextResult(sql)
        guard let lsn = LSN(startRow.value(0, "recptr") ?? ""), let tli = TimelineID(startRow.value(0, "tli") ?? "") else {
            throw PostgresError(kind: .query, message: "BASE_BACKUP did not return its start position", query: sql)
        }
        start = lsn
        timeline = tli
        let spaces = try connection.nextResult(sql)
        tablespaces = spaces.rows.indices.map { row in
            Tablespace(oid: spaces.value(row, "spcoid").flatMap { UInt32($0) }, location: spaces.value(row, "spclocation"),
                       sizeKB: spaces.value(row, "size").flatMap { Int64($0) })
        }
        untypedArchives = tablespaces
    }

    static func command(_ options: Options, typed: Bool) -> String {
        let label = "'" + options.label.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "''") + "'"
        if typed {
            var items = ["LABEL \(label)", "PROGRESS", "CHECKPOINT '\(options.fastCheckpoint ? "fast" : "spread")'", "WAIT false",
                         "MANIFEST 'yes'", "MANIFEST_CHECKSUMS 'CRC32C'"]
            if let rate = options.maxRateKBps { items.append("MAX_RATE \(rate)") }
            if options.incremental { items.append("INCREMENTAL") }
            return "BASE_BACKUP ( \(items.joined(separator: ", ")) )"
        }
        var sql = "BASE_BACKUP LABEL \(label) PROGRESS \(options.fastCheckpoint ? "FAST " : "")NOWAIT MANIFEST 'yes' MANIFEST_CHECKSUMS 'CRC32C'"
        if let rate = options.maxRateKBps { sql += " MAX_RATE \(rate)" }
        return sql
    }

    /// The next event; `.end` once, after which the stream is done.
    public func next() throws -> Event {
        precondition(!ended, "BaseBackupStream read past its end")
        while true {
            if !inCopy {
                let result = try connection.nextResultOrCopy("BASE_BACKUP")
                switch result {
                case .copyOut:
                    inCopy = true
                    if !typed { return try nextUntypedCopy() }
                case .rows(let rows):
                    guard let stop = LSN(rows.value(0, "recptr") ?? ""), let tli = TimelineID(rows.value(0, "tli") ?? "") else {
                        throw PostgresError(kind: .query, message: "BASE_BACKUP did not return its stop position", query: "BASE_BACKUP")
                    }
                    try connection.drainResults("BASE_BACKUP")
                    ended = true
                    return .end(stop: stop, timeline: tli)
                }
                continue
            }
            switch try connection.readCopyData(waitingAtMost: -1) {
            case .idle:
                continue
            case .ended:
                inCopy = false
            case .data(let bytes):
                guard typed else { return .data(bytes, offset: 0) }
                switch try BaseBackupMessage.parse(bytes) {
                case .newArchive(let name, let location):
                    return .archive(name: name, tablespace: tablespaces.first { $0.location == location && location != nil }
                                    ?? tablespaces.first { $0.oid == nil })
                case .data(let offset): return .data(bytes, offset: offset)
                case .progress(let bytes): return .progress(bytes)
                case .manifest: return .manifest
                }
            }
        }
    }

    /// Before 15: a COPY OUT began; it is the next tablespace's archive, else the manifest.
    private func nextUntypedCopy() throws -> Event {
        guard !untypedArchives.isEmpty else {
            guard !untypedManifestDone else { throw PostgresError(kind: .query, message: "BASE_BACKUP sent more than its archives and manifest", query: "BASE_BACKUP") }
            untypedManifestDone = true
            return .manifest
        }
        let space = untypedArchives.removeFirst()
        return .archive(name: space.oid.map { "\($0).tar" } ?? "base.tar", tablespace: space)
    }
}

extension Connection {
    enum ResultOrCopy {
        case rows(QueryResult)
        case copyOut
    }

    /// The next result of a command sent with PQsendQuery: rows, or the start of a COPY OUT.
    func nextResultOrCopy(_ sql: String) throws -> ResultOrCopy {
        guard let result = pgbk_PQgetResult(handle) else {
            throw PostgresError(kind: .query, message: "the server ended \(sql) early", query: sql)
        }
        defer { pgbk_PQclear(result) }
        if pgbk_PQresultStatus(result) == PGRES_COPY_OUT { return .copyOut }
        return .rows(try rows(of: result, query: sql))
    }

    func nextResult(_ sql: String) throws -> QueryResult {
        guard case .rows(let rows) = try nextResultOrCopy(sql) else {
            throw PostgresError(kind: .query, message: "\(sql) began its data before its header", query: sql)
        }
        return rows
    }

    /// Reads the results left after the last one that matters (the command's completion).
    func drainResults(_ sql: String) throws {
        while let result = pgbk_PQgetResult(handle) {
            defer { pgbk_PQclear(result) }
            _ = try rows(of: result, query: sql)
        }
    }
}
