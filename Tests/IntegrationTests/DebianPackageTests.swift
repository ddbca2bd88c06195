import Testing
import Foundation
import Repository

/// The Debian package (issue 26), as a backup host gets it: scripts/build-deb.sh (what
/// `make deb` runs) packs the pgbk under test and lintian has nothing to say; `dpkg -i`
/// installs it and makes the pgbk system user; systemd-analyze verify accepts its units; and
/// the user guide's backup-host blocks run against the installed /usr/bin/pgbk, as the pgbk
/// user, which cannot read the Debian cluster's data directory. Purging it removes it.
/// Needs root; changes this machine's packages, so it leaves them as it found them, and
/// does not run where a pgbk package it did not install is installed (someone's backup host).
@Suite(.ownThread) struct DebianPackageTests {
    /// Written after its `dpkg -i`, removed before its purge.
    static let marker = "/etc/pgbk/.installed-by-pgbk-tests"
    static let canRun = DocumentTests.canRun
        && ["/usr/bin/dpkg-deb", "/usr/bin/dpkg-shlibdeps", "/usr/bin/lintian", "/usr/bin/systemd-analyze"].allSatisfy(FileSystem.exists)
        && (!FileSystem.exists("/var/lib/dpkg/info/pgbk.list") || FileSystem.exists(marker))
    static let units = ["pgbk-cron.service", "pgbk-cron.timer", "pgbk-receive-wal@.service"]

    @Test(.enabled(if: canRun)) func thePackageInstallsAndTheUserGuidesBackupHostRunsAgainstIt() throws {
        let s = try Scratch()
        // The document's `pgbk` must be the package's, not this test's copy on its PATH.
        try FileSystem.remove(s.pgbk)
        let run = try DocumentRun(s, tag: "p", onBackupHost: true)
        try removePackage(run, asIfPostgresUsedPgbk: true)
        defer { try? removePackage(run); run.dropClusters() }

        let deb = try build(s)
        try run.require(run.shell("dpkg -i \(deb) && touch \(Self.marker)", asRoot: true))
        try checkInstalled(run)
        try checkUnits(run)

        try run.createMainCluster(tablespace: false)
        run.substitutions = [("pgbk_[0-9.]+_amd64\\.deb", deb), ("db1\\.example\\.com", "127.0.0.1")]
        let blocks = try DocumentTests.blocks("docs/user-guide.md").filter { $0.directives.contains(.backupHost) }
        #expect(blocks.count >= 5, "the guide's backup-host blocks")
        try DocumentTests.run(blocks, in: run)
        try checkBackupHost(run)

        try run.require(run.shell(Self.stopPgbkUser + "rm -f \(Self.marker) /etc/pgbk/servers.d/db1.conf && dpkg --purge pgbk", asRoot: true))
        #expect(!FileSystem.exists("/usr/bin/pgbk") && !FileSystem.exists("/var/log/pgbk") && !FileSystem.exists("/lib/systemd/system/pgbk-cron.timer"))
    }

    /// build-deb.sh on the pgbk this test runs: the package's path, lintian (run by the
    /// script, failing on any error or warning) silent but for informational tags.
    func build(_ s: Scratch) throws -> String {
        let r = try Command.run("/bin/bash", [DocumentTests.checkout + "/scripts/build-deb.sh", "--binary", Scratch.builtPgbk, "--output", s.path + "/deb"],
                                outputDirectory: s.path, directory: s.path)
        #expect(r.succeeded, "\(r)")
        let deb = r.stdout.split(separator: "\n").last.map(String.init) ?? ""
        #expect(deb.hasSuffix("_amd64.deb") && FileSystem.exists(deb), "\(r)")
        for line in (r.stdout + r.stderr).split(separator: "\n") where line.hasPrefix("E: ") || line.hasPrefix("W: ") {
            Issue.record("lintian: \(line)")
        }
        guard r.succeeded else { throw TestFailure("build-deb.sh failed") }
        return deb
    }

    /// What the postinst made and dpkg put where the guide and the units expect it.
    func checkInstalled(_ run: DocumentRun) throws {
        let facts = try run.shell("""
            getent passwd pgbk | cut -d: -f6,7
            stat -c '%U %a' /var/lib/pgbk /var/log/pgbk /run/lock/pgbk
            test -d /etc/pgbk/servers.d && echo servers.d
            /usr/bin/pgbk --version >/dev/null && echo runs
            dpkg -L pgbk | grep -c '^/usr/share/man/man1/pgbk.*\\.1\\.gz$'
            test -f /usr/share/doc/pgbk/examples/backup-host/db1.conf && echo examples
            """, asRoot: true)
        try run.require(facts)
        let lines = facts.stdout.split(separator: "\n").map(String.init)
        let pages = try FileSystem.list(DocumentTests.checkout + "/docs/man").filter { $0.hasSuffix(".1") }.count
        #expect(lines == ["/var/lib/pgbk:/usr/sbin/nologin", "pgbk 700", "pgbk 750", "root 1777", "servers.d", "runs", String(pages), "examples"], "\(facts)")
    }

    /// systemd's own check of every unit (the template as an instance of it): its syntax,
    /// that ExecStart is executable and that the man pages its Documentation names exist.
    func checkUnits(_ run: DocumentRun) throws {
        let paths = Self.units.map { "/lib/systemd/system/" + $0 }
        let verify = try run.shell("systemd-analyze verify " + paths.joined(separator: " "), asRoot: true)
        #expect(verify.succeeded && verify.stderr.split(separator: "\n").allSatisfy { $0.hasPrefix("+") }, "\(verify)")
    }

    /// After the guide (whose drill exited 0), pgbk-cron.timer fires once: its service's
    /// ExecStart, as its User, validates the incremental. receive-wal runs as pgbk, and both
    /// backups, taken over the protocol, are OK.
    func checkBackupHost(_ run: DocumentRun) throws {
        let unit = try FileSystem.readText("/lib/systemd/system/pgbk-cron.service")
        let user = try #require(unit.firstMatch(of: /\nUser=(\S+)\n/)?.1)
        let command = try #require(unit.firstMatch(of: /\nExecStart=([^\n]+)\n/)?.1)
        let timer = try run.shell(String(command), user: String(user))
        #expect(timer.succeeded, "\(timer)")
        let state = try run.shell("""
            pgrep -u pgbk -f 'pgbk receive-wal --server db1' >/dev/null && echo receiving
            pgbk show --server db1 --json
            """, user: "pgbk")
        try run.require(state)
        #expect(state.stdout.hasPrefix("receiving\n"), "\(state)")
        let list = try parseBackupsJSON(String(state.stdout.dropFirst("receiving\n".count)))
        #expect(list.count == 2 && list.allSatisfy { $0["status"] as? String == "OK" && $0["method"] as? String == "protocol" }, "\(state)")
    }

    /// The pgbk user's processes (receive-wal) stopped, as systemd would at shutdown.
    static let stopPgbkUser = """
        pkill -u pgbk 2>/dev/null || true
        for i in $(seq 100); do pgrep -u pgbk >/dev/null || break; sleep 0.1; done

        """

    /// No pgbk package, no pgbk user (Debian leaves it at purge) and nothing of a run before:
    /// the machine as one that never had the package, where postgres has used pgbk.
    /// `asIfPostgresUsedPgbk`: the host locks' directory as on a host where postgres ran pgbk
    /// first (the package must make it root's, or the pgbk user could not lock in it).
    func removePackage(_ run: DocumentRun, asIfPostgresUsedPgbk: Bool = false) throws {
        try run.require(run.shell(Self.stopPgbkUser + """
            rm -f /etc/pgbk/servers.d/db1.conf \(Self.marker)
            dpkg --purge pgbk >/dev/null 2>&1 || true
            if getent passwd pgbk >/dev/null; then deluser --system --quiet pgbk; fi
            if getent group pgbk >/dev/null; then delgroup --system --quiet pgbk; fi
            rm -rf /var/lib/pgbk /var/log/pgbk
            """ + (asIfPostgresUsedPgbk ? "\nmkdir -p /run/lock/pgbk && chown postgres /run/lock/pgbk" : ""), asRoot: true))
    }
}
