import Testing
import TestSupport
@testable import Repository
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Issue 22, defect 8: the repository lock between hosts that share only the store (two
/// acquirers on one storage stand for two hosts: no host lock is involved here).
@Suite struct RepositoryLeaseTests {
    @Test func oneExclusiveHolderOrManySharedOnes() throws {
        let storage = MemoryStorage()
        let backup = try RepositoryLease.acquire(storage, exclusive: true, holder: "PID 1 (pgbk backup) on db1", host: "db1", holdsHostLock: true, timeoutSeconds: 0)
        do {
            _ = try RepositoryLease.acquire(storage, exclusive: true, holder: "PID 2 (pgbk expire) on backup1", host: "backup1", holdsHostLock: true, timeoutSeconds: 0)
            Issue.record("a second exclusive lease was granted")
        } catch let busy as RepositoryLock.Busy {
            #expect(busy.holder.contains("pgbk backup") && busy.holder.contains("db1"), "\(busy)")
        }
        #expect(throws: RepositoryLock.Busy.self) { try RepositoryLease.acquire(storage, exclusive: false, holder: "restore", host: "backup1", holdsHostLock: false, timeoutSeconds: 0) }
        #expect(try storage.list(RepositoryLease.directory).count == 1, "the refused ones removed their leases")
        backup.release()
        #expect(try storage.list(RepositoryLease.directory).isEmpty)

        let restore1 = try RepositoryLease.acquire(storage, exclusive: false, holder: "restore 1", host: "db1", holdsHostLock: false, timeoutSeconds: 0)
        let restore2 = try RepositoryLease.acquire(storage, exclusive: false, holder: "restore 2", host: "db1", holdsHostLock: false, timeoutSeconds: 0)
        #expect(throws: RepositoryLock.Busy.self) { try RepositoryLease.acquire(storage, exclusive: true, holder: "expire", host: "backup1", holdsHostLock: true, timeoutSeconds: 0) }
        restore1.release()
        restore2.release()
        let expire = try RepositoryLease.acquire(storage, exclusive: true, holder: "expire", host: "backup1", holdsHostLock: true, timeoutSeconds: 0)
        expire.release()
    }

    /// A killed holder's lease (no renewal) stops counting once expired, past the allowed
    /// clock difference; one expired long ago is cleaned away.
    @Test func aKilledHoldersLeaseExpires() throws {
        let storage = MemoryStorage()
        let now = Timestamp.now().seconds
        try storage.writeAll(RepositoryLease.directory + "/x-\(now - RepositoryLease.skew - 1)-dead-db2", Array("killed\n".utf8))
        try storage.writeAll(RepositoryLease.directory + "/x-\(now - 100_000)-ancient-db2", Array("killed long ago\n".utf8))
        let lease = try RepositoryLease.acquire(storage, exclusive: true, holder: "next", host: "backup1", holdsHostLock: true, timeoutSeconds: 0)
        #expect(try !storage.list(RepositoryLease.directory).contains { $0.name.hasSuffix("-ancient-db2") })
        lease.release()
        // Within the clock allowance it still counts.
        try storage.writeAll(RepositoryLease.directory + "/x-\(now - RepositoryLease.skew + 5)-recent-db2", Array("just stopped renewing\n".utf8))
        #expect(throws: RepositoryLock.Busy.self) { try RepositoryLease.acquire(storage, exclusive: true, holder: "next", host: "backup1", holdsHostLock: true, timeoutSeconds: 0) }
    }
}

/// A lease of this host that is still within its term but whose holder is gone (its removal
/// failed: the store went away mid-command) does not block this host, which holds the host
/// lock; another host still waits for it to expire.
@Suite struct SameHostLeaseTests {
    @Test func thisHostsDeadLeaseIsRemovedOtherHostsWait() throws {
        let storage = MemoryStorage()
        let now = Timestamp.now().seconds
        try storage.writeAll(RepositoryLease.directory + "/x-\(now + 100)-left-db1", Array("PID 9 (pgbk backup) on db1\n".utf8))
        #expect(throws: RepositoryLock.Busy.self) {
            try RepositoryLease.acquire(storage, exclusive: true, holder: "other host", host: "db2", holdsHostLock: true, timeoutSeconds: 0)
        }
        let lease = try RepositoryLease.acquire(storage, exclusive: true, holder: "same host", host: "db1", holdsHostLock: true, timeoutSeconds: 0)
        #expect(try !storage.list(RepositoryLease.directory).contains { $0.name.contains("-left-") })
        lease.release()
    }
}

/// Issue 22, defect 8: the host lock directory, which anyone could have made first.
@Suite struct HostLockDirectoryTests {
    @Test func onlyAStickyOrPrivateRealDirectoryIsTrusted() throws {
        let dir = try TestDirectory()
        let made = try HostLocks.checked(dir.path + "/locks")
        var st = stat()
        #expect(lstat(made, &st) == 0 && st.st_mode & 0o7777 == 0o1777, "made 01777 whatever the umask")
        try FileSystem.makeDirectory(dir.path + "/open", mode: 0o700)
        chmod(dir.path + "/open", 0o777)
        #expect(throws: CatalogError.self) { try HostLocks.checked(dir.path + "/open") }
        try FileSystem.makeSymlink(dir.path + "/link", target: made)
        #expect(throws: CatalogError.self) { try HostLocks.checked(dir.path + "/link") }
        let (fd, writable) = try HostLocks.open(made + "/a.lock")
        #expect(writable)
        close(fd)
        try FileSystem.makeSymlink(made + "/b.lock", target: made + "/a.lock")
        #expect(throws: SystemError.self) { try HostLocks.open(made + "/b.lock") }
    }
}
