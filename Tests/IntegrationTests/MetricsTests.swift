import Testing
import Foundation
import Repository

/// `show --metrics` read back with Prometheus's own text-format parser (the prometheus_client
/// package): every family parses, and the values are the repository's (issue 15, item 4).
@Suite(.ownThread) struct MetricsTests {
    /// family name -> [(labels, value)], as prometheus_client parses the text.
    func parsed(_ s: Scratch, _ text: String) throws -> [String: [([String: String], Double)]] {
        let file = s.path + "/metrics.prom"
        try s.writeFile(file, text)
        let script = """
            import json, sys
            from prometheus_client.parser import text_string_to_metric_families
            out = {}
            for family in text_string_to_metric_families(open(sys.argv[1]).read()):
                assert family.type == "gauge", family.name
                out[family.name] = [[s.labels, s.value] for s in family.samples]
            print(json.dumps(out))
            """
        let r = try Command.run("/usr/bin/env", ["python3", "-c", script, file])
        guard r.succeeded else { throw CommandError(result: r) }
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: [[Any]]])
        return json.mapValues { samples in samples.map { (($0[0] as? [String: String]) ?? [:], ($0[1] as? Double) ?? .nan) } }
    }

    func value(_ m: [String: [([String: String], Double)]], _ name: String, _ labels: [String: String] = [:]) -> Double? {
        m["pgbk_" + name]?.first { sample in labels.allSatisfy { sample.0[$0.key] == $0.value } }?.1
    }

    @Test func metricsParseAsPrometheusTextAndSayWhatTheRepositoryHolds() throws {
        let s = try Scratch()
        let repo = s.path + "/repo"
        let cluster = try TestCluster.createInitialized(s, name: "db", repository: repo)
        defer { cluster.stopIfRunning() }
        try cluster.execute("CREATE TABLE t AS SELECT g FROM generate_series(1, 10000) g")
        _ = try backupAndValidate(s, repo, cluster, "full")
        try cluster.execute("INSERT INTO t SELECT g FROM generate_series(1, 1000) g")
        _ = try backupAndValidate(s, repo, cluster, "incremental")
        let drill = try s.pgbk(["drill", "-B", repo, "--scratch-dir", try s.makeDirectory("drills"), "--no-amcheck"])
        #expect(drill.succeeded, "\(drill)")
        for _ in 0..<3 {
            try cluster.execute("INSERT INTO t VALUES (1)")
            try cluster.switchWALAndWaitForArchive(repository: repo)
        }

        let shown = try s.pgbk(["show", "-B", repo, "--metrics"])
        #expect(shown.succeeded, "\(shown)")
        let m = try parsed(s, shown.stdout)
        #expect(m.values.allSatisfy { $0.allSatisfy { $0.0["repository"] == repo } }, "every sample names the repository")
        #expect(value(m, "backups", ["status": "OK"]) == 2 && value(m, "backups", ["status": "ERROR"]) == 0)
        #expect(value(m, "metrics_read_errors") == 0)
        let now = Date().timeIntervalSince1970
        for mode in ["full", "incremental"] {
            let ended = try #require(value(m, "backup_last_ok_end_timestamp_seconds", ["mode": mode]))
            #expect(abs(ended - now) < 600 && (value(m, "backup_last_ok_size_bytes", ["mode": mode]) ?? 0) > 0, "\(mode)")
            #expect((value(m, "backup_last_ok_age_seconds", ["mode": mode]) ?? -1) >= 0)
        }
        let newest = try #require(try Repository.open(repo).wal.listAll().filter { $0.walName.count == 24 }.max { $0.walName < $1.walName })
        #expect(m["pgbk_wal_last_archived_info"]?.first?.0["segment"] == newest.walName, "\(m["pgbk_wal_last_archived_info"] ?? [])")
        let start = try #require(value(m, "recovery_window_start_timestamp_seconds"))
        let end = try #require(value(m, "recovery_window_end_timestamp_seconds"))
        #expect(start < end && end <= now + 1, "\(start) \(end)")
        #expect(value(m, "wal_gap_in_window") == 0 && value(m, "wal_missing_segments") == 0)
        #expect(value(m, "drill_last_success") == 1 && value(m, "drill_last_restore_seconds") != nil)

        // A segment lost from the middle of the archive: a gap in the window.
        let segments = try Repository.open(repo).wal.listAll().filter { $0.walName.count == 24 }.sorted { $0.walName < $1.walName }
        try FileSystem.remove(segments[segments.count - 2].path)
        let gap = try parsed(s, try s.pgbk(["show", "-B", repo, "--metrics"]).stdout)
        #expect(value(gap, "wal_gap_in_window") == 1 && value(gap, "wal_missing_segments") == 1, "\(gap["pgbk_wal_gap_in_window"] ?? [])")

        // --all (issue 26): one exposition for every server of a backup host, each sample
        // labelled with its server; a server whose file is wrong, or a repository of one that
        // cannot be opened, is a 0 and the others are written all the same.
        let servers = try s.makeDirectory("servers", mode: 0o755)
        try s.writeFile(servers + "/db.conf", "BACKUP_PATH=\(repo)\n")
        try s.writeFile(servers + "/two.conf", "BACKUP_PATH=\(repo)\nBACKUP_PATH_2=\(s.path)/gone\n")
        try s.writeFile(servers + "/broken.conf", "BACKUP_PATH=\(repo)\nBACKUP_PATH_3=\(repo)\n")
        let everyServer = try s.pgbk(["show", "--metrics", "--all"], env: ["PGBK_SERVERS_DIR": servers])
        #expect(everyServer.succeeded && everyServer.stderr.contains("server broken: BACKUP_PATH_3 is set"), "\(everyServer)")
        let all = try parsed(s, everyServer.stdout)
        #expect(all.values.allSatisfy { $0.allSatisfy { ["db", "two", "broken"].contains($0.0["server"]) } }, "every sample names its server")
        #expect(everyServer.stdout.components(separatedBy: "# TYPE pgbk_backups gauge").count == 2, "each family once")
        #expect(value(all, "backups", ["server": "db", "status": "OK"]) == 2 && value(all, "backups", ["server": "two", "status": "OK"]) == 2)
        #expect(value(all, "server_configured", ["server": "db"]) == 1 && value(all, "server_configured", ["server": "broken"]) == 0)
        #expect(value(all, "repository_up", ["server": "two", "repository": s.path + "/gone"]) == 0
                && value(all, "repository_up", ["server": "two", "repository": repo]) == 1)
        #expect(all["pgbk_backups"]?.contains { $0.0["server"] == "broken" } == false)
        let mixed = try s.pgbk(["show", "--metrics", "--all", "-B", repo], env: ["PGBK_SERVERS_DIR": servers])
        #expect(failsWithOneError(mixed) && mixed.stderr.contains("takes no --server, -B or --repo"), "\(mixed)")
    }
}
