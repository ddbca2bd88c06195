import PostgresClient
import PostgresFormat
import Repository

/// Builds the ChangedBlockMap from the server's own WAL summaries (PostgreSQL 17+ with
/// `summarize_wal = on`): the summarizer has already read the WAL, so pgbk reads neither WAL
/// nor pages it does not need. Used only when summaries on the backup's timeline cover the
/// whole range without a gap; a limit block (a relation created, truncated or dropped) makes
/// that fork's file be read whole, and relation number 0 stands for every file of a database
/// created or dropped, as PostgreSQL's own incremental backup reads them.
struct WALSummaryReader {
    let connection: Connection
    /// How long to wait for the summarizer to reach the backup's start.
    let waitSeconds: Int
    /// Rows fetched per round trip: memory stays flat however many blocks changed.
    var batchRows = 50_000

    /// Whether the server keeps summaries: 17 or later, with summarize_wal on.
    static func isEnabled(on connection: Connection, major: Int) throws -> Bool {
        guard major >= 17 else { return false }
        return try connection.query("SELECT current_setting('summarize_wal', true)").single == "on"
    }

    func read(from start: LSN, to end: LSN, timeline: TimelineID) throws -> ChangedBlockMap.Outcome {
        guard try awaitSummarized(end, timeline: timeline) else {
            return .unavailable("the WAL summarizer had not reached \(end) after \(waitSeconds) s")
        }
        let summaries = try connection.query("""
            SELECT start_lsn::text, end_lsn::text FROM pg_available_wal_summaries()
            WHERE tli = $1 AND end_lsn > $2::pg_lsn AND start_lsn < $3::pg_lsn ORDER BY start_lsn, end_lsn
            """, [String(timeline), start.description, end.description]).rows.compactMap { row -> (LSN, LSN)? in
            guard let a = row[0].flatMap(LSN.init), let b = row[1].flatMap(LSN.init) else { return nil }
            return (a, b)
        }
        guard let ranges = Self.covering(summaries, from: start, to: end) else {
            return .unavailable("the WAL summaries on timeline \(timeline) do not cover \(start) to \(end)")
        }
        var map = ChangedBlockMap()
        for (a, b) in ranges { try add(a, b, timeline: timeline, to: &map) }
        return .map(map)
    }

    /// The summaries to read, in order, when together they leave no gap from start to end.
    static func covering(_ summaries: [(LSN, LSN)], from start: LSN, to end: LSN) -> [(LSN, LSN)]? {
        var reached = start
        var chosen: [(LSN, LSN)] = []
        for (a, b) in summaries where b > reached {
            guard a <= reached else { return nil }
            chosen.append((a, b))
            reached = b
            if reached >= end { return chosen }
        }
        return nil
    }

    private func awaitSummarized(_ lsn: LSN, timeline: TimelineID) throws -> Bool {
        try poll(forSeconds: Double(waitSeconds), firstDelay: 100_000) {
            let state = try connection.query("SELECT summarized_tli::text, summarized_lsn::text FROM pg_get_wal_summarizer_state()")
            guard let tli = state.value(0, "summarized_tli").flatMap({ TimelineID($0) }),
                  let done = state.value(0, "summarized_lsn").flatMap(LSN.init) else { return false }
            return tli > timeline || (tli == timeline && done >= lsn)
        }
    }

    private func add(_ start: LSN, _ end: LSN, timeline: TimelineID, to map: inout ChangedBlockMap) throws {
        try connection.query("BEGIN")
        defer { _ = try? connection.query("COMMIT") }
        try connection.query("""
            DECLARE pgbk_summary NO SCROLL CURSOR FOR
            SELECT relfilenode, reltablespace, reldatabase, relforknumber, relblocknumber, is_limit_block
            FROM pg_wal_summary_contents($1, $2::pg_lsn, $3::pg_lsn)
            """, [String(timeline), start.description, end.description])
        while true {
            let rows = try connection.query("FETCH FORWARD \(batchRows) FROM pgbk_summary").rows
            for row in rows { try Self.apply(row, to: &map) }
            if rows.count < batchRows { break }
        }
    }

    /// One row of pg_wal_summary_contents: a changed block, or a limit block that makes the
    /// fork's file (relation number 0: every file of the database) be read whole.
    static func apply(_ row: [String?], to map: inout ChangedBlockMap) throws {
        guard row.count == 6, let rel = row[0].flatMap(UInt32.init), let spc = row[1].flatMap(UInt32.init),
              let db = row[2].flatMap(UInt32.init), let fork = row[3].flatMap(UInt8.init),
              let block = row[4].flatMap(UInt32.init), let limit = row[5], limit == "t" || limit == "f" else {
            throw EngineError.serverNotReady("pg_wal_summary_contents returned a row pgbk cannot read: \(row.map { $0 ?? "NULL" })")
        }
        if limit == "f" {
            map.insert(RelFileLocator(tablespace: spc, database: db, relation: rel), fork: fork, block: block)
        } else if rel == 0 {
            map.readWhole(ChangedBlockMap.Database(tablespace: spc, database: db))
        } else {
            map.readWhole(RelFileLocator(tablespace: spc, database: db, relation: rel))
        }
    }
}
