import PostgresFormat

/// One entry of a backup: a directory, a symbolic link (tablespaces) or a file with the
/// checksum of its original content.
public struct FileEntry: Sendable, Equatable {
    /// `p`: a relation file of an incremental backup stored as its changed pages only (see
    /// PageDelta); `size` is then the file's full size, `checksum` that of the stored stream.
    /// `u`: a file of an incremental backup whose content (size and checksum) is the same as
    /// in the parent backup; nothing is stored, restore takes it from up the chain.
    public enum Kind: String, Sendable {
        case file = "f", directory = "d", symlink = "l", pageDelta = "p", unchanged = "u"
    }

    // Laid out small (64 bytes): commands hold one entry per file of the cluster, and a
    // cluster may have hundreds of thousands. What few entries have lives in `rare`.
    public var kind: Kind
    private var hasChecksum: Bool
    public var mode: UInt32
    private var checksumValue: UInt32
    /// Relative to the data directory, "/"-separated; tablespace contents live under
    /// `pg_tblspc/<oid>/`, the way PostgreSQL itself addresses them.
    public var path: String
    public var size: UInt64
    public var mtime: Int64
    public var storedSize: UInt64
    private var rare: Rare?

    /// A link's target and a split file's parts: immutable, replaced when changed.
    private final class Rare: Sendable, Equatable {
        let linkTarget: String?
        let partSize: UInt64
        let partChecksums: [UInt32]

        init?(linkTarget: String?, partSize: UInt64, partChecksums: [UInt32]) {
            guard linkTarget != nil || partSize != 0 || !partChecksums.isEmpty else { return nil }
            self.linkTarget = linkTarget
            self.partSize = partSize
            self.partChecksums = partChecksums
        }

        static func == (a: Rare, b: Rare) -> Bool {
            a.linkTarget == b.linkTarget && a.partSize == b.partSize && a.partChecksums == b.partChecksums
        }
    }

    public var checksum: UInt32? {
        get { hasChecksum ? checksumValue : nil }
        set { hasChecksum = newValue != nil; checksumValue = newValue ?? 0 }
    }

    public var linkTarget: String? {
        get { rare?.linkTarget }
        set { rare = Rare(linkTarget: newValue, partSize: partSize, partChecksums: partChecksums) }
    }

    /// Stored content larger than a part is split so that several workers copy, restore and
    /// verify one file side by side. Part k holds the original bytes (or, for a page delta,
    /// the blocks) from k * partSize on; each part is a stored file of its own with its own
    /// CRC-32C here, in order. Empty when the content is one stored file.
    public var partSize: UInt64 {
        get { rare?.partSize ?? 0 }
        set { rare = Rare(linkTarget: linkTarget, partSize: newValue, partChecksums: partChecksums) }
    }

    public var partChecksums: [UInt32] {
        get { rare?.partChecksums ?? [] }
        set { rare = Rare(linkTarget: linkTarget, partSize: partSize, partChecksums: newValue) }
    }

    public var partCount: Int { max(1, partChecksums.count) }
    public var isSplit: Bool { !partChecksums.isEmpty }

    public init(kind: Kind, path: String, mode: UInt32, size: UInt64 = 0, mtime: Int64 = 0,
                checksum: UInt32? = nil, storedSize: UInt64 = 0, linkTarget: String? = nil) {
        self.kind = kind
        self.hasChecksum = checksum != nil
        self.mode = mode
        self.checksumValue = checksum ?? 0
        self.path = path
        self.size = size
        self.mtime = mtime
        self.storedSize = storedSize
        self.rare = Rare(linkTarget: linkTarget, partSize: 0, partChecksums: [])
    }

    public static func == (a: FileEntry, b: FileEntry) -> Bool {
        a.kind == b.kind && a.checksum == b.checksum && a.mode == b.mode && a.path == b.path && a.size == b.size
            && a.mtime == b.mtime && a.storedSize == b.storedSize && a.rare == b.rare
    }
}

/// `file.list`: one tab-separated line per entry, paths escaped so that any name round-trips
/// (tab, newline, backslash and control characters become `\t`, `\n`, `\\`, `\xHH`).
public enum FileList {
    public static let version = 2
    public static let header = "# pgbk file list 2\n# type\tmode\tsize\tmtime\tcrc32c\tstored_size\tparts\tpath\tlink_target\n"

    /// Whether an entry has stored content (a whole file or a page delta).
    public static func isStored(_ entry: FileEntry) -> Bool { entry.kind == .file || entry.kind == .pageDelta }

    public static func encode(_ entries: [FileEntry]) -> String {
        var out = header
        for e in entries { out += line(e) }
        return SealedText.seal(out)
    }

    /// One entry's line, newline included.
    public static func line(_ e: FileEntry) -> String {
        let crc = e.checksum.map(CRC32C.hex) ?? "-"
        let mode = String(e.mode, radix: 8)
        let parts = e.isSplit ? "\(e.partSize):" + e.partChecksums.map(CRC32C.hex).joined(separator: ",") : "-"
        var out = "\(e.kind.rawValue)\t\(String(repeating: "0", count: max(0, 4 - mode.count)) + mode)\t\(e.size)\t\(e.mtime)\t\(crc)\t\(e.storedSize)\t\(parts)\t\(escape(e.path))"
        if let target = e.linkTarget { out += "\t" + escape(target) }
        return out + "\n"
    }

    public static func decode(_ text: String, path: String) throws -> [FileEntry] {
        var entries: [FileEntry] = []
        entries.reserveCapacity(text.utf8.reduce(0) { $1 == 0x0A ? $0 + 1 : $0 })
        try forEachEntry(text, path: path) { entries.append($0) }
        if let why = CatalogPath.problem(in: entries) { throw CatalogError.corrupt(path, why) }
        return entries
    }

    /// Each entry in turn, without the list in memory: every line and path is checked as in
    /// `decode`, but not the list as a whole (a path twice, links), which `decode` adds.
    public static func forEachEntry(_ text: String, path: String, _ body: (FileEntry) throws -> Void) throws {
        let content = try SealedText.openInPlace(text, path: path)
        var parser = LineParser(path: path)
        try SealedText.forEachLine(content) { line, lineNumber in
            if let entry = try parser.take(line, lineNumber) { try body(entry) }
        }
        try parser.finish()
    }

    /// A file list's lines in order, the version line first (comments and empty lines are
    /// skipped): read from a whole text or a stream (SealedTextStream) alike.
    public struct LineParser {
        let path: String
        /// Version 1 lists (pgbk before file parts) have no parts column.
        private var version: Int?

        public init(path: String) { self.path = path }

        public mutating func take(_ line: Substring, _ lineNumber: Int) throws -> FileEntry? {
            guard let version else {
                switch line {
                case "# pgbk file list 1": self.version = 1
                case "# pgbk file list 2": self.version = 2
                default: throw CatalogError.corrupt(path, "not a pgbk file list of a known version (first line: \(line.prefix(60)))")
                }
                return nil
            }
            if line.isEmpty || line.hasPrefix("#") { return nil }
            return try entry(line, lineNumber, version: version)
        }

        /// A list without even its version line.
        public func finish() throws {
            if version == nil { throw CatalogError.corrupt(path, "not a pgbk file list of a known version (first line: )") }
        }

        private func entry(_ line: Substring, _ lineNumber: Int, version: Int) throws -> FileEntry {
            var f = line.split(separator: "\t", omittingEmptySubsequences: false)
            func bad(_ why: String) -> CatalogError { .corrupt(path, "line \(lineNumber): \(why)") }
            var partSize: UInt64 = 0
            var partChecksums: [UInt32] = []
            if version >= 2 {
                guard f.count == 8 || f.count == 9 else { throw bad("expected 8 or 9 fields, found \(f.count)") }
                let parts = f.remove(at: 6)
                if parts != "-" {
                    let halves = parts.split(separator: ":", omittingEmptySubsequences: false)
                    guard halves.count == 2, let size = UInt64(halves[0]), size > 0 else { throw bad("invalid parts \(parts.prefix(40))") }
                    partSize = size
                    for hex in halves[1].split(separator: ",", omittingEmptySubsequences: false) {
                        guard let crc = CRC32C.parseHex(hex) else { throw bad("invalid part checksum \(hex.prefix(20))") }
                        partChecksums.append(crc)
                    }
                }
            }
            guard f.count == 7 || f.count == 8 else { throw bad("expected 7 or 8 fields, found \(f.count)") }
            guard let kind = FileEntry.Kind(rawValue: String(f[0])) else { throw bad("unknown type \(f[0])") }
            guard let mode = UInt32(f[1], radix: 8), let size = UInt64(f[2]), let mtime = Int64(f[3]),
                  let stored = UInt64(f[5]) else { throw bad("invalid number") }
            var crc: UInt32? = nil
            if f[4] != "-" {
                guard let value = CRC32C.parseHex(f[4]) else { throw bad("invalid checksum \(f[4])") }
                crc = value
            }
            guard let entryPath = unescape(f[6]), !entryPath.isEmpty else { throw bad("invalid path") }
            var target: String? = nil
            if f.count == 8 {
                guard let t = unescape(f[7]) else { throw bad("invalid link target") }
                target = t
            }
            if (kind == .file || kind == .pageDelta || kind == .unchanged) && crc == nil { throw bad("file without checksum") }
            if kind == .symlink && target == nil { throw bad("link without target") }
            if let why = CatalogPath.problem(with: entryPath) { throw bad("\(why): \(escape(entryPath))") }
            if !partChecksums.isEmpty {
                guard kind == .file || kind == .pageDelta else { throw bad("parts for an entry that stores nothing") }
                guard UInt64(partChecksums.count) == (size + partSize - 1) / partSize else {
                    throw bad("\(partChecksums.count) parts of \(partSize) bytes for \(size) bytes")
                }
            }
            var entry = FileEntry(kind: kind, path: entryPath, mode: mode, size: size, mtime: mtime,
                                  checksum: crc, storedSize: stored, linkTarget: target)
            entry.partSize = partSize
            entry.partChecksums = partChecksums
            return entry
        }
    }

    public static func escape(_ text: String) -> String {
        var out = ""
        for s in text.unicodeScalars {
            switch s {
            case "\\": out += "\\\\"
            case "\t": out += "\\t"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            default:
                if s.value < 0x20 || s.value == 0x7f {
                    let hex = String(s.value, radix: 16)
                    out += "\\x" + (hex.count < 2 ? "0" : "") + hex
                } else {
                    out.unicodeScalars.append(s)
                }
            }
        }
        return out
    }

    public static func unescape(_ text: Substring) -> String? {
        var out = String.UnicodeScalarView()
        var it = text.unicodeScalars.makeIterator()
        while let s = it.next() {
            guard s == "\\" else { out.append(s); continue }
            switch it.next() {
            case "\\": out.append("\\")
            case "t": out.append("\t")
            case "n": out.append("\n")
            case "r": out.append("\r")
            case "x":
                guard let a = it.next(), let b = it.next(), let v = UInt8(String(a) + String(b), radix: 16) else { return nil }
                out.append(Unicode.Scalar(v))
            default: return nil
            }
        }
        return String(out)
    }
}
