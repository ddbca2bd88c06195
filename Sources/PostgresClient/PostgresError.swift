import PostgresFormat
/// An error from the server or from libpq, with the fields a DBA needs to act on it.
/// Never holds connection parameters, so a password cannot leak through it.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case connection, query }

    public let kind: Kind
    public let sqlState: String?
    public let message: String
    public let detail: String?
    public let hint: String?
    public let query: String?

    public init(kind: Kind, sqlState: String? = nil, message: String, detail: String? = nil,
                hint: String? = nil, query: String? = nil) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.hint = hint
        self.query = query
    }

    /// Refused because the server is starting up or still recovering (SQLSTATE 57P03, which
    /// libpq reports at connect time as text only).
    public var isStartingUp: Bool {
        if sqlState == "57P03" { return true }
        guard kind == .connection else { return false }
        return ["the database system is starting up", "is not accepting connections", "is not yet accepting connections"]
            .contains { message.contains($0) }
    }

    /// One line: what failed, the server's words, and SQLSTATE.
    public var description: String {
        var text = kind == .connection ? "could not connect to PostgreSQL: " : "query failed: "
        text += message
        if let detail { text += " (\(detail))" }
        if let hint { text += " hint: \(hint)" }
        if let sqlState { text += " [SQLSTATE \(sqlState)]" }
        return text.replacingNewlines()
    }
}

extension String {
    func replacingNewlines() -> String {
        split(whereSeparator: \.isNewline).map { $0.trimmingBlanks() }.joined(separator: " ")
    }
}

