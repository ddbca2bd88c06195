import Testing
import Repository
@testable import Engine

/// The terminal picture of the window on a synthetic ten days (unit).
@Suite struct RecoveryPictureTests {
    @Test func eachColumnShowsWALGapsBackupsAndTheWindow() {
        let day: Int64 = 86_400, t0: Int64 = 1_900_000_000
        var archived: [(segment: String, time: Int64)] = []
        for n in 0..<100 where n != 50 {
            let time: Int64 = t0 + Int64(n) * day / 10
            archived.append((segment: "segment \(n)", time: time))
        }
        let lane = RecoveryPicture.Lane(timeline: 1, archived: archived, gaps: [(segment: "gap", time: t0 + 51 * day / 10)])
        var full = BackupInfo(id: "20300313-000000F", mode: .full, status: .ok, startTime: Timestamp(seconds: t0 + day))
        full.timeline = 1
        var incremental = BackupInfo(id: "20300319-000000I", mode: .incremental, status: .done, startTime: Timestamp(seconds: t0 + 7 * day))
        incremental.timeline = 1
        let picture = RecoveryPicture(from: t0, to: t0 + 10 * day, lanes: [lane], backups: [full, incremental], drills: [],
                                      windowStart: t0 + day + 60, windowEnd: t0 + 9 * day, horizon: t0 + day)
        let lines = picture.bars(width: 50)
        #expect(lines.count == 2)
        let cells = Array(lines[0].dropFirst(8).dropLast())
        #expect(lines[0].hasPrefix("TLI 1  |") && cells.count == 50, "\(lines[0])")
        #expect(cells[5] == "F" && cells[35] == "i" && cells[25] == "!", "\(lines[0])")
        #expect(cells.filter { $0 == "=" }.count >= 45, "WAL fills the rest: \(lines[0])")
        let marks = Array(lines[1].dropFirst(8))
        #expect(marks[5] == "[" && marks[45] == "]", "the window's start covers the horizon at the same column: \(lines[1])")
        let noWindow = RecoveryPicture(from: t0, to: t0 + 10 * day, lanes: [lane], backups: [], drills: [],
                                       windowStart: nil, windowEnd: nil, horizon: t0 + 3 * day).bars(width: 50)
        #expect(Array(noWindow[1].dropFirst(8))[15] == "R" && !noWindow[1].contains("["))
    }

    /// show timeline's "a column is 1m" under ten minutes of history: 64 columns of 10 minutes
    /// are about 9 s each (issue 23, item 11).
    @Test func aColumnSpansTheTimeItShows() {
        let t0: Int64 = 1_900_000_000
        func column(_ span: Int64) -> Int64 {
            RecoveryPicture(from: t0, to: t0 + span, lanes: [], backups: [], drills: [], windowStart: nil, windowEnd: nil, horizon: nil)
                .secondsPerColumn(width: 64)
        }
        #expect(column(600) == 9)
        #expect(column(10) == 1)
        #expect(column(64 * 86_400) == 86_400)
    }
}
