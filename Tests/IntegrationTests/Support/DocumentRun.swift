import Foundation
import Repository
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Runs a document's blocks (DocumentScript) on this machine's Debian PostgreSQL 15, as a
/// reader would type them: Debian clusters made with pg_createcluster, commands run as
/// postgres (or root where the document says so) with a login shell's environment and no
/// PG* variables. Only names change: the clusters, ports and directories are this run's own
/// (`/srv` and `/var/backups` stand for root-owned directories in the scratch directory), and
/// `/usr/local/bin` is where the pgbk under test is.
final class DocumentRun {
    let scratch: Scratch
    /// The Debian cluster names standing for `main` and `pitr`.
    let main: String
    let pitr: String
    let port: Int
    let pitrPort: Int
    /// $DOCTEST_DIR: the run's notes (target-time), writable by postgres.
    let notes: String
    private(set) var log: [String] = []

    /// Whether this run is DebianPackageTests': the backup-host blocks, on the installed package.
    let onBackupHost: Bool

    init(_ scratch: Scratch, tag: String, onBackupHost: Bool = false) throws {
        self.scratch = scratch
        self.onBackupHost = onBackupHost
        let unique = "doc\(tag)\(getpid() % 100_000)"
        main = unique
        pitr = unique + "pitr"
        port = TestCluster.nextPort()
        pitrPort = TestCluster.nextPort()
        notes = try scratch.makeDirectory("notes")
        for root in ["srv", "var-backups", "var-lib"] {
            try FileSystem.makeDirectory(scratch.path + "/" + root, mode: 0o755)
            try FileSystem.setMode(scratch.path + "/" + root, 0o755)
        }
    }

    /// More names to change, before the common ones (DebianPackageTests: the backup host's).
    var substitutions: [(String, String)] = []

    /// What the document says, with this run's names.
    func substitute(_ text: String) -> String {
        var out = text
        for (from, to) in substitutions { out = out.replacingOccurrences(of: from, with: to, options: .regularExpression) }
        let pairs: [(String, String)] = [
            ("/var/lib/postgresql/15/main", "/var/lib/postgresql/15/\(main)"),
            ("/etc/postgresql/15/main", "/etc/postgresql/15/\(main)"),
            ("/etc/postgresql/15/pitr", "/etc/postgresql/15/\(pitr)"),
            ("15 main", "15 \(main)"), ("15 pitr", "15 \(pitr)"),
            ("/var/backups/", scratch.path + "/var-backups/"),
            ("/var/lib/node_exporter", scratch.path + "/var-lib/node_exporter"),
            ("/srv/", scratch.path + "/srv/"),
            ("/usr/local/bin", scratch.path + "/bin"),
            ("5433", String(pitrPort)), ("5432", String(port)),
        ]
        for (from, to) in pairs { out = out.replacingOccurrences(of: from, with: to) }
        // A moment in the documents is the moment the run marked (mark-time).
        return out.replacingOccurrences(of: "'2026-11-22 [0-9:.]+\\+00'", with: "\"$(cat \"$DOCTEST_DIR/target-time\")\"",
                                        options: .regularExpression)
    }

    /// A login shell's environment, and nothing of the test runner's.
    func environment(user: String) -> [String] {
        let home = user == "root" ? "/root" : user == "postgres" ? "/var/lib/postgresql"
            : getpwnam(user).map { String(cString: $0.pointee.pw_dir) } ?? "/"
        // Debian's login PATH: root's has the sbin directories (dpkg, adduser).
        let path = user == "root" ? "\(scratch.path)/bin:/usr/sbin:/usr/bin:/sbin:/bin" : "\(scratch.path)/bin:/usr/bin:/bin"
        return ["PATH=\(path)", "HOME=\(home)", "LANG=C.UTF-8",
                "LOGNAME=\(user)", "SHELL=/bin/bash", "DOCTEST_DIR=\(notes)"]
    }

    /// `user`: whom it runs as (postgres unless told; `asRoot` for root).
    @discardableResult
    func shell(_ script: String, asRoot: Bool = false, user: String = "postgres", environment extra: [String]? = nil, interpreter: [String] = ["/bin/bash", "-e", "-o", "pipefail", "-x", "-c"]) throws -> CommandResult {
        let user = asRoot ? "root" : user
        let env = extra ?? environment(user: user)
        // A document's loop that never ends (a recovery that fails) fails the test instead.
        let args = ["-i"] + env + ["/usr/bin/timeout", "--kill-after=10", "600"] + interpreter + [script]
        // postgres starts in the run's notes; another user where it would be, in a directory it may not read.
        let r = user == "root" ? try Command.run("/usr/bin/env", args, outputDirectory: scratch.path, directory: scratch.path)
            : try Command.run(Command.runuser, ["-u", user, "--", "/usr/bin/env"] + args, outputDirectory: scratch.path,
                              directory: user == "postgres" ? notes : "/")
        log.append("$ \(script)\n\(r.stdout)\(r.stderr)")
        return r
    }

    /// The clusters a reader has before opening the document: `main` running with an
    /// application's table, and (`tablespace`) a tablespace under /srv holding another.
    func createMainCluster(tablespace: Bool) throws {
        try require(shell("pg_createcluster 15 \(main) -p \(port) >/dev/null && pg_ctlcluster 15 \(main) start", asRoot: true))
        var sql = ["CREATE TABLE orders (id int PRIMARY KEY, created timestamptz NOT NULL DEFAULT now()); INSERT INTO orders (id) SELECT generate_series(1, 1000)"]
        if tablespace {
            try require(shell("install -d -o postgres -m 0700 \(scratch.path)/srv/ts1", asRoot: true))
            sql += ["CREATE TABLESPACE ts1 LOCATION '\(scratch.path)/srv/ts1'",
                    "CREATE TABLE order_notes TABLESPACE ts1 AS SELECT id, md5(id::text) AS note FROM generate_series(1, 5000) id"]
        }
        try require(shell("psql -p \(port) -q" + sql.map { " -c \"\($0)\"" }.joined()))
    }

    func scalar(_ sql: String, port: Int) throws -> String {
        let r = try shell("psql -p \(port) -XAtc \"\(sql)\"")
        try require(r)
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A restored directory adopted as the Debian cluster `pitr` and started, as the runbook
    /// does it; returns once recovery has ended.
    func startCopy(_ directory: String) throws {
        try require(shell("""
            cp /etc/postgresql/15/\(main)/pg_hba.conf /etc/postgresql/15/\(main)/pg_ident.conf \(directory)/
            touch \(directory)/postgresql.conf
            pg_createcluster 15 \(pitr) -d \(directory) -p \(pitrPort) >/dev/null
            pg_ctlcluster 15 \(pitr) start
            until [ "$(psql -p \(pitrPort) -XAtc 'SELECT pg_is_in_recovery()')" = f ]; do sleep 0.2; done
            """))
    }

    func dropClusters() {
        for name in [main, pitr] {
            _ = try? shell("pg_dropcluster 15 \(name) --stop 2>/dev/null; rm -rf /var/lib/postgresql/15/\(name) /var/lib/postgresql/15/\(name).broken /etc/postgresql/15/\(name)", asRoot: true)
        }
    }

    func require(_ r: CommandResult) throws {
        guard r.succeeded else { throw TestFailure("\(r)") }
    }

    /// Runs one block (and the steps its directives add); a failure names the block.
    /// Only a backup-host block (DebianPackageTests), or only the others.
    func execute(_ block: DocumentBlock) throws {
        guard block.runs, block.directives.contains(.backupHost) == onBackupHost else { return }
        let asRoot = block.directives.contains(.root)
        let user = block.directives.lazy.compactMap { if case .user(let name) = $0 { return name } else { return nil } }.first ?? "postgres"
        for directive in block.directives {
            switch directive {
            case .run(let step): try expectSuccess(shell(substitute(step), asRoot: asRoot, user: user), block, "its hidden step")
            case .markTime: try expectSuccess(shell(markTimeScript), block, "mark-time")
            case .waitArchived: try expectSuccess(shell(waitArchivedScript), block, "wait-archived")
            default: continue
            }
        }
        let text = substitute(block.text)
        var expectedStatus: Int32 = 0
        var expected: [String] = []
        for directive in block.directives {
            if case .status(let n) = directive { expectedStatus = n }
            if case .expect(let t) = directive { expected.append(t) }
        }
        if block.directives.contains(.crontab) { return try runCrontab(text, block) }
        let result: CommandResult
        if let file = block.directives.lazy.compactMap({ d -> (String, Bool)? in
            if case .write(let f) = d { return (f, false) }
            if case .append(let f) = d { return (f, true) }
            return nil
        }).first {
            result = try shell("cat \(file.1 ? ">>" : ">") \(substitute(file.0)) <<'DOCTEST_EOF'\n\(text)DOCTEST_EOF", asRoot: asRoot, user: user)
        } else {
            result = try shell(text, asRoot: asRoot, user: user)
        }
        guard result.status == expectedStatus else {
            throw TestFailure("\(block.location): exited \(result.status), the document expects \(expectedStatus)\n\(result)")
        }
        for t in expected where !(result.stdout + result.stderr).contains(t) {
            throw TestFailure("\(block.location): the output lacks '\(t)'\n\(result)")
        }
    }

    /// Each entry's command as cron runs it: /bin/sh, the crontab's variables over cron's
    /// own (PATH=/usr/bin:/bin), `%` meaning a newline.
    private func runCrontab(_ text: String, _ block: DocumentBlock) throws {
        let (variables, commands) = try DocumentScript.crontab(text)
        var env = ["PATH": "/usr/bin:/bin", "HOME": "/var/lib/postgresql", "LOGNAME": "postgres", "SHELL": "/bin/sh"]
        env.merge(variables) { $1 }
        for command in commands {
            guard !command.contains("%") else { throw TestFailure("\(block.location): cron turns % into a newline: \(command)") }
            let r = try shell(command, environment: env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }, interpreter: ["/bin/sh", "-c"])
            try expectSuccess(r, block, "crontab entry")
        }
    }

    private func expectSuccess(_ r: CommandResult, _ block: DocumentBlock, _ what: String) throws {
        guard r.succeeded else { throw TestFailure("\(block.location): \(what) failed\n\(r)") }
    }

    /// A commit, the moment (whole seconds, UTC) into target-time, another commit: a target
    /// between two transactions of the main cluster.
    private var markTimeScript: String {
        """
        psql -p \(port) -qc 'CREATE TABLE IF NOT EXISTS doctest_marks (at timestamptz); INSERT INTO doctest_marks VALUES (now())'
        sleep 1.1
        date -u '+%Y-%m-%d %H:%M:%S+00' > "$DOCTEST_DIR/target-time"
        sleep 1.1
        psql -p \(port) -qc 'INSERT INTO doctest_marks VALUES (now())'
        """
    }

    /// The current WAL segment switched and archived (at most 60 s).
    private var waitArchivedScript: String {
        """
        set +x
        seg=$(psql -p \(port) -XAtc 'SELECT pg_walfile_name(pg_switch_wal())')
        for i in $(seq 600); do
          last=$(psql -p \(port) -XAtc 'SELECT last_archived_wal FROM pg_stat_archiver')
          # a .backup file (SEGMENT.OFFSET.backup) is archived after its segment
          [[ -n "$last" && ! "${last:0:24}" < "$seg" ]] && exit 0
          sleep 0.1
        done
        echo "segment $seg was not archived within 60 s" >&2; exit 1
        """
    }
}
