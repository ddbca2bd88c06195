/// The block numbers of one relation fork, kept small: in chunks of 65,536 blocks (512 MB of
/// relation, as PostgreSQL's block reference tables cut them), each a sorted list of 16-bit
/// offsets while it has few entries and an 8 kB bitmap once a list would be larger.
struct BlockSet: Sendable, Equatable {
    private enum Chunk: Sendable, Equatable {
        case list([UInt16])
        case bitmap([UInt64])
    }

    static let chunkBlocks = 65_536
    /// A list of this many offsets takes as much memory as a bitmap.
    static let listLimit = 4096

    private var chunks: [UInt32: Chunk] = [:]
    private(set) var count = 0
    /// Roughly what it takes in memory, kept as it changes.
    private(set) var memoryBytes = 64

    mutating func insert(_ block: UInt32) {
        let key = block >> 16, offset = UInt16(truncatingIfNeeded: block)
        switch chunks[key] {
        case nil:
            chunks[key] = .list([offset])
            count += 1
            memoryBytes += 50
        case .list(var list)?:
            let at = Self.lowerBound(list, offset)
            guard at == list.count || list[at] != offset else { return }
            if list.count < Self.listLimit {
                chunks[key] = nil  // no copy of the array while it is changed
                list.insert(offset, at: at)
                chunks[key] = .list(list)
                memoryBytes += 2
            } else {
                var words = [UInt64](repeating: 0, count: Self.chunkBlocks / 64)
                for o in list + [offset] { words[Int(o) >> 6] |= 1 << UInt64(o & 63) }
                chunks[key] = .bitmap(words)
                memoryBytes += Self.chunkBlocks / 8 - list.count * 2
            }
            count += 1
        case .bitmap(var words)?:
            let bit: UInt64 = 1 << UInt64(offset & 63)
            guard words[Int(offset) >> 6] & bit == 0 else { return }
            chunks[key] = nil  // no copy of the 8 kB array while it is changed
            words[Int(offset) >> 6] |= bit
            chunks[key] = .bitmap(words)
            count += 1
        }
    }

    func contains(_ block: UInt32) -> Bool {
        let offset = UInt16(truncatingIfNeeded: block)
        switch chunks[block >> 16] {
        case nil: return false
        case .list(let list)?:
            let at = Self.lowerBound(list, offset)
            return at < list.count && list[at] == offset
        case .bitmap(let words)?: return words[Int(offset) >> 6] & (1 << UInt64(offset & 63)) != 0
        }
    }

    /// Every block, in order.
    var sorted: [UInt32] {
        var out: [UInt32] = []
        out.reserveCapacity(count)
        for key in chunks.keys.sorted() {
            let base = key << 16
            switch chunks[key]! {
            case .list(let list): out += list.map { base | UInt32($0) }
            case .bitmap(let words):
                for (w, word) in words.enumerated() where word != 0 {
                    for bit in 0..<64 where word & (1 << UInt64(bit)) != 0 { out.append(base | UInt32(w * 64 + bit)) }
                }
            }
        }
        return out
    }

    private static func lowerBound(_ list: [UInt16], _ value: UInt16) -> Int {
        var lo = 0, hi = list.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if list[mid] < value { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}
