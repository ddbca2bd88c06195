#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import CLibPQLoader

/// Where and how to connect. Empty fields fall back to libpq's own defaults (the PG*
/// environment variables, ~/.pgpass, the default socket), as psql does.
public struct ConnectionParameters: Sendable {
    public var host: String?
    public var port: String?
    public var user: String?
    /// A database name or a full conninfo string / URI (libpq expands it).
    public var database: String?
    /// A physical replication connection (walsender): replication commands only.
    public var replication = false
    /// The name synchronous_standby_names refers to (default "pgbk").
    public var applicationName = "pgbk"

    public init(host: String? = nil, port: String? = nil, user: String? = nil, database: String? = nil) {
        self.host = host
        self.port = port
        self.user = user
        self.database = database
    }

    var keywordValues: [(String, String)] {
        var pairs: [(String, String)] = []
        // dbname first: when it is a conninfo string, the explicit options below override it.
        if let database { pairs.append(("dbname", database)) }
        if let host { pairs.append(("host", host)) }
        if let port { pairs.append(("port", port)) }
        if let user { pairs.append(("user", user)) }
        if replication { pairs.append(("replication", "true")) }
        pairs.append(("application_name", applicationName))
        pairs.append(("fallback_application_name", "pgbk"))
        return pairs
    }
}

/// Rows of a query result, copied out of libpq as text (NULL is nil).
public struct QueryResult: Sendable {
    public let columns: [String]
    public let rows: [[String?]]

    public func value(_ row: Int, _ column: String) -> String? {
        guard row < rows.count, let index = columns.firstIndex(of: column) else { return nil }
        return rows[row][index]
    }

    public var single: String? { rows.first?.first ?? nil }
}

/// One libpq connection. Not Sendable: it belongs to the task that opened it.
public final class Connection {
    let handle: OpaquePointer

    public init(_ parameters: ConnectionParameters) throws {
        if let failure = pgbk_libpq_load() {
            throw PostgresError(kind: .connection, message: String(cString: failure))
        }
        let pairs = parameters.keywordValues
        let keywords = pairs.map { strdup($0.0) }
        let values = pairs.map { strdup($0.1) }
        defer {
            keywords.forEach { free($0) }
            values.forEach { free($0) }
        }
        var keywordPointers = keywords.map { UnsafePointer<CChar>($0) } + [nil]
        var valuePointers = values.map { UnsafePointer<CChar>($0) } + [nil]
        guard let conn = pgbk_PQconnectdbParams(&keywordPointers, &valuePointers, 1) else {
            throw PostgresError(kind: .connection, message: "out of memory")
        }
        guard pgbk_PQstatus(conn) == CONNECTION_OK else {
            let message = String(cString: pgbk_PQerrorMessage(conn))
            pgbk_PQfinish(conn)
            throw PostgresError(kind: .connection, message: message.replacingNewlines())
        }
        handle = conn
        pgbk_PQsetNoticeProcessor(conn, { _, message in
            guard let message else { return }
            Connection.forwardNotice(String(cString: message))
        }, nil)
    }

    deinit { pgbk_PQfinish(handle) }

    /// Server notices and warnings (for example from pg_backup_stop) go to stderr, one line each.
    static func forwardNotice(_ text: String) {
        let line = "pgbk: server: " + text.replacingNewlines() + "\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
    }

    /// Runs one statement with text parameters ($1, $2, ...); never interpolate values into SQL.
    @discardableResult
    public func query(_ sql: String, _ parameters: [String?] = []) throws -> QueryResult {
        let cParams = parameters.map { $0.map { strdup($0) } ?? nil }
        defer { cParams.forEach { free($0) } }
        var pointers = cParams.map { UnsafePointer<CChar>($0) }
        guard let result = pgbk_PQexecParams(handle, sql, Int32(parameters.count), nil, &pointers, nil, nil, 0) else {
            throw PostgresError(kind: .query, message: String(cString: pgbk_PQerrorMessage(handle)), query: sql)
        }
        defer { pgbk_PQclear(result) }
        return try rows(of: result, query: sql)
    }

    /// A result's rows, or its error.
    func rows(of result: OpaquePointer, query sql: String) throws -> QueryResult {
        switch pgbk_PQresultStatus(result) {
        case PGRES_TUPLES_OK, PGRES_COMMAND_OK:
            break
        default:
            throw Self.error(from: result, connection: handle, query: sql)
        }
        let columnCount = Int(pgbk_PQnfields(result))
        let rowCount = Int(pgbk_PQntuples(result))
        let columns = (0..<columnCount).map { String(cString: pgbk_PQfname(result, Int32($0))) }
        var rows: [[String?]] = []
        rows.reserveCapacity(rowCount)
        for r in 0..<rowCount {
            rows.append((0..<columnCount).map { c in
                pgbk_PQgetisnull(result, Int32(r), Int32(c)) == 1 ? nil : String(cString: pgbk_PQgetvalue(result, Int32(r), Int32(c)))
            })
        }
        return QueryResult(columns: columns, rows: rows)
    }

    public var serverVersionNumber: Int { Int(pgbk_PQserverVersion(handle)) }

    public var isAlive: Bool { pgbk_PQstatus(handle) == CONNECTION_OK }

    static func error(from result: OpaquePointer, connection: OpaquePointer, query: String) -> PostgresError {
        func field(_ code: Character) -> String? {
            guard let value = pgbk_PQresultErrorField(result, Int32(code.asciiValue!)) else { return nil }
            return String(cString: value)
        }
        let message = field("M") ?? String(cString: pgbk_PQerrorMessage(connection))
        return PostgresError(kind: .query, sqlState: field("C"), message: message.replacingNewlines(),
                             detail: field("D"), hint: field("H"), query: query)
    }
}
