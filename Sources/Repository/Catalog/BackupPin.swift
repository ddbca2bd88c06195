/// `pgbk pin ID [--until DATE]`: the backup, its chain and the WAL that makes it consistent
/// survive expire and delete while the pin holds. In backup.ini as `PINNED_UNTIL=forever` or
/// a time in UTC.
public enum BackupPin: Sendable, Equatable {
    case forever
    case until(Timestamp)

    public init?(iniValue: String) {
        if iniValue == "forever" { self = .forever; return }
        guard let time = Timestamp(iniValue) else { return nil }
        self = .until(time)
    }

    public var iniValue: String {
        switch self {
        case .forever: return "forever"
        case .until(let time): return time.description
        }
    }

    public func holds(at now: Timestamp) -> Bool {
        switch self {
        case .forever: return true
        case .until(let time): return now < time
        }
    }
}
