import PostgresFormat
import Repository

/// `pgbk report --html FILE`: one self-contained page (inline CSS and SVG, no script, nothing
/// fetched) for a wiki or a morning check: the recoverable window per timeline, sizes over
/// time, the backups and the drills. Elements carry classes and data attributes (`backup`,
/// `gap`, `window`, `horizon`) so that a browser test can find them in the rendered DOM.
public enum HTMLReport {
    public static func render(_ picture: RecoveryPicture, repository: Repository, now: Timestamp = .now()) -> String {
        head(title: repository.path) + intro(repository, now: now) + section(picture) + "</body></html>\n"
    }

    /// One repository of several: its name ("repo2 (s3://...)"), and its picture, or why it
    /// could not be read.
    public struct Part {
        public let name: String
        public let content: Result<(RecoveryPicture, Repository), EngineError>
        public init(name: String, content: Result<(RecoveryPicture, Repository), EngineError>) {
            self.name = name
            self.content = content
        }
    }

    /// Several repositories of one cluster on one page, a section each; element ids carry
    /// the repository's number ("timeline-repo2") so that each stays unique.
    public static func render(parts: [Part], now: Timestamp = .now()) -> String {
        var html = head(title: "\(parts.count) repositories") + "<h1>pgbk report</h1>\n<p>\(parts.count) repositories; written \(now).</p>\n"
        for (n, part) in parts.enumerated() {
            html += "<section id=\"repo\(n + 1)\"><h2>\(escape(part.name))</h2>\n"
            switch part.content {
            case .success(let (picture, repository)):
                var body = "<p>Cluster \(repository.identity.systemIdentifier), PostgreSQL \(escape(repository.identity.pgMajorVersion)).</p>\n" + section(picture)
                for id in ["summary", "timeline", "sizes", "backups", "drills"] {
                    body = body.replacing("id=\"\(id)\"", with: "id=\"\(id)-repo\(n + 1)\"")
                }
                html += body
            case .failure(let error):
                html += "<p class=\"FAILED\">This repository could not be read: \(escape(error.description))</p>\n"
            }
            html += "</section>\n"
        }
        return html + "</body></html>\n"
    }

    static func head(title: String) -> String {
        """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>pgbk report: \(escape(title))</title>
            <style>
            body { font-family: sans-serif; margin: 2em; color: #222; }
            table { border-collapse: collapse; margin-bottom: 2em; } td, th { border: 1px solid #ccc; padding: 2px 8px; text-align: left; }
            .wal { fill: #4a8; } .gap { fill: #d22; } .window { fill: #4a8; fill-opacity: 0.15; } .horizon { stroke: #a60; stroke-width: 2; }
            .backup.full { fill: #236; } .backup.incremental { fill: #58c; } .backup.bad { fill: #d22; } .size-bar { fill: #58c; } .axis { stroke: #555; } .tick, .axis-title { font-size: 12px; fill: #444; }
            .FAILED, .CORRUPT, .ERROR { color: #d22; font-weight: bold; } .OK { color: #282; }
            </style></head><body>

            """
    }

    static func intro(_ repository: Repository, now: Timestamp) -> String {
        "<h1>pgbk report</h1>\n<p>Repository <code>\(escape(repository.path))</code>, cluster \(repository.identity.systemIdentifier), PostgreSQL \(escape(repository.identity.pgMajorVersion)); written \(now).</p>\n"
    }

    static func section(_ picture: RecoveryPicture) -> String {
        summary(picture)
            + "<h2>Recoverable window</h2>\n" + timelineSVG(picture)
            + "<h2>Backup sizes</h2>\n" + sizesSVG(picture)
            + "<h2>Backups</h2>\n" + backupsTable(picture.backups)
            + "<h2>Drills</h2>\n" + drillsTable(picture.drills)
    }

    static func summary(_ p: RecoveryPicture) -> String {
        let gaps = p.lanes.reduce(0) { $0 + $1.gaps.count }
        var items: [String] = []
        if let start = p.windowStart {
            items.append("Recoverable from <b>\(Timestamp(seconds: start))</b> to <b>\(p.windowEnd.map { "\(Timestamp(seconds: $0))" } ?? "the end of the archived WAL")</b>.")
        } else {
            items.append("<b class=\"FAILED\">Nothing is recoverable: no OK backup.</b>")
        }
        items.append(gaps == 0 ? "No archived WAL segment is missing." : "<b class=\"FAILED\">\(gaps) archived WAL segment(s) missing.</b>")
        if let drill = p.drills.max(by: { $0.id < $1.id }) {
            items.append("Last drill \(escape(drill.id)): <span class=\"\(drill.result.rawValue)\">\(drill.result.rawValue)</span>.")
        } else {
            items.append("No restore drill recorded.")
        }
        return "<ul id=\"summary\">" + items.map { "<li>\($0)</li>" }.joined() + "</ul>\n"
    }

    static func timelineSVG(_ p: RecoveryPicture) -> String {
        let width = 960, left = 70, lane = 36
        let height = lane * p.lanes.count + 40
        func x(_ t: Int64) -> Int { left + p.position(t, width: width - left - 10) }
        var svg = "<svg id=\"timeline\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" role=\"img\">\n"
        if let start = p.windowStart {
            let end = p.windowEnd ?? p.to
            svg += "<rect class=\"window\" data-from=\"\(Timestamp(seconds: start))\" data-to=\"\(Timestamp(seconds: end))\" x=\"\(x(start))\" y=\"0\" width=\"\(max(1, x(end) - x(start)))\" height=\"\(lane * p.lanes.count)\"><title>recoverable window</title></rect>\n"
        }
        for (i, l) in p.lanes.enumerated() {
            let y = i * lane + 8
            svg += "<text x=\"0\" y=\"\(y + 14)\">TLI \(l.timeline)</text>\n"
            for (segment, time) in l.archived {
                svg += "<rect class=\"wal\" data-segment=\"\(segment)\" x=\"\(x(time))\" y=\"\(y)\" width=\"2\" height=\"20\"/>\n"
            }
            for (segment, time) in l.gaps {
                svg += "<rect class=\"gap\" data-segment=\"\(segment)\" x=\"\(x(time) - 1)\" y=\"\(y - 4)\" width=\"4\" height=\"28\"><title>missing \(segment)</title></rect>\n"
            }
            for b in p.backups where b.timeline == l.timeline {
                let kind = b.mode == .full ? "full" : "incremental"
                svg += "<circle class=\"backup \(kind)\(b.status == .ok ? "" : " bad")\" data-id=\"\(b.id)\" data-status=\"\(b.status.rawValue)\" cx=\"\(x(b.startTime.seconds))\" cy=\"\(y + 10)\" r=\"6\"><title>\(b.id) \(b.status.rawValue)</title></circle>\n"
            }
        }
        if let h = p.horizon {
            svg += "<line class=\"horizon\" data-at=\"\(Timestamp(seconds: h))\" x1=\"\(x(h))\" x2=\"\(x(h))\" y1=\"0\" y2=\"\(lane * p.lanes.count)\"><title>retention horizon</title></line>\n"
        }
        let axisY = lane * p.lanes.count + 20
        svg += "<text x=\"\(left)\" y=\"\(axisY)\">\(Timestamp(seconds: p.from))</text><text x=\"\(width - 220)\" y=\"\(axisY)\">\(Timestamp(seconds: p.to))</text>\n"
        return svg + "</svg>\n"
    }

    /// Stored bytes per backup over time: a y axis from 0 to the largest, an x axis from the
    /// picture's first moment to its last, each labelled.
    static func sizesSVG(_ p: RecoveryPicture) -> String {
        let width = 960, height = 180, left = 70, bottom = 24, top = 18
        let plot = height - bottom - top
        let largest = max(1, p.backups.map(\.writeBytes).max() ?? 1)
        var svg = "<svg id=\"sizes\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" role=\"img\">\n"
        svg += "<text class=\"axis-title\" x=\"0\" y=\"12\">stored per backup</text>\n"
        svg += "<line class=\"axis\" x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(top + plot)\"/>"
            + "<line class=\"axis\" x1=\"\(left)\" y1=\"\(top + plot)\" x2=\"\(width - 10)\" y2=\"\(top + plot)\"/>\n"
        svg += "<text class=\"tick\" data-bytes=\"\(largest)\" x=\"0\" y=\"\(top + 10)\">\(formatBytes(largest))</text>"
            + "<text class=\"tick\" data-bytes=\"0\" x=\"0\" y=\"\(top + plot)\">0</text>\n"
        svg += "<text class=\"tick\" x=\"\(left)\" y=\"\(height - 4)\">\(Timestamp(seconds: p.from))</text>"
            + "<text class=\"tick\" x=\"\(width - 220)\" y=\"\(height - 4)\">\(Timestamp(seconds: p.to))</text>\n"
        for b in p.backups {
            let h = max(1, Int(Double(b.writeBytes) / Double(largest) * Double(plot)))
            svg += "<rect class=\"size-bar\" data-id=\"\(b.id)\" data-bytes=\"\(b.writeBytes)\" x=\"\(left + 1 + p.position(b.startTime.seconds, width: width - left - 20))\" y=\"\(top + plot - h)\" width=\"8\" height=\"\(h)\"><title>\(b.id): \(formatBytes(b.writeBytes))</title></rect>\n"
        }
        return svg + "</svg>\n"
    }

    static func backupsTable(_ backups: [BackupInfo]) -> String {
        var rows = "<table id=\"backups\"><tr><th>ID</th><th>Mode</th><th>Status</th><th>Start</th><th>Duration</th><th>Stored</th><th>TLI</th><th>Annotations</th></tr>\n"
        for b in backups.reversed() {
            let duration = b.endTime.map { "\($0.seconds - b.startTime.seconds) s" } ?? "-"
            rows += "<tr data-id=\"\(b.id)\"><td>\(b.id)</td><td>\(b.mode.rawValue)</td><td class=\"\(b.status.rawValue)\">\(b.status.rawValue)</td><td>\(b.startTime)</td><td>\(duration)</td><td>\(formatBytes(b.writeBytes))</td><td>\(b.timeline)</td><td>\(escape(BackupAnnotation.text(b.annotations)))</td></tr>\n"
        }
        return rows + "</table>\n"
    }

    static func drillsTable(_ drills: [DrillRecord]) -> String {
        var rows = "<table id=\"drills\"><tr><th>ID</th><th>Result</th><th>Backup</th><th>Restore</th><th>Recovery</th><th>Recovered to</th><th>Reason</th></tr>\n"
        for d in drills.reversed() {
            rows += "<tr data-id=\"\(d.id)\"><td>\(d.id)</td><td class=\"\(d.result.rawValue)\">\(d.result.rawValue)</td><td>\(d.backupID ?? "-")</td>"
            rows += "<td>\(d.restoreSeconds.map { "\(Int($0.rounded())) s" } ?? "-")</td><td>\(d.recoverySeconds.map { "\(Int($0.rounded())) s" } ?? "-")</td>"
            rows += "<td>\(escape(d.recoveredTime ?? d.recoveredLSN ?? "-"))</td><td>\(escape(d.reason ?? ""))</td></tr>\n"
        }
        return rows + "</table>\n"
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }
}
