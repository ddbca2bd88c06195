import Testing
import Repository
@testable import Engine

/// --keep-srvlog-files and --keep-srvlog-days on a synthetic catalog (unit).
@Suite struct ServerLogRetentionTests {
    let now = Timestamp(seconds: 2_000_000_000)
    func copy(_ id: String, daysAgo: Int64, files: Int) -> ServerLogRetention.Copy {
        .init(backupID: id, ended: Timestamp(seconds: now.seconds - daysAgo * 86_400), files: files)
    }

    @Test func eitherRuleKeepsAndNeitherMeansNothingGoes() {
        let copies = [copy("20330510-000000F", daysAgo: 8, files: 3), copy("20330515-000000I", daysAgo: 3, files: 3),
                      copy("20330517-000000I", daysAgo: 1, files: 3)]
        #expect(ServerLogRetention.expire(copies, keepFiles: nil, keepDays: nil, now: now).isEmpty)
        #expect(ServerLogRetention.expire(copies, keepFiles: 3, keepDays: nil, now: now) == ["20330510-000000F", "20330515-000000I"])
        #expect(ServerLogRetention.expire(copies, keepFiles: 4, keepDays: nil, now: now) == ["20330510-000000F"])
        #expect(ServerLogRetention.expire(copies, keepFiles: nil, keepDays: 5, now: now) == ["20330510-000000F"])
        #expect(ServerLogRetention.expire(copies, keepFiles: 1, keepDays: 5, now: now) == ["20330510-000000F"], "the age rule keeps the middle one")
        #expect(ServerLogRetention.expire(copies, keepFiles: 0, keepDays: 0, now: now).count == 3)
    }
}
