#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import CLibPQLoader

/// The replication protocol on a `replication=true` connection: replication commands as
/// simple queries, and the COPY BOTH stream START_REPLICATION enters (read with a timeout,
/// so that the caller can send its status on time whether or not WAL arrives).
extension Connection {
    /// A replication command (IDENTIFY_SYSTEM, TIMELINE_HISTORY, CREATE_REPLICATION_SLOT...):
    /// simple protocol, as walsender takes no parameters.
    @discardableResult
    public func command(_ sql: String) throws -> QueryResult {
        guard let result = pgbk_PQexec(handle, sql) else {
            throw PostgresError(kind: .query, message: String(cString: pgbk_PQerrorMessage(handle)).replacingNewlines(), query: sql)
        }
        defer { pgbk_PQclear(result) }
        return try rows(of: result, query: sql)
    }

    /// Sends `sql` (START_REPLICATION) and enters COPY BOTH.
    public func startCopyBoth(_ sql: String) throws {
        guard let result = pgbk_PQexec(handle, sql) else {
            throw PostgresError(kind: .query, message: String(cString: pgbk_PQerrorMessage(handle)).replacingNewlines(), query: sql)
        }
        defer { pgbk_PQclear(result) }
        guard pgbk_PQresultStatus(result) == PGRES_COPY_BOTH else {
            _ = try rows(of: result, query: sql)
            throw PostgresError(kind: .query, message: "the server did not start streaming", query: sql)
        }
    }

    public enum CopyRead {
        case data([UInt8])
        /// Nothing within the timeout.
        case idle
        /// The server ended the stream (the end of a timeline); `endOfCopy` reads what follows.
        case ended
    }

    /// The next CopyData message, waiting at most `milliseconds`.
    public func readCopyData(waitingAtMost milliseconds: Int32) throws -> CopyRead {
        var waited = false
        while true {
            var buffer: UnsafeMutablePointer<CChar>?
            let n = pgbk_PQgetCopyData(handle, &buffer, 1)
            if n > 0, let buffer {
                defer { pgbk_PQfreemem(buffer) }
                return .data(Array(UnsafeRawBufferPointer(start: buffer, count: Int(n))))
            }
            if n == -1 { return .ended }
            if n == -2 { throw streamError("reading the replication stream") }
            // Nothing buffered: wait for the socket once, then read what came. Not waiting
            // at all, there is no poll either (a system call per batch, as pg_receivewal
            // spares it too): what arrived meanwhile is read at the next wait.
            if waited || milliseconds == 0 { return .idle }
            var poller = pollfd(fd: pgbk_PQsocket(handle), events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, milliseconds)
            if ready < 0 && errno != EINTR { throw streamError("waiting for the replication stream") }
            if ready > 0 && pgbk_PQconsumeInput(handle) == 0 { throw streamError("reading the replication stream") }
            waited = true
        }
    }

    /// Sends one CopyData message and flushes it.
    public func writeCopyData(_ bytes: [UInt8]) throws {
        let sent = bytes.withUnsafeBytes { raw in
            pgbk_PQputCopyData(handle, raw.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(raw.count))
        }
        guard sent == 1 else { throw streamError("sending to the server") }
        while true {
            let flushed = pgbk_PQflush(handle)
            if flushed == 0 { return }
            if flushed < 0 { throw streamError("sending to the server") }
        }
    }

    /// After `.ended`: the results that follow the stream (at the end of a timeline, the
    /// next timeline and where it starts), up to the command's completion.
    public func endOfCopy() throws -> [QueryResult] {
        var results: [QueryResult] = []
        while let result = pgbk_PQgetResult(handle) {
            defer { pgbk_PQclear(result) }
            if pgbk_PQresultStatus(result) == PGRES_COPY_BOTH || pgbk_PQresultStatus(result) == PGRES_COPY_OUT { continue }
            results.append(try rows(of: result, query: "START_REPLICATION"))
        }
        return results
    }

    func streamError(_ what: String) -> PostgresError {
        PostgresError(kind: .query, message: "\(what): " + String(cString: pgbk_PQerrorMessage(handle)).replacingNewlines(),
                      query: "START_REPLICATION")
    }
}

extension Connection {
    /// UPLOAD_MANIFEST (PostgreSQL 17 on): the prior backup's backup_manifest, sent as COPY
    /// data, which the next `BASE_BACKUP ( INCREMENTAL )` on this connection builds on.
    public func uploadManifest(_ manifest: [UInt8]) throws {
        let sql = "UPLOAD_MANIFEST"
        guard let result = pgbk_PQexec(handle, sql) else {
            throw PostgresError(kind: .query, message: String(cString: pgbk_PQerrorMessage(handle)).replacingNewlines(), query: sql)
        }
        let status = pgbk_PQresultStatus(result)
        defer { pgbk_PQclear(result) }
        guard status == PGRES_COPY_IN else {
            _ = try rows(of: result, query: sql)
            throw PostgresError(kind: .query, message: "the server did not accept a manifest", query: sql)
        }
        let failed: Bool = manifest.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = min(1 << 16, raw.count - offset)
                if pgbk_PQputCopyData(handle, raw.baseAddress!.advanced(by: offset).assumingMemoryBound(to: CChar.self), Int32(n)) != 1 { return true }
                offset += n
            }
            return pgbk_PQputCopyEnd(handle, nil) != 1
        }
        if failed { throw streamError("sending the manifest") }
        while true {
            let flushed = pgbk_PQflush(handle)
            if flushed == 0 { break }
            if flushed < 0 { throw streamError("sending the manifest") }
        }
        try drainResults(sql)
    }
}
