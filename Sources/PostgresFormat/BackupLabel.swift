/// The `backup_label` text that `pg_backup_stop` returns; recovery starts from what it names.
public struct BackupLabel: Sendable, Equatable {
    public let startLSN: LSN
    public let startWALFile: String
    public let checkpointLSN: LSN
    public let startTimeline: TimelineID
    public let label: String

    public init(text: String) throws {
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingBlanks()
            fields[String(key)] = String(line[line.index(after: colon)...].trimmingBlanks())
        }
        // "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)"
        guard let start = fields["START WAL LOCATION"],
              let lsnText = start.split(separator: " ").first, let lsn = LSN(lsnText),
              let fileOpen = start.firstRange(of: "(file "), let close = start.lastIndex(of: ")")
        else { throw FormatError("backup_label", "no valid START WAL LOCATION line") }
        guard let checkpoint = fields["CHECKPOINT LOCATION"].flatMap({ LSN($0) }) else {
            throw FormatError("backup_label", "no valid CHECKPOINT LOCATION line")
        }
        guard let tli = fields["START TIMELINE"].flatMap({ TimelineID($0) }) else {
            throw FormatError("backup_label", "no valid START TIMELINE line")
        }
        startLSN = lsn
        startWALFile = String(start[fileOpen.upperBound..<close])
        checkpointLSN = checkpoint
        startTimeline = tli
        label = fields["LABEL"] ?? ""
    }
}

/// `tablespace_map`: one line per tablespace, `OID PATH`, with backslash, CR and LF in the
/// path escaped by a backslash (the form PostgreSQL 15 writes and reads).
public struct TablespaceMap: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public let oid: String
        public let path: String
        public init(oid: String, path: String) { self.oid = oid; self.path = path }
    }

    public var entries: [Entry]

    public init(entries: [Entry]) { self.entries = entries }

    public init(text: String) throws {
        var entries: [Entry] = []
        var line = ""
        var escaped = false
        for ch in text {
            if escaped { line.append(ch); escaped = false; continue }
            if ch == "\\" { escaped = true; continue }
            if ch == "\n" || ch == "\r" || ch == "\r\n" {
                if line.isEmpty { continue }
                guard let space = line.firstIndex(of: " "), space != line.startIndex,
                      line.index(after: space) != line.endIndex
                else { throw FormatError("tablespace_map", "invalid line \"\(line)\"") }
                entries.append(Entry(oid: String(line[..<space]), path: String(line[line.index(after: space)...])))
                line = ""
                continue
            }
            line.append(ch)
        }
        guard line.isEmpty, !escaped else { throw FormatError("tablespace_map", "last line is not terminated") }
        self.entries = entries
    }

    public var text: String {
        entries.map { entry in
            var escaped = ""
            for ch in entry.path {
                if ch == "\\" || ch == "\n" || ch == "\r" { escaped.append("\\") }
                escaped.append(ch)
            }
            return "\(entry.oid) \(escaped)\n"
        }.joined()
    }
}

