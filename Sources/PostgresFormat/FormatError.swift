/// A file on disk does not have the layout PostgreSQL gives it.
public struct FormatError: Error, Sendable, CustomStringConvertible {
    public let what: String
    public let reason: String

    public init(_ what: String, _ reason: String) {
        self.what = what
        self.reason = reason
    }

    public var description: String { "\(what): \(reason)" }
}
