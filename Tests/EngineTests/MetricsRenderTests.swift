import Testing
import Repository
@testable import Engine

/// The Prometheus text rendering on synthetic input (unit); MetricsTests parses the real thing.
@Suite struct MetricsRenderTests {
    @Test func labelsAreEscapedAndEmptyFamiliesLeftOut() {
        let input = MetricsInput(repository: "/srv/\"odd\" repo\\x\n", now: Timestamp(seconds: 1000), backups: [], unreadableBackups: 1,
                                 archivedWAL: [], windowStart: nil, windowEnd: nil, missingSegments: 0, gapInWindow: false, drills: [])
        let text = Metrics.render(Metrics.families(input))
        #expect(text.contains("pgbk_backups{repository=\"/srv/\\\"odd\\\" repo\\\\x\\n\",status=\"UNREADABLE\"} 1\n"), "\(text)")
        #expect(text.contains("# TYPE pgbk_backups gauge\n"))
        #expect(!text.contains("backup_last_ok") && !text.contains("drill_"), "no backup, no drill: those families are absent")
        #expect(text.contains("pgbk_metrics_timestamp_seconds{repository=") && text.hasSuffix("\n"))
    }

    @Test func theNewestBackupOfEachModeAndTheNewestDrillAreReported() {
        var full = BackupInfo(id: "20330518-000000F", mode: .full, status: .ok, startTime: Timestamp(seconds: 100))
        full.endTime = Timestamp(seconds: 160)
        full.writeBytes = 12345
        var failedDrill = DrillRecord(id: "20330519-000000D", result: .failed, startTime: Timestamp(seconds: 200), endTime: Timestamp(seconds: 300), target: "x")
        failedDrill.restoreSeconds = 2.5
        let goodDrill = DrillRecord(id: "20330518-100000D", result: .ok, startTime: Timestamp(seconds: 170), endTime: Timestamp(seconds: 190), target: "x")
        let input = MetricsInput(repository: "r", now: Timestamp(seconds: 1000), backups: [full], unreadableBackups: 0, archivedWAL: [],
                                 windowStart: 150.5, windowEnd: 900, missingSegments: 2, gapInWindow: true, drills: [goodDrill, failedDrill])
        let text = Metrics.render(Metrics.families(input))
        for line in ["pgbk_backup_last_ok_duration_seconds{repository=\"r\",mode=\"full\"} 60",
                     "pgbk_backup_last_ok_age_seconds{repository=\"r\",mode=\"full\"} 840",
                     "pgbk_backup_last_ok_size_bytes{repository=\"r\",mode=\"full\"} 12345",
                     "pgbk_recovery_window_start_timestamp_seconds{repository=\"r\"} 150.5",
                     "pgbk_wal_gap_in_window{repository=\"r\"} 1", "pgbk_drill_last_success{repository=\"r\"} 0",
                     "pgbk_drill_last_restore_seconds{repository=\"r\"} 2.5", "pgbk_drill_last_ok_timestamp_seconds{repository=\"r\"} 190"] {
            #expect(text.contains(line + "\n"), "\(line)")
        }
        #expect(!text.contains("mode=\"incremental\""))
    }

    /// Issue 22, defect 10: when the archive could not be read, the gap gauges are absent,
    /// not 0 (an alert on `wal_gap_in_window == 1` must not stay green on what is unknown).
    @Test func unknownGapsAreLeftOutNotWrittenAsZero() {
        var input = MetricsInput(repository: "r", now: Timestamp(seconds: 1000), backups: [], unreadableBackups: 0, archivedWAL: [],
                                 windowStart: nil, windowEnd: nil, missingSegments: nil, gapInWindow: nil, drills: [])
        input.readErrors = 1
        let text = Metrics.render(Metrics.families(input))
        #expect(!text.contains("wal_gap_in_window") && !text.contains("wal_missing_segments"), "\(text)")
        #expect(text.contains("pgbk_metrics_read_errors{repository=\"r\"} 1\n"), "\(text)")
        input.missingSegments = 0
        input.gapInWindow = false
        let known = Metrics.render(Metrics.families(input))
        #expect(known.contains("pgbk_wal_gap_in_window{repository=\"r\"} 0\n") && known.contains("pgbk_wal_missing_segments{repository=\"r\"} 0\n"))
    }
}
