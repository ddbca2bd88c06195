import Synchronization
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Messages for the person (or cron) running pgbk. Progress and warnings go to stderr so that
/// stdout carries only results (`show`, `--json`).
public enum Console {
    nonisolated(unsafe) public static var quiet = false
    nonisolated(unsafe) public static var verbose = false
    /// The repository a command works on, when the cluster has several ("repo2 (s3://...)"):
    /// every message line names it. Set once, before any worker starts.
    nonisolated(unsafe) public static var repository: String?

    private static var named: String { repository.map { $0 + ": " } ?? "" }

    public static func info(_ text: String) {
        if !quiet { writeLine(2, "pgbk: " + named + text) }
    }

    public static func detail(_ text: String) {
        if verbose { writeLine(2, "pgbk: " + named + text) }
    }

    public static func warning(_ text: String) {
        writeLine(2, "pgbk: warning: " + named + text)
    }

    public static func error(_ text: String) {
        writeLine(2, "pgbk: error: " + named + text)
    }

    /// A progress line (ProgressMeter) is on the terminal without its newline: a message
    /// printed meanwhile first clears it, and the meter draws it again.
    static let progressLineShown = Atomic<Bool>(false)

    /// Text as it is, on stderr (ProgressMeter's lines).
    static func writeRaw(_ text: String) {
        writeLine(2, text, addNewline: false)
    }

    public static func output(_ text: String, terminator: String = "\n") {
        writeLine(1, text + terminator, addNewline: false)
    }

    static func writeLine(_ fd: Int32, _ text: String, addNewline: Bool = true) {
        var bytes = Array(text.utf8)
        if fd == 2 && addNewline && progressLineShown.exchange(false, ordering: .relaxed) { bytes = Array("\r\u{1B}[K".utf8) + bytes }
        if addNewline && bytes.last != UInt8(ascii: "\n") { bytes.append(UInt8(ascii: "\n")) }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            if n <= 0 { if errno == EINTR { continue }; return }
            offset += n
        }
    }
}
