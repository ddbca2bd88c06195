import PostgresClient
import PostgresFormat
import Repository
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// What must hold before a backup starts: the right cluster, a server that can be backed up
/// online, and WAL that reaches the archive.
enum BackupChecks {
    static func cluster(_ cluster: DataDirectory, repository: Repository) throws {
        try sameMajor(cluster.major, as: repository, what: "the data directory \(cluster.path)")
        let found = cluster.control.systemIdentifier
        let expected = repository.identity.systemIdentifier
        guard found == expected else {
            throw EngineError.clusterMismatch(what: "data directory \(cluster.path)", found: found, expected: expected,
                                              repository: repository.path)
        }
    }

    static func server(_ s: ServerSettings, cluster: DataDirectory?, repository: Repository, connection: Connection? = nil) throws {
        guard let major = PostgresMajor(text: String(s.versionNumber)) else {
            throw EngineError.serverNotReady("the server is PostgreSQL \(s.versionNumber / 10000) (server_version_num \(s.versionNumber)); pgbk supports \(PostgresMajor.supportedText)")
        }
        try sameMajor(major, as: repository, what: "the server pgbk connected to")
        if s.systemIdentifier != String(repository.identity.systemIdentifier) {
            throw EngineError.clusterMismatch(what: "the server pgbk connected to", found: UInt64(s.systemIdentifier) ?? 0,
                                              expected: repository.identity.systemIdentifier, repository: repository.path)
        }
        if let cluster, FileSystem.realPath(s.dataDirectory) != FileSystem.realPath(cluster.path) {
            throw EngineError.invalidArgument("the server's data_directory is \(s.dataDirectory), not \(cluster.path) (-D/--pgdata)")
        }
        if s.inRecovery {
            throw EngineError.serverNotReady("the server is a standby (in recovery); pgbk backs up primaries only")
        }
        if s.walLevel == "minimal" {
            throw EngineError.serverNotReady("wal_level is minimal; set wal_level = replica (and restart) to take online backups")
        }
        if s.archiveMode == "off" {
            // With receive-wal as the only source of WAL (as Barman allows), the backup's WAL
            // comes from it: it must be streaming into this repository now.
            guard let connection, try receiveWALStreams(into: repository, connection: connection) else {
                throw EngineError.serverNotReady("archive_mode is off and no pgbk receive-wal streams into \(repository.path); set archive_mode = on and archive_command = 'pgbk archive-push -B \(repository.path) %p' (and restart), or run pgbk receive-wal: a backup is only consistent with its WAL")
            }
        }
    }

    /// Whether receive-wal streams into `repository`, giving one that runs on this host but
    /// has not reached the server yet (pgbk cron has just started it) up to ten seconds.
    static func receiveWALStreams(into repository: Repository, connection: Connection) throws -> Bool {
        for _ in 0..<40 {
            if try receiveWALIsStreaming(into: repository, connection: connection) { return true }
            guard try ReceiveOperation.isRunning(into: repository) else { return false }
            usleep(250_000)
        }
        return false
    }

    /// Whether receive-wal streams into `repository`: a walsender is streaming (or catching
    /// up after a burst of writes), and a segment between the one its receiver last reported
    /// flushed (the report may be seconds old; before the first, what was sent) and the one
    /// the server writes is being
    /// received into the repository's wal/receiving/ (ReceivedPartials).
    static func receiveWALIsStreaming(into repository: Repository, connection: Connection) throws -> Bool {
        let flushed = try connection.query("""
            SELECT pg_walfile_name(coalesce(flush_lsn, sent_lsn)), pg_walfile_name(pg_current_wal_lsn()) FROM pg_stat_replication
            WHERE state IN ('streaming', 'catchup') AND sent_lsn IS NOT NULL
            """)
        let size = UInt64(repository.identity.walSegmentSize)
        let receiving = try repository.receiving.list().map(\.segment)
        for row in flushed.rows {
            guard let from = row[0].flatMap({ WALSegmentName($0, segmentSize: size) }),
                  let to = row[1].flatMap({ WALSegmentName($0, segmentSize: size) }) else { continue }
            // pg_walfile_name names the segment before a boundary: at 0/3000000, ...02, while
            // the receiver already has ...03 open.
            func inRange(_ segment: WALSegmentName) -> Bool {
                segment.timeline == from.timeline && segment.segmentNumber + 1 >= from.segmentNumber
                    && segment.segmentNumber <= to.segmentNumber + 1
            }
            if receiving.contains(where: inRange) { return true }
            // Between storing a whole segment and opening the next, the receiver has no
            // partial: the segment it just stored (with archive_mode off, only it stores any).
            for number in stride(from: from.segmentNumber > 0 ? from.segmentNumber - 1 : 0, through: to.segmentNumber + 1, by: 1) {
                let segment = WALSegmentName(timeline: from.timeline, segmentNumber: number, segmentSize: size)
                if try repository.wal.find(segment.name) != nil && inRange(segment) { return true }
            }
        }
        return false
    }

    /// A repository serves one cluster at a time: after pg_upgrade nothing else is the same
    /// either (system identifier, catalog, WAL format); upgrade-repository makes the new one
    /// the next generation, with its own WAL.
    static func sameMajor(_ major: PostgresMajor, as repository: Repository, what: String) throws {
        let expected = repository.identity.pgMajorVersion
        guard String(major.number) == expected else {
            throw EngineError.invalidArgument("\(what) is \(major), but the repository \(repository.path) holds PostgreSQL \(expected) backups; a repository serves one cluster at a time: after pg_upgrade, run pgbk upgrade-repository -B \(repository.path) -D PGDATA (or start a new repository with pgbk init)")
        }
    }

    /// Backing up from a standby: `-h/-p` name the primary (it archives, and switches WAL at
    /// the end), the standby streams from it on the same timeline, not too far behind, and
    /// its data directory is -D.
    static func standby(_ standby: ServerSettings, primary: ServerSettings, standbyConnection: Connection,
                        primaryConnection: Connection, cluster: DataDirectory?, repository: Repository, maxLagBytes: UInt64) throws {
        if primary.inRecovery {
            throw EngineError.serverNotReady("the server named by -h/-p is in recovery; with --standby-host, -h/-p name the primary")
        }
        guard standby.inRecovery else {
            throw EngineError.serverNotReady("--standby-host names a server that is not in recovery: it is not a standby (promoted?)")
        }
        if standby.systemIdentifier != primary.systemIdentifier {
            throw EngineError.clusterMismatch(what: "the standby", found: UInt64(standby.systemIdentifier) ?? 0,
                                              expected: UInt64(primary.systemIdentifier) ?? 0, repository: repository.path)
        }
        let receiver = try standbyConnection.query("SELECT status, received_tli::text AS tli FROM pg_stat_wal_receiver")
        guard let status = receiver.value(0, "status"), status == "streaming" else {
            throw EngineError.serverNotReady("the standby is not streaming from the primary (WAL receiver: \(receiver.value(0, "status") ?? "not running")); a backup from it could not keep up")
        }
        let primaryTimeline = try primaryConnection.query("SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int::text AS tli").single ?? ""
        guard let standbyTimeline = receiver.value(0, "tli"), standbyTimeline == primaryTimeline else {
            throw EngineError.serverNotReady("the standby is on timeline \(receiver.value(0, "tli") ?? "?"), the primary on timeline \(primaryTimeline): it does not follow this primary")
        }
        let replayed = try standbyConnection.query("SELECT pg_last_wal_replay_lsn()::text").single ?? "0/0"
        let lag = try primaryConnection.query("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::bigint::text", [replayed]).single
        if let lag = lag.flatMap({ Int64($0) }), lag > Int64(maxLagBytes) {
            throw EngineError.serverNotReady("the standby has replayed \(lag) bytes less WAL than the primary has written, more than --max-standby-lag (\(maxLagBytes) bytes)")
        }
        // The pair first, then what the primary needs for the backup (archiving, version).
        try server(ServerSettings(copying: primary, dataDirectory: standby.dataDirectory, inRecovery: false), cluster: cluster, repository: repository,
                   connection: primaryConnection)
    }
}
