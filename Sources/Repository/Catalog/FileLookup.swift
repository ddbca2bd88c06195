/// A backup's file entries found by path: one sorted array searched by halves, a fraction of
/// a dictionary's memory for a cluster of 100,000 files (an incremental looks up every file
/// of its parent).
public struct FileLookup: Sendable {
    private let entries: [FileEntry]

    public init(_ entries: consuming [FileEntry]) {
        var list = entries
        list.sort { Self.precedes($0.path, $1.path) }
        self.entries = list
    }

    public var count: Int { entries.count }

    public subscript(path: String) -> FileEntry? {
        var lo = 0, hi = entries.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if Self.precedes(entries[mid].path, path) { lo = mid + 1 } else { hi = mid }
        }
        return lo < entries.count && entries[lo].path == path ? entries[lo] : nil
    }

    /// Byte order of the UTF-8: the same for every path, and cheaper than String's own.
    private static func precedes(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }
}
