import PostgresFormat
import Repository

/// Which backups a retention rule keeps. Pure: the catalog and the clock in, a decision out.
public enum RetentionPlanner {
    public struct Policy: Sendable, Equatable {
        /// Full backups to keep, each with its incrementals.
        public var generations: Int?
        /// Keep what restores to any moment of the last N days.
        public var days: Int?

        public init(generations: Int? = nil, days: Int? = nil) {
            self.generations = generations
            self.days = days
        }
    }

    public struct Decision: Sendable, Equatable {
        public var keep: [String]
        public var expire: [String]
    }

    /// A backup survives when either rule keeps it; the parents of kept incrementals, pinned
    /// backups (their chains with them) and the newest usable full backup always survive; failed backups (ERROR, CORRUPT) older than
    /// the oldest kept one go. RUNNING, DELETING and DELETED backups are left alone.
    public static func plan(_ backups: [BackupInfo], policy: Policy, now: Timestamp) -> Decision {
        finish(backups, keep: wanted(backups, policy: policy, now: now), now: now)
    }

    /// What the policy keeps for its own sake, before parents, pins and the newest full.
    static func wanted(_ backups: [BackupInfo], policy: Policy, now: Timestamp) -> Set<String> {
        let usable = backups.filter(\.isUsable)
        var keep = Set<String>()
        if let generations = policy.generations {
            // Generations count validated (OK) fulls: a new full is no generation until
            // validate says so, or one good full fewer would remain if it turns out bad.
            let fulls = backups.filter { $0.status == .ok && $0.mode == .full }.suffix(max(generations, 0))
            if let oldest = fulls.first {
                // The kept fulls, every later backup building on them, and every backup not yet
                // validated after the oldest of them (it may become the next generation).
                for b in usable where chainRoot(b, backups).map({ root in fulls.contains { $0.id == root } }) == true
                    || (b.status == .done && b.id > oldest.id) {
                    keep.insert(b.id)
                }
            }
        }
        if let days = policy.days {
            let cutoff = Timestamp(seconds: now.seconds - Int64(days) * 86_400)
            for b in usable where (b.endTime ?? b.startTime) >= cutoff { keep.insert(b.id) }
            // The newest backup that ended before the cutoff is the base for the window's start.
            if let base = usable.last(where: { ($0.endTime ?? $0.startTime) < cutoff }) { keep.insert(base.id) }
        }
        return keep
    }

    /// `expire --merge` (incremental forever): the incremental to merge so that the policy
    /// needs no older backup; nil when the oldest backup it keeps is a full, or its chain is
    /// all kept anyway (wanted, or pinned).
    public static func mergeTarget(_ backups: [BackupInfo], policy: Policy, now: Timestamp) -> String? {
        let wanted = wanted(backups, policy: policy, now: now)
        guard let oldest = backups.first(where: { wanted.contains($0.id) }), oldest.mode == .incremental, oldest.isUsable else { return nil }
        let ancestors = BackupChain.ancestry(of: oldest, in: backups).members.dropFirst()
        let freed = ancestors.contains { !wanted.contains($0.id) && $0.pin?.holds(at: now) != true }
        return freed ? oldest.id : nil
    }

    /// `pgbk delete DATE` (pg_rman): keep what restores to DATE and everything after it; with
    /// `force`, only what later kept backups depend on. Pinned backups stay either way.
    public static func planDelete(_ backups: [BackupInfo], before date: Timestamp, force: Bool, now: Timestamp = .now()) -> Decision {
        let usable = backups.filter(\.isUsable)
        var keep = Set(usable.filter { ($0.endTime ?? $0.startTime) >= date }.map(\.id))
        if !force, let base = usable.last(where: { ($0.endTime ?? $0.startTime) < date }) { keep.insert(base.id) }
        return finish(backups, keep: keep, now: now, protectNewestFull: !force || !keep.isEmpty)
    }

    private static func finish(_ backups: [BackupInfo], keep initial: Set<String>, now: Timestamp, protectNewestFull: Bool = true) -> Decision {
        var base = initial
        // The newest validated full survives even when a newer, not yet validated one counts
        // as the generation: until validate says OK, the new one may be bad.
        if protectNewestFull {
            for b in [backups.last(where: { $0.isUsable && $0.mode == .full }), backups.last(where: { $0.status == .ok && $0.mode == .full })] {
                if let b { base.insert(b.id) }
            }
        }
        base = withParents(base, backups)
        let pinned = backups.filter { $0.isUsable && $0.pin?.holds(at: now) == true }.map(\.id)
        var keep = withParents(base.union(pinned), backups)
        // Failed backups after the oldest kept one stay for a look; a pinned old backup does
        // not hold them back.
        let oldestKept = (backups.first { base.contains($0.id) } ?? backups.first { keep.contains($0.id) })?.id
        var expire: [String] = []
        for b in backups where !keep.contains(b.id) {
            switch b.status {
            case .ok, .done:
                expire.append(b.id)
            case .error, .corrupt:
                if let oldestKept, b.id < oldestKept { expire.append(b.id) } else if oldestKept == nil { expire.append(b.id) } else { keep.insert(b.id) }
            case .running, .deleting, .deleted:
                continue
            }
        }
        return Decision(keep: backups.map(\.id).filter { keep.contains($0) }, expire: expire)
    }

    /// `ids` and every backup their chains need: a kept incremental needs its whole chain.
    private static func withParents(_ ids: Set<String>, _ backups: [BackupInfo]) -> Set<String> {
        var keep = ids
        var changed = true
        while changed {
            changed = false
            for b in backups where keep.contains(b.id) {
                if let parent = b.parentID, !keep.contains(parent), backups.contains(where: { $0.id == parent }) {
                    keep.insert(parent)
                    changed = true
                }
            }
        }
        return keep
    }

    /// The full backup at the root of `b`'s chain, if the chain is whole.
    static func chainRoot(_ b: BackupInfo, _ backups: [BackupInfo]) -> String? {
        let walk = BackupChain.ancestry(of: b, in: backups)
        guard walk.loopsAt == nil, let root = walk.members.last, root.mode == .full else { return nil }
        return root.id
    }
}

extension RetentionPlanner {
    /// A merged backup that stays, and why.
    public struct KeptMember: Sendable, Equatable {
        public let id: String
        public let why: String
    }

    /// Which members of a merged chain (`walk`: the incremental merged and its ancestors,
    /// newest first) go once the merged full is OK: from the newest, each that nothing else
    /// builds on (its children re-parented or retired before it) and that no pin holds. The
    /// first that stays keeps the rest of the chain, which it needs.
    public static func retirement(of walk: [BackupInfo], among backups: [BackupInfo], now: Timestamp) -> (retired: [String], kept: [KeptMember]) {
        var retired: [String] = []
        var kept: [KeptMember] = []
        for member in walk {
            if let first = kept.first {
                if member.status != .deleted { kept.append(KeptMember(id: member.id, why: "\(first.id) needs it")) }
                continue
            }
            if member.status == .deleted { continue }
            if member.pin?.holds(at: now) == true {
                kept.append(KeptMember(id: member.id, why: "pinned"))
                continue
            }
            let dependents = backups.filter {
                $0.parentID == member.id && !retired.contains($0.id) && ![.deleted, .deleting, .error].contains($0.status)
            }
            if let child = dependents.first {
                kept.append(KeptMember(id: member.id, why: "\(child.id) builds on it"))
                continue
            }
            retired.append(member.id)
        }
        return (retired, kept)
    }
}
