import PostgresFormat
import StorageInterface

/// `backup/<ID>/bundle.list`: where a backup's bundled stored files are. Small stored files
/// (see BundledStorage) are packed one after another into bundle objects
/// `backup/<ID>/bundle/<n>`; this list names, for each, its bundle, offset and stored size,
/// and for each bundle its size and CRC-32C. Sealed like every catalog file; nothing in it
/// is trusted to name anything outside its own backup.
public struct BundleList: Sendable, Equatable {
    public struct Member: Sendable, Equatable {
        public var bundle: UInt32
        public var offset: UInt64
        public var size: UInt64

        public init(bundle: UInt32, offset: UInt64, size: UInt64) {
            self.bundle = bundle
            self.offset = offset
            self.size = size
        }
    }

    public struct Bundle: Sendable, Equatable {
        public var size: UInt64
        public var checksum: UInt32

        public init(size: UInt64, checksum: UInt32) {
            self.size = size
            self.checksum = checksum
        }
    }

    /// By name relative to the backup's `data/` (as stored: `base/5/16396.zst`).
    public var members: [String: Member] = [:]
    public var bundles: [UInt32: Bundle] = [:]

    public init() {}

    public static let version = 1
    static let header = "# pgbk bundle list 1\n# b\tbundle\tsize\tcrc32c\n# m\tbundle\toffset\tstored_size\tname\n"

    public static func bundleName(backup: String, _ number: UInt32) -> String { backup + "/bundle/" + String(number) }
    public static func listName(backup: String) -> String { backup + "/bundle.list" }

    public func encode() -> String {
        var out = Self.header
        for (number, bundle) in bundles.sorted(by: { $0.key < $1.key }) {
            out += "b\t\(number)\t\(bundle.size)\t\(CRC32C.hex(bundle.checksum))\n"
        }
        for (name, m) in members.sorted(by: { ($0.value.bundle, $0.value.offset) < ($1.value.bundle, $1.value.offset) }) {
            out += "m\t\(m.bundle)\t\(m.offset)\t\(m.size)\t\(FileList.escape(name))\n"
        }
        return SealedText.seal(out)
    }

    /// Every line checked: known bundles, members inside their bundle's size, relative names
    /// that stay inside `data/`, no name twice.
    public static func decode(_ text: String, path: String) throws -> BundleList {
        let body = try SealedText.openInPlace(text, path: path)
        var parser = Parser(path: path)
        try SealedText.forEachLine(body) { try parser.take($0, $1) }
        return try parser.finish()
    }

    /// The same, read from storage a chunk at a time (SealedTextStream): the list names every
    /// small file of a backup, and its text is never held beside the dictionary.
    public static func read(_ stream: any StorageReadStream, path: String) throws -> BundleList {
        var parser = Parser(path: path)
        let outcome = try SealedTextStream.forEachLine(stream, path: path) { try parser.take($0, $1) }
        try outcome.check(path: path, expected: nil, expectedIn: "")
        return try parser.finish()
    }

    /// A bundle list's lines in order, the version line first.
    struct Parser {
        let path: String
        private var list = BundleList()
        private var versionSeen = false

        init(path: String) { self.path = path }

        mutating func take(_ line: Substring, _ lineNumber: Int) throws {
            guard versionSeen else {
                guard line == "# pgbk bundle list 1" else {
                    throw CatalogError.corrupt(path, "not a pgbk bundle list of a known version (first line: \(line.prefix(60)))")
                }
                versionSeen = true
                return
            }
            if line.isEmpty || line.hasPrefix("#") { return }
            func bad(_ why: String) -> CatalogError { .corrupt(path, "line \(lineNumber): \(why)") }
            let f = line.split(separator: "\t", omittingEmptySubsequences: false)
            switch f.first {
            case "b":
                guard f.count == 4, let n = UInt32(f[1]), let size = UInt64(f[2]), let crc = CRC32C.parseHex(f[3]) else { throw bad("invalid bundle line") }
                guard list.bundles[n] == nil else { throw bad("bundle \(n) twice") }
                list.bundles[n] = Bundle(size: size, checksum: crc)
            case "m":
                guard f.count == 5, let n = UInt32(f[1]), let offset = UInt64(f[2]), let size = UInt64(f[3]) else { throw bad("invalid member line") }
                guard let name = FileList.unescape(f[4]), !name.isEmpty else { throw bad("invalid name") }
                if let why = CatalogPath.problem(with: name) { throw bad("\(why): \(FileList.escape(name))") }
                guard let bundle = list.bundles[n] else { throw bad("member of unknown bundle \(n)") }
                guard offset <= bundle.size, size <= bundle.size - offset else { throw bad("\(FileList.escape(name)) lies outside bundle \(n)") }
                guard list.members[name] == nil else { throw bad("\(FileList.escape(name)) twice") }
                list.members[name] = Member(bundle: n, offset: offset, size: size)
            default:
                throw bad("unknown line type")
            }
        }

        func finish() throws -> BundleList {
            guard versionSeen else { throw CatalogError.corrupt(path, "not a pgbk bundle list of a known version (first line: )") }
            return list
        }
    }
}

extension Repository {
    /// A backup's bundles and their list, when its data goes (expire, a failed backup). The
    /// list first, like the server logs': a crash between leaves bundles nothing names,
    /// which purge removes with the directory.
    public func removeBundles(_ id: String) throws {
        try Self.checkBackupID(id)
        try storage.remove(BundleList.listName(backup: backupName(id)))
        try storage.removeTree(backupName(id) + "/bundle")
    }
}
