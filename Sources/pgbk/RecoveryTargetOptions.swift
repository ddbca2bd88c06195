import ArgumentParser
import Engine
import PostgresFormat

/// PostgreSQL's recovery_target_* settings as options of restore and validate.
struct RecoveryTargetOptions: ParsableArguments {
    @Option(name: .customLong("recovery-target-time"), help: "Stop at this time (YYYY-MM-DD HH:MM:SS[.ffffff]+TZ).")
    var time: String?
    @Option(name: .customLong("recovery-target-xid"), help: "Stop at the end of this transaction.")
    var xid: String?
    @Option(name: .customLong("recovery-target-lsn"), help: "Stop at this WAL location.")
    var lsn: String?
    @Option(name: .customLong("recovery-target-name"), help: "Stop at this restore point (pg_create_restore_point).")
    var name: String?
    @Option(name: .customLong("recovery-target"), help: "'immediate': stop as soon as the backup is consistent.")
    var immediate: String?
    @Option(name: .customLong("recovery-target-inclusive"), help: "true (stop after the target) or false (just before it).")
    var inclusive: String?
    @Option(name: .customLong("recovery-target-timeline"), help: "latest (default), current, or a timeline number.")
    var timeline: String?
    @Option(name: .customLong("recovery-target-action"), help: "pause, promote or shutdown when the target is reached.")
    var action: RecoveryTarget.Action?

    var isEmpty: Bool {
        [time, xid, lsn, name, immediate, inclusive, timeline].allSatisfy { $0 == nil } && action == nil
    }

    func target() throws -> RecoveryTarget {
        var target = RecoveryTarget()
        var points: [RecoveryTarget.Point] = []
        if let time {
            guard let parsed = parseTimestampMicros(time) else {
                throw EngineError.invalidArgument("--recovery-target-time \(time) is not a time like 2026-11-22 16:37:00+00")
            }
            if !parsed.hadZone {
                Console.warning("--recovery-target-time has no time zone: pgbk reads it as local time, PostgreSQL in its timezone setting; add one (+00) to be sure they agree")
            }
            points.append(.time(text: time, micros: parsed.micros))
        }
        if let xid {
            guard let value = UInt32(xid) else { throw EngineError.invalidArgument("--recovery-target-xid must be a transaction id, not \(xid)") }
            points.append(.xid(value))
        }
        if let lsn {
            guard let value = LSN(lsn) else { throw EngineError.invalidArgument("--recovery-target-lsn must look like 0/3000028, not \(lsn)") }
            points.append(.lsn(value))
        }
        if let name {
            guard !name.isEmpty, name.utf8.count < 64 else { throw EngineError.invalidArgument("--recovery-target-name must be 1 to 63 bytes") }
            points.append(.name(name))
        }
        if let immediate {
            guard immediate == "immediate" else { throw EngineError.invalidArgument("--recovery-target only takes 'immediate'") }
            points.append(.immediate)
        }
        guard points.count <= 1 else {
            throw EngineError.invalidArgument("give at most one of --recovery-target-time, -xid, -lsn, -name and --recovery-target")
        }
        target.point = points.first
        if let inclusive {
            switch inclusive.lowercased() {
            case "true", "on", "yes", "1": target.inclusive = true
            case "false", "off", "no", "0": target.inclusive = false
            default: throw EngineError.invalidArgument("--recovery-target-inclusive must be true or false")
            }
        }
        if let timeline {
            switch timeline.lowercased() {
            case "latest": target.timeline = .latest
            case "current": target.timeline = .current
            default:
                guard let n = TimelineID(timeline), n > 0 else {
                    throw EngineError.invalidArgument("--recovery-target-timeline must be latest, current or a number")
                }
                target.timeline = .number(n)
            }
        }
        if let action { target.action = action }
        return target
    }
}
