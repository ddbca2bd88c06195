/// `KEY=VALUE` lines in pg_rman's backup.ini style. Values that are not plain words are written
/// in single quotes with backslash escapes, so any text round-trips.
public struct IniFile: Sendable, Equatable {
    public private(set) var keys: [String] = []
    private var values: [String: String] = [:]

    public init() {}

    public subscript(key: String) -> String? {
        get { values[key] }
        set {
            if let newValue {
                if values[key] == nil { keys.append(key) }
                values[key] = newValue
            } else if values.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    public init(text: String, path: String) throws {
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = rawLine.drop { $0 == " " || $0 == "\t" }
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let eq = line.firstIndex(of: "=") else {
                throw CatalogError.invalid(path, "line \(lineNumber): expected KEY=VALUE")
            }
            let key = String(line[..<eq].trimmingBlanks())
            let rest = line[line.index(after: eq)...].drop { $0 == " " || $0 == "\t" }
            guard !key.isEmpty else { throw CatalogError.invalid(path, "line \(lineNumber): empty key") }
            guard let value = Self.decodeValue(rest) else {
                throw CatalogError.invalid(path, "line \(lineNumber): unterminated quoted value for \(key)")
            }
            self[key] = value
        }
    }

    public func text(header: String = "") -> String {
        var out = header
        for key in keys { out += key + "=" + Self.encodeValue(values[key]!) + "\n" }
        return out
    }

    static func isPlain(_ value: String) -> Bool {
        !value.isEmpty && value.unicodeScalars.allSatisfy { s in
            (s.value > 0x20 && s.value < 0x7f && s != "'" && s != "\\" && s != "#" && s != "\"")
        }
    }

    static func encodeValue(_ value: String) -> String {
        if isPlain(value) { return value }
        var out = "'"
        for s in value.unicodeScalars {
            switch s {
            case "'": out += "\\'"
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default: out.unicodeScalars.append(s)
            }
        }
        return out + "'"
    }

    static func decodeValue(_ text: Substring) -> String? {
        guard text.first == "'" else {
            // Unquoted: up to a comment, trailing blanks dropped.
            let value = text.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            return String(value.trimmingBlanks())
        }
        var out = ""
        var escaped = false
        for ch in text.dropFirst() {
            if escaped {
                switch ch {
                case "n": out.append("\n")
                case "r": out.append("\r")
                case "t": out.append("\t")
                default: out.append(ch)
                }
                escaped = false
            } else if ch == "\\" {
                escaped = true
            } else if ch == "'" {
                return out
            } else {
                out.append(ch)
            }
        }
        return nil
    }
}

