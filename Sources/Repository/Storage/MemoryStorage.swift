import StorageInterface
import Synchronization
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// A repository held in memory, for tests: the second driver that proves the storage seam,
/// and a way to fail exactly the Nth operation of a kind (a write's publication, a read, a
/// list, a remove) or to cut a read short, so that tests can show every failure ends in a
/// clear error with the catalog still consistent.
public final class MemoryStorage: RepositoryStorage {
    public enum Operation: String, Sendable, CaseIterable { case read, publish, list, remove }

    struct File { var bytes: [UInt8]; var mtime: Int64 }
    struct State {
        var files: [String: File] = [:]
        var counts: [Operation: Int] = [:]
        var failures: [Operation: (at: Int, matching: String?)] = [:]
        var shortRead: (after: Int, matching: String?)?
        var locks: Set<String> = []
        var opened: [String] = []
        var removed: [String] = []
    }

    private let state = Mutex(State())
    public let location: String
    public var features: StorageFeatures { [] }
    /// When set, every read returns 1 to this many bytes, as a network driver may: the
    /// storage contract says consumers never see that (their reads fill), and tests hold
    /// every command path to it.
    public let readsReturnAtMost: Int?

    public init(location: String = "memory://test", readsReturnAtMost: Int? = nil) {
        self.location = location
        self.readsReturnAtMost = readsReturnAtMost.map { max(1, $0) }
    }

    public func describe(_ name: String) -> String { location + "/" + name }

    /// The `n`th `operation` from now on fails (1 = the next one); with `matching`, the nth
    /// of those on a name that contains it.
    public func fail(_ operation: Operation, after n: Int = 1, matching: String? = nil) {
        state.withLock { s in
            s.failures[operation] = (n, matching)
            s.counts[operation] = 0
        }
    }

    /// The next read stream (of a name containing `matching`) ends after `bytes` bytes, as a
    /// dropped connection would.
    public func cutNextRead(after bytes: Int, matching: String? = nil) {
        state.withLock { $0.shortRead = (bytes, matching) }
    }

    /// Counts the operation and throws when it is the one set to fail.
    private func count(_ operation: Operation, _ name: String) throws {
        let failing = state.withLock { s -> Bool in
            guard let failure = s.failures[operation], failure.matching.map({ name.contains($0) }) ?? true else { return false }
            let n = (s.counts[operation] ?? 0) + 1
            s.counts[operation] = n
            if failure.at == n { s.failures[operation] = nil; return true }
            return false
        }
        if failing { throw StorageError.injected("\(operation.rawValue) of \(describe(name))") }
    }

    public var names: [String] { state.withLock { $0.files.keys.sorted() } }

    /// Every name opened for reading so far, in order (to count how often a command reads).
    public var reads: [String] { state.withLock { $0.opened } }

    /// Every name removed so far, in order (on object storage each removal is a request).
    public var removals: [String] { state.withLock { $0.removed } }

    public func openRead(_ name: String, range: Range<UInt64>?) throws -> any StorageReadStream {
        try count(.read, name)
        let (file, cut) = state.withLock { s -> (File?, Int?) in
            s.opened.append(name)
            guard let short = s.shortRead, short.matching.map({ name.contains($0) }) ?? true else { return (s.files[name], nil) }
            s.shortRead = nil
            return (s.files[name], short.after)
        }
        guard let file else { throw StorageError.notFound(describe(name)) }
        var bytes = file.bytes
        if let range { bytes = Array(bytes[Int(min(range.lowerBound, UInt64(bytes.count)))..<Int(min(range.upperBound, UInt64(bytes.count)))]) }
        if let cut { bytes = Array(bytes.prefix(cut)) }
        return MemoryReadStream(bytes, atMost: readsReturnAtMost, seed: name.utf8.count)
    }

    public func openWrite(_ name: String, expectedSize: UInt64?, noReplace: Bool) throws -> any StorageWriteStream {
        MemoryWriteStream { [self] bytes in
            try count(.publish, name)
            try state.withLock { s in
                if noReplace && s.files[name] != nil { throw StorageError.exists(describe(name)) }
                s.files[name] = File(bytes: bytes, mtime: Timestamp.now().seconds)
            }
        }
    }

    public func list(_ prefix: String) throws -> [StorageEntry] {
        try count(.list, prefix)
        let start = prefix.isEmpty ? "" : prefix + "/"
        return state.withLock { s in
            var entries: [String: StorageEntry] = [:]
            for (name, file) in s.files where name.hasPrefix(start) {
                let rest = name.dropFirst(start.count)
                if let slash = rest.firstIndex(of: "/") {
                    let dir = String(rest[..<slash])
                    entries[dir] = StorageEntry(name: dir, kind: .directory, size: 0, mtime: 0)
                } else {
                    entries[String(rest)] = StorageEntry(name: String(rest), kind: .file, size: UInt64(file.bytes.count), mtime: file.mtime)
                }
            }
            return entries.values.sorted { $0.name < $1.name }
        }
    }

    public func info(_ name: String) throws -> StorageEntry? {
        state.withLock { s in
            if let file = s.files[name] {
                return StorageEntry(name: FileSystem.baseName(of: name), kind: .file, size: UInt64(file.bytes.count), mtime: file.mtime)
            }
            return s.files.keys.contains { $0.hasPrefix(name + "/") }
                ? StorageEntry(name: FileSystem.baseName(of: name), kind: .directory, size: 0, mtime: 0) : nil
        }
    }

    public func remove(_ name: String) throws {
        try count(.remove, name)
        _ = state.withLock { s in
            s.removed.append(name)
            return s.files.removeValue(forKey: name)
        }
    }

    public func removeTree(_ prefix: String) throws {
        try count(.remove, prefix)
        state.withLock { s in
            for name in s.files.keys where name == prefix || name.hasPrefix(prefix + "/") { s.files[name] = nil }
        }
    }

    /// In one process only (the tests'), waiting in small steps.
    public func lock(_ name: String) throws -> any StorageLock {
        while !state.withLock({ $0.locks.insert(name).inserted }) { usleep(1000) }
        return MemoryLock { [self] in _ = state.withLock { $0.locks.remove(name) } }
    }

    public func makeDirectories(_ name: String) throws {}
    public func removeEmptyDirectory(_ name: String) throws {}
    public func syncDirectory(_ name: String) throws {}

    /// A completed write is durable already.
    public func deferringDurability() -> any RepositoryStorage { self }
    public func syncAll(_ name: String) throws {}
    public var repositoryLockPath: String? { nil }
    public func checkWriter() throws {}
    /// A write that is not committed holds nothing in the store.
    public func discardAbandonedWrites() throws -> Int { 0 }

    /// Sets a file's age, for retention tests.
    public func setModificationTime(_ name: String, _ seconds: Int64) {
        state.withLock { $0.files[name]?.mtime = seconds }
    }
}

final class MemoryReadStream: StorageReadStream {
    private let bytes: [UInt8]
    private var offset = 0
    private let atMost: Int?
    private var step: Int

    init(_ bytes: [UInt8], atMost: Int?, seed: Int) {
        self.bytes = bytes
        self.atMost = atMost
        step = seed
    }

    /// The next short length, 1...atMost, varying from read to read (reproducibly).
    private func shortLength() -> Int {
        guard let atMost else { return Int.max }
        step = (step &* 1_103_515_245 &+ 12_345) & 0x7fff_ffff
        return 1 + step % atMost
    }

    func readSome(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buffer.count, bytes.count - offset, shortLength())
        guard n > 0 else { return 0 }
        bytes.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<offset + n])) }
        offset += n
        return n
    }

    func close() {}
}

final class MemoryWriteStream: StorageWriteStream {
    private var bytes: [UInt8] = []
    private var done = false
    private let publish: ([UInt8]) throws -> Void

    init(publish: @escaping ([UInt8]) throws -> Void) { self.publish = publish }

    func write(_ chunk: UnsafeRawBufferPointer) throws { bytes.append(contentsOf: chunk) }

    func commit() throws {
        guard !done else { return }
        try publish(bytes)
        done = true
    }

    func abandon() { bytes = []; done = true }

    /// MemoryStorage stands for an object store: no rename.
    func commit(as name: String) throws { throw StorageError.injected("rename (memory storage has none)") }
}

final class MemoryLock: StorageLock {
    private var unlock: (() -> Void)?
    init(_ unlock: @escaping () -> Void) { self.unlock = unlock }
    deinit { release() }
    func release() {
        unlock?()
        unlock = nil
    }
}
