import StorageInterface
import Synchronization
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The repository lock between hosts that share a repository only through its store (S3
/// has no lock a killed holder releases). Each holder writes a lease object of its own,
/// `locks/<x|s>-<expiry>-<id>`, and then lists `locks/`: an exclusive holder needs no other
/// live lease, a shared one no live exclusive one; otherwise it removes its own, waits a
/// random moment and tries again. Since each looks only after writing its own, two can both
/// back off but never both hold. A thread renews the lease (a new object, then the old one
/// removed) every third of its term; a killed holder's lease simply expires. Names carry
/// everything, so a listing is enough; the object's text names the holder for messages.
public final class RepositoryLease: Sendable {
    public static let directory = "locks"
    /// Seconds a lease lives unless renewed (PGBK_LOCK_LEASE, 120 by default), and the
    /// clock difference between hosts that is tolerated before a lease counts as expired.
    static var term: Int64 { getenv("PGBK_LOCK_LEASE").flatMap { Int64(String(cString: $0)) }.map { max(2, $0) } ?? 120 }
    static var skew: Int64 { max(1, min(30, term / 4)) }

    struct Lease {
        let name: String
        let exclusive: Bool
        let expires: Int64
        let id: String
        /// The writing host's tag (a hash of its name).
        let host: String

        init?(_ name: String) {
            let parts = name.split(separator: "-")
            guard parts.count == 4, parts[0] == "x" || parts[0] == "s", let expires = Int64(parts[1]) else { return nil }
            self.name = name
            exclusive = parts[0] == "x"
            self.expires = expires
            id = String(parts[2])
            host = String(parts[3])
        }
    }

    private let storage: any RepositoryStorage
    private let id: String
    /// This host's tag; its leases other than this one are dead when the caller holds the
    /// host lock (a holder whose removal failed, a store that went away mid-command).
    private let host: String
    private let holdsHostLock: Bool
    private let exclusive: Bool
    private let holder: String
    private let state = Mutex<(current: String?, stop: Bool)>((nil, false))
    private let renewer = Mutex<pthread_t?>(nil)

    private init(storage: any RepositoryStorage, exclusive: Bool, holder: String, host: String, holdsHostLock: Bool) {
        self.storage = storage
        self.exclusive = exclusive
        self.holder = holder
        self.host = host
        self.holdsHostLock = holdsHostLock
        id = String(UInt64.random(in: 0...UInt64.max), radix: 16)
    }

    /// A short tag for a host name (FNV-1a), for lease names.
    public static func hostTag(_ name: String) -> String { LocalHost.tag(name) }

    /// Holds the lease or throws `RepositoryLock.Busy` after `timeoutSeconds`. With
    /// `holdsHostLock`, no other process of this host holds the repository lock, so this
    /// host's other leases are dead and removed.
    public static func acquire(_ storage: any RepositoryStorage, exclusive: Bool, holder: String, host: String,
                               holdsHostLock: Bool, timeoutSeconds: Int) throws -> RepositoryLease {
        let lease = RepositoryLease(storage: storage, exclusive: exclusive, holder: holder, host: host, holdsHostLock: holdsHostLock)
        let deadline = Timestamp.now().seconds + Int64(timeoutSeconds)
        try storage.makeDirectories(directory)
        while true {
            let mine = try lease.write()
            let conflicting = try lease.live().filter { $0.id != lease.id && (exclusive || $0.exclusive) }
            guard let first = conflicting.first else {
                lease.state.withLock { $0.current = mine }
                lease.startRenewing()
                return lease
            }
            try? storage.remove(mine)
            guard Timestamp.now().seconds < deadline else {
                let text = (try? storage.readText(directory + "/" + first.name, limit: 4096)) ?? ""
                throw RepositoryLock.Busy(path: storage.describe(directory + "/" + first.name),
                                          holder: text.split(separator: "\n").first.map(String.init) ?? "", waited: timeoutSeconds)
            }
            usleep(UInt32.random(in: 200_000...1_000_000))
        }
    }

    /// A new lease object expiring a term from now; its name.
    private func write() throws -> String {
        let name = Self.directory + "/\(exclusive ? "x" : "s")-\(Timestamp.now().seconds + Self.term)-\(id)-\(host)"
        try storage.writeAll(name, Array((holder + "\n").utf8), noReplace: true)
        return name
    }

    /// The leases that have not expired; long-expired ones (killed holders') are removed.
    private func live() throws -> [Lease] {
        let now = Timestamp.now().seconds
        var live: [Lease] = []
        for entry in try storage.list(Self.directory) where entry.kind == .file {
            guard let lease = Lease(entry.name) else { continue }
            if holdsHostLock && lease.host == host && lease.id != id {
                try? storage.remove(Self.directory + "/" + entry.name)
            } else if lease.expires + Self.skew >= now {
                live.append(lease)
            } else if lease.expires + 10 * Self.term < now {
                try? storage.remove(Self.directory + "/" + entry.name)
            }
        }
        return live
    }

    private func startRenewing() {
        let thread = LocalHost.startThread { [self] in
            var last = Timestamp.now().seconds
            while !state.withLock({ $0.stop }) {
                usleep(100_000)
                guard Timestamp.now().seconds - last >= max(1, Self.term / 3) else { continue }
                last = Timestamp.now().seconds
                renew()
            }
        }
        renewer.withLock { $0 = thread }
    }

    /// Writes the next lease before removing the current one, so that one always lives.
    private func renew() {
        do {
            let next = try write()
            let old = state.withLock { s -> String? in
                let old = s.current
                s.current = next
                return old
            }
            if let old { try? storage.remove(old) }
        } catch {
            // Repository prints nothing else; a lease that is not renewed matters now, not later.
            fputs("pgbk: warning: could not renew the repository lease in \(storage.describe(Self.directory)): \(error)\n", stderr)
        }
    }

    public func release() {
        state.withLock { $0.stop = true }
        if let thread = renewer.withLock({ t -> pthread_t? in defer { t = nil }; return t }) { pthread_join(thread, nil) }
        if let current = state.withLock({ s -> String? in defer { s.current = nil }; return s.current }) {
            try? storage.remove(current)
        }
    }

    deinit { release() }
}
