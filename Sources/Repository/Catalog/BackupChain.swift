/// The one walk up a chain of backups, for everything that needs one (restore, parent
/// choice, validate, retention): the backup and its parents, newest first, as far as they
/// are among `backups`. A full backup ends it; a missing parent ends it early; a parent met
/// twice is a loop, reported rather than followed.
public enum BackupChain {
    public static func ancestry(of info: BackupInfo, in backups: [BackupInfo]) -> (members: [BackupInfo], loopsAt: String?) {
        let byID = Dictionary(backups.map { ($0.id, $0) }) { a, _ in a }
        var members = [info]
        var seen: Set<String> = [info.id]
        var current = info
        while current.mode == .incremental, let parentID = current.parentID, let parent = byID[parentID] {
            guard seen.insert(parent.id).inserted else { return (members, parent.id) }
            members.append(parent)
            current = parent
        }
        return (members, nil)
    }
}
