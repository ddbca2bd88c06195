#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Where locks live for storages without file locks (object stores): on this host, one
/// directory per user (docs/architecture.md, "Locks").
public enum HostLocks {
    public static var directory: String {
        let directory = "/tmp/pgbk-locks-\(geteuid())"
        if !FileSystem.isDirectory(directory) { try? FileSystem.makeDirectory(directory) }
        return directory
    }

    /// A lock file for any name (a URL and a path in it): FNV-1a keeps the file name short
    /// whatever the name's length.
    public static func path(for name: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in name.utf8 { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
        return directory + "/s3-" + String(hash, radix: 16) + ".lock"
    }
}
