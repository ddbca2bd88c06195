import ArgumentParser
import Engine
import Repository

// Option values that ArgumentParser parses and checks itself, listing the choices in help
// and in the one-line error for anything else.

extension Compression: ExpressibleByArgument {
    public init?(argument: String) { self.init(configValue: argument) }
    public static var allValueStrings: [String] { allCases.map(\.rawValue) }
}

extension RecoveryTarget.Action: ExpressibleByArgument, CaseIterable {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
    public static var allCases: [RecoveryTarget.Action] { [.pause, .promote, .shutdown] }
}

/// `-b/--backup-mode`: pg_rman's names, with its one-letter forms.
enum BackupMethodArgument: String, ExpressibleByArgument, CaseIterable {
    case copy, `protocol`
}

enum BackupModeArgument: String, ExpressibleByArgument, CaseIterable {
    case full, incremental, diff

    init?(argument: String) {
        switch argument.lowercased() {
        case "full", "f": self = .full
        case "incremental", "i": self = .incremental
        case "diff", "differential", "d": self = .diff
        default: return nil
        }
    }

    /// A differential is stored as an incremental whose parent is the newest full.
    var mode: BackupMode { self == .full ? .full : .incremental }
}

/// `--max-rate` as pg_basebackup takes it: kB/s, or with a k or M suffix, 32 kB/s to 1 GB/s.
func parseMaxRate(_ text: String) throws -> Int {
    var digits = Substring(text), scale = 1
    if let last = digits.last, last == "k" || last == "M" {
        scale = last == "M" ? 1024 : 1
        digits = digits.dropLast()
    }
    guard let value = Int(digits), value > 0, value <= 1_048_576 / scale, (32...1_048_576).contains(value * scale) else {
        throw EngineError.invalidArgument("--max-rate must be from 32 to 1048576 (kB/s), or with k or M, not \(text)")
    }
    return value * scale
}
