#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// What pgbk asks of the host it runs on: its name, a user's name, a thread of its own.
public enum LocalHost {
    /// This host's name ("" when it cannot be had).
    public static func name() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The login name of `uid`, or "uid N" when it has none.
    public static func userName(_ uid: UInt32) -> String {
        guard let pw = getpwuid(uid), let n = pw.pointee.pw_name else { return "uid \(uid)" }
        return String(decoding: UnsafeRawBufferPointer(start: n, count: strlen(n)), as: UTF8.self)
    }

    /// Starts `body` on a thread of its own, to be joined; nil when none could be created.
    public static func startThread(_ body: @escaping @Sendable () -> Void) -> pthread_t? {
        let box = Unmanaged.passRetained(ThreadBody(body))
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, box.toOpaque())
        if rc == 0 { return thread }
        box.release()
        return nil
    }

    /// A short stable tag for any text (FNV-1a, hex): lock file and lease names.
    public static func tag(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in text.utf8 { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
        return String(hash, radix: 16)
    }
}

private final class ThreadBody: Sendable {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
}
