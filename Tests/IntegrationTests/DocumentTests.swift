import Testing
import Foundation
import Repository

/// The documents, executed (issue 23): README.md, then docs/user-guide.md followed by
/// docs/pitr-runbook.md, block by block in order on Debian clusters of this machine's
/// PostgreSQL 15, the runbook's DROP TABLE scenario to the end. A block not run says why in
/// its doc-test directive (DocumentScript). Needs root: the documents install directories
/// and create clusters as root.
@Suite(.ownThread) struct DocumentTests {
    static let checkout = FileSystem.parentDirectory(of: FileSystem.parentDirectory(of: FileSystem.parentDirectory(of: #filePath)))
    static let documents = ["README.md", "docs/user-guide.md", "docs/pitr-runbook.md"]
    static let canRun = Command.isRoot && FileSystem.exists("/usr/bin/pg_createcluster") && FileSystem.exists("/usr/lib/postgresql/15/bin/initdb")

    static func blocks(_ document: String) throws -> [DocumentBlock] {
        try DocumentScript.blocks(markdown: try FileSystem.readText(checkout + "/" + document), file: document)
    }

    /// Runs the blocks; on a failure, the transcript so far comes with the error.
    /// With PGBK_DOCTEST_TRANSCRIPT=DIR, each run's whole transcript is written there.
    static func run(_ blocks: [DocumentBlock], in run: DocumentRun) throws {
        defer {
            if let dir = ProcessInfo.processInfo.environment["PGBK_DOCTEST_TRANSCRIPT"] {
                try? AtomicFile.write(dir + "/" + run.main + ".log", text: run.log.joined(separator: "\n"), mode: 0o644)
            }
        }
        for block in blocks {
            do { try run.execute(block) } catch {
                throw TestFailure("\(error)\n--- transcript ---\n\(run.log.suffix(12).joined(separator: "\n"))")
            }
        }
    }

    @Test(.enabled(if: canRun)) func theReadmeRunsAsWritten() throws {
        let s = try Scratch()
        let run = try DocumentRun(s, tag: "r")
        defer { run.dropClusters() }
        try run.createMainCluster(tablespace: false)
        try Self.run(Self.blocks("README.md"), in: run)
        try run.startCopy(run.scratch.path + "/srv/pitr")
        // Its point-in-time restore, promoted: the rows of the marked moment, not the later ones.
        #expect(try run.scalar("SELECT count(*) FROM orders", port: run.pitrPort) == "1000")
        #expect(try run.scalar("SELECT count(*) FROM doctest_marks", port: run.pitrPort) == "1")
    }

    @Test(.enabled(if: canRun)) func theUserGuideAndThePITRRunbookRunAsWritten() throws {
        let s = try Scratch()
        let run = try DocumentRun(s, tag: "g")
        defer { run.dropClusters() }
        try run.createMainCluster(tablespace: true)
        try Self.run(Self.blocks("docs/user-guide.md") + Self.blocks("docs/pitr-runbook.md"), in: run)
        // The runbook found the table (its block expects the count) and dropped the copy as
        // root, wholly; production still lacks the table, and kept its tablespace's rows.
        #expect(try run.scalar("SELECT count(*) FROM pg_class WHERE relname = 'orders'", port: run.port) == "0")
        #expect(try run.scalar("SELECT count(*) FROM order_notes", port: run.port) == "5000")
        #expect(!FileSystem.exists("/etc/postgresql/15/" + run.pitr) && !FileSystem.exists(s.path + "/srv/pitr"))
    }

    /// Every shell block of the documents runs, or says why not; the directives parse.
    @Test func everyShellBlockRunsOrSaysWhyNot() throws {
        for document in Self.documents {
            let blocks = try Self.blocks(document)
            #expect(blocks.contains { $0.language == "sh" && $0.runs }, "\(document) runs something")
            for block in blocks where block.language == "sh" && !block.runs {
                #expect(!(block.skipReason ?? "").isEmpty, "\(block.location)")
            }
        }
    }

    @Test func directivesAreReadAndMistakesRefused() throws {
        let text = "intro\n<!-- doc-test: root -->\n<!-- doc-test: status 2 (CRITICAL) -->\n```sh\necho hi\n```\n\n<!-- doc-test: skip: a second host -->\n\n```sh\nssh x\n```\n```ini\nA=1\n```\n"
        let blocks = try DocumentScript.blocks(markdown: text, file: "t.md")
        #expect(blocks.count == 3)
        #expect(blocks[0].directives == [.root, .status(2)] && blocks[0].text == "echo hi\n" && blocks[0].line == 4 && blocks[0].runs)
        #expect(blocks[1].skipReason == "a second host" && !blocks[1].runs)
        #expect(blocks[2].language == "ini" && !blocks[2].runs)
        #expect(throws: TestFailure.self) { try DocumentScript.blocks(markdown: "<!-- doc-test: sometimes -->\n```sh\nx\n```\n", file: "t.md") }
        #expect(throws: TestFailure.self) { try DocumentScript.blocks(markdown: "<!-- doc-test: root -->\nprose\n```sh\nx\n```\n", file: "t.md") }
        #expect(throws: TestFailure.self) { try DocumentScript.blocks(markdown: "```sh\nx\n", file: "t.md") }
        let cron = try DocumentScript.crontab("PATH=/usr/local/bin:/bin\n# c\n0 1 * * 0  pgbk backup -q && pgbk validate\n")
        #expect(cron.environment == ["PATH": "/usr/local/bin:/bin"] && cron.commands == ["pgbk backup -q && pgbk validate"])
        #expect(throws: TestFailure.self) { try DocumentScript.crontab("0 1 * * 0 pgbk backup \\\n  -q\n") }
    }
}
