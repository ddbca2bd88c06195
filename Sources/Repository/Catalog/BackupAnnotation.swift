/// A DBA's note on a backup (`backup --annotation KEY=VALUE`, `pgbk annotate`), kept in its
/// backup.ini as `ANNOTATION.KEY=VALUE`, as pgBackRest's `--annotation` keeps them in its
/// manifest. Keys are short words, values one line of text: both end up in show's table,
/// JSON and the HTML report, and in a key of backup.ini.
public struct BackupAnnotation: Sendable, Equatable {
    public static let iniPrefix = "ANNOTATION."
    public static let maxKeyLength = 64
    public static let maxValueLength = 1024

    public let key: String
    /// Empty: `pgbk annotate` removes the key.
    public let value: String

    /// `KEY=VALUE` as typed; a key of letters, digits, `_`, `-` and `.`, a value of one line.
    public init(argument: String) throws {
        guard let eq = argument.firstIndex(of: "=") else {
            throw CatalogError.invalid("annotation '\(FileList.escape(argument))'", "an annotation is KEY=VALUE")
        }
        try self.init(key: String(argument[..<eq]), value: String(argument[argument.index(after: eq)...]), source: "annotation")
    }

    /// `source` names where a bad one came from (a backup.ini's path).
    public init(key: String, value: String, source: String) throws {
        guard Self.isKey(key) else {
            throw CatalogError.invalid(source, "annotation key '\(FileList.escape(key))' must be 1 to \(Self.maxKeyLength) letters, digits, '_', '-' or '.'")
        }
        guard value.unicodeScalars.count <= Self.maxValueLength, !value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else {
            throw CatalogError.invalid(source, "the value of annotation \(key) must be one line of at most \(Self.maxValueLength) characters")
        }
        self.key = key
        self.value = value
    }

    static func isKey(_ key: String) -> Bool {
        (1...maxKeyLength).contains(key.utf8.count)
            && key.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_-.".unicodeScalars.contains($0)) }
    }

    /// `KEY=VALUE, ...` in key order, for a line or a table cell.
    public static func text(_ annotations: [String: String]) -> String {
        annotations.keys.sorted().map { "\($0)=\(annotations[$0]!)" }.joined(separator: ", ")
    }

    /// `annotations` with `changes` applied in order: a value sets its key, an empty one
    /// removes it.
    public static func applying(_ changes: [BackupAnnotation], to annotations: [String: String]) -> [String: String] {
        var result = annotations
        for change in changes { result[change.key] = change.value.isEmpty ? nil : change.value }
        return result
    }
}
