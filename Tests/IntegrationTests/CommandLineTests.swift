import Testing
import Repository

/// The command line itself: help, usage errors, bad option values.
@Suite(.ownThread) struct CommandLineTests {
    /// docs/man is generated (make man); every command and every option its --help lists
    /// must be in its page, or the pages have drifted from the command definitions.
    @Test func theManPagesListEveryCommandAndOption() throws {
        let s = try Scratch()
        let root = FileSystem.parentDirectory(of: FileSystem.parentDirectory(of: FileSystem.parentDirectory(of: #filePath)))
        let commands = ["init", "backup", "archive-push", "archive-get", "validate", "show", "restore", "expire", "delete",
                        "purge", "check", "drill", "report", "receive-wal", "cron"]
        let top = try FileSystem.readText(root + "/docs/man/pgbk.1")
        for command in commands {
            #expect(top.contains("pgbk.\(command) 1"), "pgbk.1 does not point to \(command)")
            let page = try FileSystem.readText(root + "/docs/man/pgbk.\(command).1")
            let help = try s.pgbk([command, "--help"], asCurrentUser: true)
            let options = Set(help.stdout.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "-") })
                .filter { $0.hasPrefix("--") && $0.count > 2 }.map(String.init))
            #expect(!options.isEmpty, "\(command): \(help)")
            for option in options where option != "--help" {
                #expect(page.contains("Fl -" + option.dropFirst(2)), "docs/man/pgbk.\(command).1 lacks \(option): run make man")
            }
        }
    }

    @Test func helpIsHelpNotAnError() throws {
        let s = try Scratch()
        for args in [["--help"], [], ["backup", "--help"], ["restore", "--help"]] {
            let r = try s.pgbk(args, asCurrentUser: true)
            #expect(r.status == 0 && r.stdout.contains("USAGE") && !r.stderr.contains("error"), "\(args): \(r)")
        }
        let unknown = try s.pgbk(["frobnicate"], asCurrentUser: true)
        #expect(unknown.status != 0 && unknown.stderr.contains("frobnicate"), "\(unknown)")
    }

    @Test func badOptionValuesAreOneLineErrors() throws {
        let s = try Scratch()
        let repo = try s.makeDirectory("not-a-repo")
        let cases: [([String], String)] = [
            (["show", "-B", repo], "not a pgbk repository"),
            (["restore", "-B", repo, "-D", s.path + "/x", "--recovery-target-xid", "abc"], "must be a transaction id"),
            (["validate", "-B", s.path + "/missing"], "does not exist"),
            // Values ArgumentParser checks against their choices are one-line errors too.
            (["backup", "-B", repo, "-b", "sideways"], "'sideways' is invalid for '-b"),
            (["init", "-B", s.path + "/new", "--compress", "brotli"], "'brotli' is invalid for '--compress"),
            (["restore", "-B", repo, "--recovery-target-action", "explode"], "'pause', 'promote' or 'shutdown'"),
            (["frobnicate"], "frobnicate"),
            // getopt's attached values, as pg_rman and pg_dump take them: the value is read.
            (["show", "-B" + repo], "not a pgbk repository"),
            (["show", "-qv", "-B" + repo], "not a pgbk repository"),
            (["validate", "-j2", "-B" + s.path + "/missing"], "does not exist"),
            (["backup", "-B" + repo, "-bsideways"], "'sideways' is invalid for '-b"),
            // After a bare value option, an argument that looks like an option is not split
            // (ArgumentParser then refuses it as -B's value, with one line).
            (["validate", "-B", "-Dmissing"], "Missing value for '-B"),
        ]
        for (args, message) in cases {
            let r = try s.pgbk(args)
            #expect(r.status == 1 && r.stderr.hasPrefix("pgbk: error: ") && r.stderr.contains(message)
                    && r.stderr.split(separator: "\n").count == 1, "\(args): \(r)")
        }
    }
}
