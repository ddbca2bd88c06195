import Testing
import Repository

/// The recoverable window as a picture (issue 15, item 5): `show timeline` draws a bar per
/// timeline, and `report --html` is checked in a real headless browser (Debian's chromium):
/// the page loads, and its rendered DOM holds the backups, the gap and the window.
@Suite(.ownThread) struct ReportTests {
    @Test func theWindowIsDrawnInTheTerminalAndInAPageABrowserRenders() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let cluster = try TestCluster.createInitialized(s, name: "db", repository: repo)
        defer { cluster.stopIfRunning() }
        try s.writeFile(repo + "/pgbk.ini", "KEEP_DATA_GENERATIONS=1\n")
        try cluster.execute("CREATE TABLE t AS SELECT g FROM generate_series(1, 5000) g")
        let full = try backupAndValidate(s, repo, cluster, "full")
        for _ in 0..<4 {
            try cluster.execute("INSERT INTO t VALUES (1)")
            try cluster.switchWALAndWaitForArchive(repository: repo)
        }
        let incremental = try backupAndValidate(s, repo, cluster, "incremental")
        let drill = try s.pgbk(["drill", "-B", repo, "--scratch-dir", try s.makeDirectory("drills"), "--no-amcheck"])
        #expect(drill.succeeded, "\(drill)")
        // A segment lost after the incremental: a gap in the window.
        for _ in 0..<3 {
            try cluster.execute("INSERT INTO t VALUES (2)")
            try cluster.switchWALAndWaitForArchive(repository: repo)
        }
        let segments = try Repository.open(repo).wal.listAll().filter { $0.walName.count == 24 }.sorted { $0.walName < $1.walName }
        let lost = segments[segments.count - 2]
        try FileSystem.remove(lost.path)

        let timeline = try s.pgbk(["show", "-B", repo, "timeline"])
        #expect(timeline.succeeded, "\(timeline)")
        let bar = try #require(timeline.stdout.split(separator: "\n").first { $0.hasPrefix("TLI 1") })
        // (The test's few seconds fall into a few columns: the backups' letters cover the WAL's.)
        #expect(bar.contains("F") && bar.contains("I") && bar.contains("!"), "\(timeline.stdout)")
        #expect(timeline.stdout.contains("[") && timeline.stdout.contains("recoverable window"), "\(timeline.stdout)")

        let page = s.path + "/report.html"
        let written = try s.pgbk(["report", "-B", repo, "--html", page])
        #expect(written.succeeded, "\(written)")
        let html = try FileSystem.readText(page)
        #expect(!html.contains("src=") && !html.contains("href=") && !html.contains("<script"), "self-contained, nothing fetched")

        let rendered = try Command.run("/usr/bin/chromium", ["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", "file://" + page],
                                       outputDirectory: s.path)
        #expect(rendered.succeeded, "\(rendered)")
        let dom = rendered.stdout
        #expect(dom.contains("<svg id=\"timeline\""), "the browser built the SVG")
        for id in [full, incremental] {
            #expect(dom.contains("class=\"backup ") && dom.contains("data-id=\"\(id)\""), "backup \(id) is drawn")
            #expect(dom.contains("<tr data-id=\"\(id)\">"), "backup \(id) is listed")
        }
        #expect(dom.contains("class=\"gap\" data-segment=\"\(lost.walName)\""), "the lost segment is marked")
        #expect(dom.contains("<rect class=\"window\""), "the window is drawn")
        #expect(dom.contains("<rect class=\"wal\" data-segment=\"\(segments[0].walName)\""), "archived WAL is drawn")
        #expect(dom.contains("class=\"horizon\""), "the retention horizon (KEEP_DATA_GENERATIONS=1) is drawn")
        #expect(dom.contains("<table id=\"drills\">") && dom.contains(">OK</td>"), "the drill is listed")
        // The size chart has axes with labels: sizes on the left, time below (issue 23, item 11).
        let sizes = try #require(dom.range(of: "<svg id=\"sizes\""))
        let chart = String(dom[sizes.lowerBound...]).components(separatedBy: "</svg>")[0]
        #expect(chart.components(separatedBy: "class=\"axis\"").count == 3 && chart.contains("class=\"axis-title\"")
                && chart.contains("data-bytes=\"0\"") && chart.contains("class=\"size-bar\""), "\(chart)")
    }
}
