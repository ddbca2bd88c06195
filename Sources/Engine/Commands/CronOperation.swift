import Repository

/// `pgbk cron`'s loop, which the command line fills with each server's actions: one cron at a
/// time on a host (another says so and does nothing), every action run whatever the others
/// did, one line each, and an error at the end when any failed.
public enum CronOperation {
    public struct Action {
        public let name: String
        public let run: () throws -> String

        public init(name: String, run: @escaping () throws -> String) {
            self.name = name
            self.run = run
        }
    }

    /// `scope`: what the cron works on (the servers' directory), for its host lock.
    /// `actions(server)` is asked for when the server's turn comes; `after(server)` ends it.
    public static func run(servers: [String], scope: String, actions: (String) -> [Action], after: (String) -> Void) throws {
        guard let lock = try HostLocks.lockIfFree("cron " + scope) else {
            Console.info("cron: another pgbk cron is working on \(scope): nothing to do")
            return
        }
        defer { lock.release() }
        var failed = 0, done = 0
        for server in servers {
            defer { after(server) }
            for action in actions(server) {
                done += 1
                do {
                    Console.info("cron: \(server): \(action.name): \(try action.run())")
                } catch {
                    failed += 1
                    Console.warning("cron: \(server): \(action.name) failed: \(error)")
                }
                try FaultInjection.point("cron-after-action")
            }
        }
        if failed > 0 { throw EngineError.invalidArgument("cron: \(failed) of \(done) action(s) failed (see the lines above)") }
    }
}
