import PostgresFormat
import StorageInterface
import Synchronization

/// What a BundledStorage and its deferring view share: the bundle lists read so far, per
/// backup, and the sessions of the backups being written.
final class BundleState: Sendable {
    private let lists = Mutex<[String: BundleList?]>([:])
    private let sessions = Mutex<[String: BundleSession]>([:])
    let windows = BundleWindows()

    func cached(_ backup: String) -> BundleList? {
        lists.withLock { $0[backup] ?? nil }
    }

    /// The backup's bundle list, read once (nil when it has none: an unbundled backup, or
    /// one written before bundles).
    func list(_ backup: String, from storage: any RepositoryStorage) throws -> BundleList? {
        if let known = lists.withLock({ $0[backup] }) { return known }
        let name = BundleList.listName(backup: backup)
        let list: BundleList?
        do {
            let stream = try storage.openRead(name)
            defer { stream.close() }
            list = try BundleList.read(stream, path: storage.describe(name))
        } catch StorageError.notFound {
            list = nil
        }
        lists.withLock { $0[backup] = list }
        return list
    }

    func session(_ backup: String, writer: any RepositoryStorage, base: any RepositoryStorage, policy: BundlePolicy) -> BundleSession {
        sessions.withLock { all in
            if let found = all[backup] { return found }
            let made = BundleSession(backup: backup, writer: writer, base: base, policy: policy)
            all[backup] = made
            return made
        }
    }

    /// Drops a file written into a bundle of a backup still being written (the bytes stay,
    /// unreferenced); false when it is not one.
    func removeWritten(_ backup: String, _ member: String) -> Bool {
        guard let session = sessions.withLock({ $0[backup] }) else { return false }
        return session.remove(member)
    }

    func forget(below prefix: String) {
        lists.withLock { all in
            for key in all.keys where Self.isAtOrBelow(key, prefix) { all[key] = nil }
        }
    }

    func finishSessions(at name: String) throws {
        let chosen = sessions.withLock { all in
            let keys = all.keys.filter { Self.isAtOrBelow($0, name) || Self.isAtOrBelow(name, $0) }
            return keys.compactMap { all.removeValue(forKey: $0) }
        }
        for session in chosen {
            let list = try session.finish()
            lists.withLock { $0[session.backup] = list }
        }
    }

    static func isAtOrBelow(_ name: String, _ prefix: String) -> Bool {
        prefix.isEmpty || name == prefix || name.hasPrefix(prefix + "/")
    }
}

/// The bundles of one backup being written. A file is appended whole to a bundle no other
/// writer holds at that moment; a bundle is committed once it reaches the policy's size, the
/// rest at `finish`, which then writes the list. A bundle that fails to write fails the
/// session: files already appended to it were lost, so `finish` throws and the backup never
/// becomes DONE.
final class BundleSession: Sendable {
    let backup: String
    private let writer: any RepositoryStorage
    private let base: any RepositoryStorage
    private let policy: BundlePolicy
    private let state = Mutex<State>(State())

    /// A bundle's write stream crosses threads only through the lock, held by one writer at a time.
    private struct OpenBundle: @unchecked Sendable {
        let number: UInt32
        let stream: any StorageWriteStream
        var size: UInt64 = 0
        var checksum = CRC32C()
    }

    private struct State {
        var idle: [OpenBundle] = []
        var next: UInt32 = 1
        var list = BundleList()
        var failure: (any Error)?
        var madeDirectory = false
    }

    init(backup: String, writer: any RepositoryStorage, base: any RepositoryStorage, policy: BundlePolicy) {
        self.backup = backup
        self.writer = writer
        self.base = base
        self.policy = policy
    }

    private var directory: String { backup + "/bundle" }

    private func take() throws -> OpenBundle {
        let (found, number) = try state.withLock { s -> (OpenBundle?, UInt32) in
            if let failure = s.failure { throw failure }
            if let open = s.idle.popLast() { return (open, 0) }
            // Under the lock: no writer opens a bundle before its directory exists.
            if !s.madeDirectory { try writer.makeDirectories(directory) }
            s.madeDirectory = true
            defer { s.next += 1 }
            return (nil, s.next)
        }
        if let found { return found }
        return OpenBundle(number: number, stream: try writer.openWrite(BundleList.bundleName(backup: backup, number), expectedSize: nil, noReplace: true))
    }

    func append(_ member: String, _ bytes: [UInt8]) throws {
        var open = try take()
        let offset = open.size
        do {
            try bytes.withUnsafeBytes { try open.stream.write($0) }
            open.size += UInt64(bytes.count)
            open.checksum.update(bytes)
            let full = open.size >= policy.size
            if full { try open.stream.commit() }
            state.withLock { s in
                s.list.members[member] = BundleList.Member(bundle: open.number, offset: offset, size: UInt64(bytes.count))
                if full { s.list.bundles[open.number] = BundleList.Bundle(size: open.size, checksum: open.checksum.value) } else { s.idle.append(open) }
            }
        } catch {
            open.stream.abandon()
            state.withLock { $0.failure = $0.failure ?? error }
            throw error
        }
    }

    func remove(_ member: String) -> Bool {
        state.withLock { $0.list.members.removeValue(forKey: member) != nil }
    }

    /// Commits the open bundles, makes them durable and writes the list; the list, or nil
    /// when nothing was bundled.
    func finish() throws -> BundleList? {
        let (open, failure) = state.withLock { s in
            defer { s.idle = [] }
            return (s.idle, s.failure)
        }
        if let failure {
            for bundle in open { bundle.stream.abandon() }
            throw failure
        }
        var list = state.withLock { $0.list }
        for bundle in open {
            try bundle.stream.commit()
            list.bundles[bundle.number] = BundleList.Bundle(size: bundle.size, checksum: bundle.checksum.value)
        }
        guard !list.bundles.isEmpty else { return nil }
        try writer.syncAll(directory)
        try base.syncDirectory(directory)
        try base.syncDirectory(backup)
        try base.writeAll(BundleList.listName(backup: backup), Array(list.encode().utf8))
        return list
    }
}
