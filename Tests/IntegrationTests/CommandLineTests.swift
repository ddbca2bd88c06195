import Testing

/// The command line itself: help, usage errors, bad option values.
@Suite struct CommandLineTests {
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
        ]
        for (args, message) in cases {
            let r = try s.pgbk(args)
            #expect(r.status == 1 && r.stderr.hasPrefix("pgbk: error: ") && r.stderr.contains(message)
                    && r.stderr.split(separator: "\n").count == 1, "\(args): \(r)")
        }
    }
}
