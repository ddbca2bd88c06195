import Repository
import Synchronization
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// How `-P/--progress` shows itself: redrawn in place on a terminal, a line now and then in a
/// log, or not at all (cron without -P, and --quiet).
public enum ProgressStyle: Sendable {
    case off, terminal, log
}

/// Bytes and files done of the total, the rate and the time left, drawn on stderr by a thread
/// of its own (twice a second on a terminal, every 10 s in a log) while workers add what they
/// finish. The last state stays on screen as one line when the work is done.
public final class ProgressMeter: Sendable {
    nonisolated(unsafe) public static var style = ProgressStyle.off

    private let label: String
    private let totalBytes: UInt64
    private let totalFiles: Int
    private let style: ProgressStyle
    private let started = monotonicSeconds()
    private let bytes = Atomic<UInt64>(0)
    private let files = Atomic<Int>(0)
    private let stopped = Atomic<Bool>(false)
    private let drawer = Mutex<pthread_t?>(nil)

    /// Whether `start` draws (callers that must count their totals first ask this).
    public static var isShown: Bool { style != .off && !Console.quiet }

    /// nil when progress is off: callers write `meter?.add(...)`.
    public static func start(_ label: String, totalBytes: UInt64, totalFiles: Int) -> ProgressMeter? {
        guard isShown else { return nil }
        let meter = ProgressMeter(label: label, totalBytes: totalBytes, totalFiles: totalFiles, style: style)
        meter.startDrawing()
        return meter
    }

    private init(label: String, totalBytes: UInt64, totalFiles: Int, style: ProgressStyle) {
        self.label = label
        self.totalBytes = totalBytes
        self.totalFiles = totalFiles
        self.style = style
    }

    public func add(bytes count: UInt64, files done: Int = 0) {
        bytes.add(count, ordering: .relaxed)
        if done > 0 { files.add(done, ordering: .relaxed) }
    }

    /// Stops the drawing thread and leaves the final state as a line of its own.
    public func finish() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        if let thread = drawer.withLock({ t in defer { t = nil }; return t }) { pthread_join(thread, nil) }
        Console.writeRaw((style == .terminal ? "\r" : "") + line(final: true) + (style == .terminal ? "\u{1B}[K\n" : "\n"))
        Console.progressLineShown.store(false, ordering: .relaxed)
    }

    private func startDrawing() {
        let interval: UInt32 = style == .terminal ? 500_000 : 10_000_000
        let thread = LocalHost.startThread { [self] in
            var slept: UInt32 = 0
            while !stopped.load(ordering: .acquiring) {
                usleep(100_000)
                slept += 100_000
                guard slept >= interval, !stopped.load(ordering: .acquiring) else { continue }
                slept = 0
                if style == .terminal {
                    Console.writeRaw("\r" + line(final: false) + "\u{1B}[K")
                    Console.progressLineShown.store(true, ordering: .relaxed)
                } else {
                    Console.writeRaw(line(final: false) + "\n")
                }
            }
        }
        drawer.withLock { $0 = thread }
    }

    /// "pgbk: restore  45%  480.3 MB of 1.0 GB, 210.5 MB/s, 3 s left, 512 of 1003 files"
    func line(final: Bool) -> String {
        let done = bytes.load(ordering: .relaxed)
        let elapsed = max(monotonicSeconds() - started, 0.001)
        let rate = Double(done) / elapsed
        let percent = totalBytes == 0 ? 100 : Int(Double(done) * 100 / Double(totalBytes))
        var text = "pgbk: \(label) \(percent)% \(formatBytes(done)) of \(formatBytes(totalBytes)), \(formatBytes(UInt64(rate)))/s"
        if final {
            text += " in \(Self.formatSeconds(elapsed))"
        } else if rate > 0, done < totalBytes {
            text += ", \(Self.formatSeconds(Double(totalBytes - done) / rate)) left"
        }
        return text + ", \(files.load(ordering: .relaxed)) of \(totalFiles) files"
    }

    static func formatSeconds(_ seconds: Double) -> String {
        let s = Int(seconds.rounded(.up))
        if s < 60 { return "\(s) s" }
        if s < 3600 { return "\(s / 60) min \(s % 60) s" }
        return "\(s / 3600) h \(s % 3600 / 60) min"
    }
}
