import Testing
import PostgresFormat
import Repository
@testable import Engine

@Suite struct RetentionPlannerTests {
    let now = Timestamp(seconds: 1_800_000_000)

    func at(_ days: Double) -> Timestamp { Timestamp(seconds: now.seconds + Int64(days * 86_400)) }

    func b(_ id: String, _ mode: BackupMode, _ day: Double, parent: String? = nil, status: BackupStatus = .ok, tli: TimelineID = 1) -> BackupInfo {
        var info = BackupInfo(id: id, mode: mode, status: status, startTime: at(day))
        info.endTime = Timestamp(seconds: at(day).seconds + 60)
        info.parentID = parent
        info.timeline = tli
        return info
    }

    /// Two timelines, failed backups in between; IDs sort like real ones (by time).
    var catalog: [BackupInfo] {
        [b("01-F1", .full, -20), b("02-I1a", .incremental, -19, parent: "01-F1"), b("03-E1", .full, -18, status: .error),
         b("04-F2", .full, -10), b("05-I2a", .incremental, -9, parent: "04-F2"), b("06-C2", .full, -8, status: .corrupt),
         b("07-F3", .full, -3, tli: 2), b("08-I3a", .incremental, -2, parent: "07-F3", tli: 2),
         b("09-I3b", .incremental, -1, parent: "08-I3a", status: .done, tli: 2)]
    }

    /// Issue 23, item 9: a new full that is not validated yet is no generation. Two OK fulls
    /// and a DONE one with generations 2: both OK ones stay (the DONE one may be bad).
    @Test func generationsCountValidatedFullsOnly() {
        let backups = [b("01-F1", .full, -3), b("02-F2", .full, -2), b("03-F3", .full, -1, status: .done)]
        let d = RetentionPlanner.plan(backups, policy: .init(generations: 2), now: now)
        #expect(d.keep == ["01-F1", "02-F2", "03-F3"] && d.expire.isEmpty, "\(d)")
        var validated = backups
        validated[2].status = .ok
        #expect(RetentionPlanner.plan(validated, policy: .init(generations: 2), now: now).expire == ["01-F1"])
    }

    /// Issue 29, item 3: a pinned backup survives with its chain, under either policy and
    /// delete (forced too); a pin that has ended, or none, does not; a pinned old backup does
    /// not keep the failed backups after it.
    @Test func pinnedBackupsSurviveWithTheirChainsUntilThePinEnds() {
        var backups = catalog
        backups[1].pin = .forever                                     // 02-I1a: keeps 01-F1
        let d = RetentionPlanner.plan(backups, policy: .init(generations: 1), now: now)
        #expect(d.keep == ["01-F1", "02-I1a", "07-F3", "08-I3a", "09-I3b"], "\(d)")
        #expect(d.expire == ["03-E1", "04-F2", "05-I2a", "06-C2"], "failed backups after a pinned one go as before")
        let deleted = RetentionPlanner.planDelete(backups, before: at(0), force: true, now: now)
        #expect(deleted.keep.contains("01-F1") && deleted.keep.contains("02-I1a"), "\(deleted)")
        backups[1].pin = .until(at(1))
        #expect(RetentionPlanner.plan(backups, policy: .init(generations: 1), now: now).keep.contains("02-I1a"))
        backups[1].pin = .until(at(-1))
        #expect(RetentionPlanner.plan(backups, policy: .init(generations: 1), now: now).expire.contains("02-I1a"), "an ended pin keeps nothing")
        // A pin on a backup that is not usable keeps nothing either.
        backups[1].pin = .forever
        backups[1].status = .corrupt
        #expect(!RetentionPlanner.plan(backups, policy: .init(generations: 1), now: now).keep.contains("01-F1"))
    }

    @Test func generationsKeepTheNewestFullsWithTheirIncrementals() {
        let d = RetentionPlanner.plan(catalog, policy: .init(generations: 2), now: now)
        #expect(d.keep == ["04-F2", "05-I2a", "06-C2", "07-F3", "08-I3a", "09-I3b"])
        #expect(d.expire == ["01-F1", "02-I1a", "03-E1"])
    }

    @Test func daysKeepTheWindowAndTheBackupItStartsFrom() {
        let d = RetentionPlanner.plan(catalog, policy: .init(days: 5), now: now)
        // Window starts at day -5: I2a (day -9) is the base for moments just after it.
        #expect(d.keep == ["04-F2", "05-I2a", "06-C2", "07-F3", "08-I3a", "09-I3b"])
        #expect(d.expire == ["01-F1", "02-I1a", "03-E1"])
        let short = RetentionPlanner.plan(catalog, policy: .init(days: 1), now: now)
        #expect(short.keep == ["07-F3", "08-I3a", "09-I3b"])
        #expect(short.expire == ["01-F1", "02-I1a", "03-E1", "04-F2", "05-I2a", "06-C2"])
    }

    @Test func eitherPolicyKeepingABackupIsEnough() {
        let generationsOnly = RetentionPlanner.plan(catalog, policy: .init(generations: 1), now: now)
        #expect(generationsOnly.expire.contains("04-F2"))
        let both = RetentionPlanner.plan(catalog, policy: .init(generations: 1, days: 7), now: now)
        #expect(both.keep == ["04-F2", "05-I2a", "06-C2", "07-F3", "08-I3a", "09-I3b"])
        #expect(both.expire == ["01-F1", "02-I1a", "03-E1"])
        // A window reaching back past F2 needs I1a (and so F1) as its base.
        let long = RetentionPlanner.plan(catalog, policy: .init(generations: 1, days: 12), now: now)
        #expect(long.keep.first == "01-F1" && long.expire.isEmpty)
    }

    @Test func theNewestValidatedFullSurvivesANewerUnvalidatedOne() {
        let backups = [b("01-F1", .full, -2), b("02-F2", .full, -1, status: .done)]
        let d = RetentionPlanner.plan(backups, policy: .init(generations: 1), now: now)
        #expect(d.keep == ["01-F1", "02-F2"])
        #expect(d.expire.isEmpty)
    }

    @Test func runningAndDeletedBackupsAreLeftAlone() {
        let backups = [b("01-F1", .full, -30, status: .deleted), b("02-F2", .full, -20, status: .deleting),
                       b("03-F3", .full, -10), b("04-R", .full, -0.1, status: .running)]
        let d = RetentionPlanner.plan(backups, policy: .init(generations: 1), now: now)
        #expect(d.keep == ["03-F3"])
        #expect(d.expire.isEmpty)
    }

    @Test func deleteKeepsWhatRestoresToTheDateUnlessForced() {
        // Restoring to day -15 needs I1a, and so F1; E1 is newer than the oldest kept.
        let d = RetentionPlanner.planDelete(catalog, before: at(-15), force: false)
        #expect(d.expire.isEmpty)
        #expect(d.keep.contains("02-I1a") && d.keep.contains("01-F1"))
        let forced = RetentionPlanner.planDelete(catalog, before: at(-15), force: true)
        #expect(forced.expire == ["01-F1", "02-I1a", "03-E1"])
        // A kept incremental still keeps its parent, force or not.
        let mid = RetentionPlanner.planDelete(catalog, before: at(-9.5), force: true)
        #expect(mid.keep.contains("04-F2") && mid.keep.contains("05-I2a"))
    }

    /// Issue 29, item 2: after a merge, the merged chain goes from the newest member down to
    /// the first one something else builds on (a branch) or a pin holds, which keeps the rest.
    @Test func aMergedChainRetiresUpToTheFirstMemberSomethingStillNeeds() {
        var backups = [b("01-F", .full, -5), b("02-I", .incremental, -4, parent: "01-F"), b("03-I", .incremental, -3, parent: "02-I"),
                       b("04-I", .incremental, -2, parent: "03-I"), b("05-F", .full, -2)]
        backups[4].mergedFrom = "04-I"
        var walk: [BackupInfo] { Array(backups[0..<4].reversed()) }
        var plan = RetentionPlanner.retirement(of: walk, among: backups, now: now)
        #expect(plan.retired == ["04-I", "03-I", "02-I", "01-F"] && plan.kept.isEmpty, "\(plan)")
        // A branch on 02-I keeps it and the full.
        backups.append(b("06-I", .incremental, -1, parent: "02-I"))
        plan = RetentionPlanner.retirement(of: walk, among: backups, now: now)
        #expect(plan.retired == ["04-I", "03-I"] && plan.kept.map(\.id) == ["02-I", "01-F"], "\(plan)")
        #expect(plan.kept[0].why.contains("06-I"))
        // A failed backup on it keeps nothing; a pin does, until it ends.
        backups[5].status = .error
        backups[2].pin = .until(at(1))
        plan = RetentionPlanner.retirement(of: walk, among: backups, now: now)
        #expect(plan.retired == ["04-I"] && plan.kept.map(\.id) == ["03-I", "02-I", "01-F"] && plan.kept[0].why == "pinned", "\(plan)")
        backups[2].pin = .until(at(-1))
        #expect(RetentionPlanner.retirement(of: walk, among: backups, now: now).retired.count == 4)
        // A rerun after part of it went: the DELETED members are passed over.
        backups[3].status = .deleted
        backups[2].status = .deleted
        #expect(RetentionPlanner.retirement(of: walk, among: backups, now: now).retired == ["02-I", "01-F"])
    }

    /// Issue 29, item 2: expire --merge merges the oldest backup the days policy keeps when it
    /// is an incremental whose ancestors the policy does not need; never under generations
    /// (whose oldest kept backup is a full), nor when every ancestor is kept anyway.
    @Test func expireMergesTheOldestKeptIncrementalWhenItsAncestorsCouldGo() {
        var forever = [b("01-F", .full, -6), b("02-I", .incremental, -5, parent: "01-F"), b("03-I", .incremental, -4, parent: "02-I"),
                       b("04-I", .incremental, -3, parent: "03-I"), b("05-I", .incremental, -2, parent: "04-I"),
                       b("06-I", .incremental, -1, parent: "05-I")]
        #expect(RetentionPlanner.mergeTarget(forever, policy: .init(days: 3), now: now) == "03-I")
        #expect(RetentionPlanner.mergeTarget(forever, policy: .init(days: 10), now: now) == nil, "the full is the window's base")
        #expect(RetentionPlanner.mergeTarget(forever, policy: .init(generations: 1), now: now) == nil)
        forever[0].pin = .forever
        forever[1].pin = .forever
        #expect(RetentionPlanner.mergeTarget(forever, policy: .init(days: 3), now: now) == nil, "pins keep the whole chain")
    }
}
