import PostgresFormat

/// Text catalog files end in a line `CHECKSUM=crc32c:xxxxxxxx` covering every byte before it,
/// so that a damaged or hand-edited manifest is detected rather than trusted.
public enum SealedText {
    static let prefix = "CHECKSUM=crc32c:"

    public static func seal(_ body: String) -> String {
        precondition(body.isEmpty || body.hasSuffix("\n"))
        return body + prefix + CRC32C.hex(CRC32C.checksum(body)) + "\n"
    }

    /// Returns the body, or throws naming the file when the trailer is missing or wrong.
    public static func open(_ text: String, path: String) throws -> String {
        String(try openInPlace(text, path: path))
    }

    /// The body as a slice of `text`, not a copy.
    public static func openInPlace(_ text: String, path: String) throws -> Substring {
        var content = Substring(text)
        guard content.hasSuffix("\n") else { throw CatalogError.corrupt(path, missingSeal) }
        content = content.dropLast()
        let lineStart = content.lastIndex(of: "\n").map { content.index(after: $0) } ?? content.startIndex
        let trailer = content[lineStart...]
        let body = text[text.startIndex..<lineStart]
        guard let stored = recordedChecksum(seal: trailer) else { throw CatalogError.corrupt(path, missingSeal) }
        let computed = CRC32C.checksum(body)
        guard stored == computed else { throw CatalogError.corrupt(path, mismatch(stored: stored, computed: computed)) }
        return body
    }

    static let missingSeal = "no checksum line at the end (truncated?)"

    /// The checksum a seal line records; nil when the line is not one.
    static func recordedChecksum(seal line: Substring) -> UInt32? {
        guard line.hasPrefix(prefix) else { return nil }
        return CRC32C.parseHex(line.dropFirst(prefix.count))
    }

    static func mismatch(stored: UInt32, computed: UInt32) -> String {
        "checksum mismatch (stored \(CRC32C.hex(stored)), computed \(CRC32C.hex(computed)))"
    }
}

extension SealedText {
    /// Every line of an opened body, comments included, with its 1-based number, without an
    /// array of them (a list can name every file of a cluster).
    public static func forEachLine(_ body: Substring, _ visit: (Substring, Int) throws -> Void) rethrows {
        var lineNumber = 0
        var rest = body
        while !rest.isEmpty {
            let end = rest.utf8.firstIndex(of: 0x0A) ?? rest.endIndex
            let line = rest[rest.startIndex..<end]
            rest = end == rest.endIndex ? rest[end...] : rest[rest.index(after: end)...]
            lineNumber += 1
            try visit(line, lineNumber)
        }
    }
}

/// Errors about the repository's own files.
public enum CatalogError: Error, Sendable, CustomStringConvertible, Equatable {
    case corrupt(String, String)
    case invalid(String, String)

    public var description: String {
        switch self {
        case .corrupt(let path, let why): return "\(path) is corrupt: \(why)"
        case .invalid(let path, let why): return "\(path): \(why)"
        }
    }
}
