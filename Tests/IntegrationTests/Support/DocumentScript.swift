/// The fenced blocks of a Markdown document with what the document test does with each,
/// said in an HTML comment just above the block (invisible when the page is rendered):
///
///     <!-- doc-test: root -->                 run this block as root (else as postgres)
///     <!-- doc-test: user NAME -->            run it as the OS user NAME
///     <!-- doc-test: backup-host -->          DebianPackageTests runs it, on the installed
///                                             package; the other document tests pass over it
///     <!-- doc-test: skip: REASON -->         do not run it, and why
///     <!-- doc-test: write FILE -->           the block is FILE's content
///     <!-- doc-test: append FILE -->          the block is appended to FILE
///     <!-- doc-test: crontab -->              run every entry's command as cron would
///     <!-- doc-test: status N -->             the block ends with exit status N (not 0)
///     <!-- doc-test: expect: TEXT -->         its output contains TEXT
///     <!-- doc-test: run: SHELL -->           a step the reader does not see, before the block
///     <!-- doc-test: mark-time -->            before the block: a commit, the time into
///                                             $DOCTEST_DIR/target-time, a commit
///     <!-- doc-test: wait-archived -->        before the block: WAL switched and archived
///
/// Every `sh` block runs unless skipped; other blocks run only when a directive says how.
struct DocumentBlock: Equatable {
    enum Directive: Equatable {
        case root, skip(String), write(String), append(String), crontab, status(Int32), expect(String)
        case run(String), markTime, waitArchived, user(String), backupHost
    }

    let file: String
    let line: Int
    let language: String
    let text: String
    let directives: [Directive]

    var location: String { "\(file):\(line)" }
    var skipReason: String? {
        directives.lazy.compactMap { if case .skip(let reason) = $0 { return reason } else { return nil } }.first
    }
    var runs: Bool { skipReason == nil && (language == "sh" || directives.contains { $0.isContentDirective }) }
}

extension DocumentBlock.Directive {
    var isContentDirective: Bool {
        switch self {
        case .write, .append, .crontab: return true
        default: return false
        }
    }

    init(parsing text: String, at location: String) throws {
        func argument(_ prefix: String) -> String? {
            text.hasPrefix(prefix) ? String(text.dropFirst(prefix.count)).trimmingSpaces() : nil
        }
        if text == "root" { self = .root }
        else if text == "crontab" { self = .crontab }
        else if text == "mark-time" { self = .markTime }
        else if text == "wait-archived" { self = .waitArchived }
        else if text == "backup-host" { self = .backupHost }
        else if let name = argument("user "), !name.isEmpty, !name.contains(" ") { self = .user(name) }
        else if let reason = argument("skip:"), !reason.isEmpty { self = .skip(reason) }
        else if let file = argument("write "), !file.isEmpty { self = .write(file) }
        else if let file = argument("append "), !file.isEmpty { self = .append(file) }
        else if let value = argument("status "), let status = Int32(value.prefix { $0.isNumber }) { self = .status(status) }
        else if let expected = argument("expect:"), !expected.isEmpty { self = .expect(expected) }
        else if let shell = argument("run:"), !shell.isEmpty { self = .run(shell) }
        else { throw TestFailure("\(location): unknown doc-test directive '\(text)'") }
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}

enum DocumentScript {
    static func blocks(markdown: String, file: String) throws -> [DocumentBlock] {
        let lines = markdown.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var blocks: [DocumentBlock] = []
        var pending: [DocumentBlock.Directive] = []
        var n = 0
        while n < lines.count {
            let line = lines[n]
            if line.hasPrefix("<!-- doc-test:") {
                guard line.hasSuffix("-->") else { throw TestFailure("\(file):\(n + 1): a doc-test directive is one line ending in -->") }
                let body = String(line.dropFirst("<!-- doc-test:".count).dropLast(3)).trimmingSpaces()
                pending.append(try .init(parsing: body, at: "\(file):\(n + 1)"))
            } else if line.hasPrefix("```") {
                let language = String(line.dropFirst(3).prefix { $0 != " " })
                var body: [String] = []
                n += 1
                while n < lines.count, !lines[n].hasPrefix("```") { body.append(lines[n]); n += 1 }
                guard n < lines.count else { throw TestFailure("\(file): a block that starts at line \(n + 1 - body.count - 1) never ends") }
                blocks.append(DocumentBlock(file: file, line: n - body.count, language: language,
                                            text: body.joined(separator: "\n") + "\n", directives: pending))
                pending = []
            } else if !pending.isEmpty && !line.trimmingSpaces().isEmpty {
                throw TestFailure("\(file):\(n + 1): doc-test directives must sit right above their block")
            }
            n += 1
        }
        guard pending.isEmpty else { throw TestFailure("\(file): doc-test directives after the last block") }
        return blocks
    }

    /// The lines of a crontab: its variable settings, and each entry's command.
    static func crontab(_ text: String) throws -> (environment: [String: String], commands: [String]) {
        var environment: [String: String] = [:]
        var commands: [String] = []
        for raw in text.split(separator: "\n") {
            let line = String(raw).trimmingSpaces()
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasSuffix("\\") { throw TestFailure("crontab line ends in a backslash, which cron does not continue: \(line)") }
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            if let equals = line.firstIndex(of: "="), !line[..<equals].contains(" ") {
                environment[String(line[..<equals])] = String(line[line.index(after: equals)...])
            } else if fields.count == 6 {
                commands.append(String(fields[5]).trimmingSpaces())
            } else {
                throw TestFailure("not a crontab line: \(line)")
            }
        }
        return (environment, commands)
    }
}
