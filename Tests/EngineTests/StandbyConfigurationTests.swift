import Testing
@testable import Engine

@Suite struct StandbyConfigurationTests {
    @Test func aStandbysPrimaryConninfoReplacesTheInheritedOneOnlyWhenGiven() {
        let existing = "primary_conninfo = 'host=old'\nwork_mem = '4MB'\n"
        var config = RecoveryConfiguration(pgbkExecutable: "/usr/bin/pgbk", repositoryPath: "/r")
        let plain = config.apply(to: existing, backupID: "X")
        #expect(plain.contains("primary_conninfo = 'host=old'"))
        #expect(plain.contains("recovery_end_command = '''/usr/bin/pgbk'' archive-get --end-of-recovery'\n"))
        config.primaryConninfo = "host=new user='o''k'"
        let out = config.apply(to: existing, backupID: "X")
        #expect(!out.contains("host=old") && out.contains("work_mem = '4MB'"))
        #expect(out.contains("primary_conninfo = 'host=new user=''o''''k'''\n"))
        #expect(config.apply(to: out, backupID: "X") == out)
    }
}
