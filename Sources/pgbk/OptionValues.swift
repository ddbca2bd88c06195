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
