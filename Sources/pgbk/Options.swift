import ArgumentParser
import Engine
import ObjectStorage
import PostgresClient
import StorageInterface
import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

func environment(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    let text = String(decoding: UnsafeRawBufferPointer(start: value, count: strlen(value)), as: UTF8.self)
    return text.isEmpty ? nil : text
}

/// -B/--backup-path, falling back to $BACKUP_PATH as in pg_rman, then to the configuration
/// file. A directory, or s3://BUCKET[/PREFIX]. Several repositories of one cluster (repo1,
/// repo2, ...) are named in order: -B repeated, or BACKUP_PATH, BACKUP_PATH_2, ...; a command
/// that works on one takes `--repo N` (default 1).
struct RepositoryOptions: ParsableArguments {
    @Option(name: [.customShort("B", allowingJoined: true), .customLong("backup-path")], help: "Repository: a directory or s3://BUCKET[/PREFIX]; repeat it for repo2, repo3, ... (default: $BACKUP_PATH, then BACKUP_PATH, BACKUP_PATH_2, ... in the configuration file).")
    var backupPaths: [String] = []

    @Option(name: .customLong("repo"), help: "Which repository a command that works on one uses: 1 for the first -B or BACKUP_PATH, 2 for the second or BACKUP_PATH_2, ... (default 1).")
    var repo: Int?

    @Option(name: .customLong("config"), help: "Configuration file with BACKUP_PATH and the AWS_*/S3_* settings (default: $PGBK_CONFIG, else /etc/pgbk/pgbk.conf when it exists).")
    var config: String?

    @Option(name: .customLong("server"), help: "A server configured on this backup host: its file NAME.conf in $PGBK_SERVERS_DIR, else /etc/pgbk/servers.d, gives the repositories and the connection (instead of --config and -B).")
    var server: String?

    @Option(name: .customLong("s3-uri-style"), help: "S3 addressing, path or host (default: S3_URI_STYLE, else path for an IP or localhost endpoint, host otherwise).")
    var s3URIStyle: String?

    @Option(name: .customLong("s3-storage-class"), help: "S3 storage class of the backup data and archived WAL a command writes, e.g. STANDARD_IA; the catalog stays in the bucket's default (default: S3_STORAGE_CLASS).")
    var s3StorageClass: String?

    @Option(name: .customLong("repo-target-time"), help: "Read the repository (--repo N, else the first) as it was at this time, e.g. '2026-12-01 03:00:00+00', from its S3 bucket's object versions: for the day its backups were deleted or overwritten. Read-only commands only.")
    var repoTargetTime: String?

    @Flag(name: [.customShort("q"), .long], help: "Print only errors and warnings.")
    var quiet = false

    @Flag(name: [.customShort("v"), .long], help: "Print more detail.")
    var verbose = false

    /// Every repository, in order: the -B options, else the configuration's.
    func resolvedPaths() throws -> [String] {
        Console.quiet = quiet
        Console.verbose = verbose
        if server != nil && !backupPaths.isEmpty {
            throw EngineError.invalidArgument("--server names the repositories in its file; -B is not taken with it")
        }
        let paths = backupPaths.isEmpty ? try localConfiguration().backupPaths() : backupPaths
        guard !paths.isEmpty else {
            throw EngineError.invalidArgument("no repository given: use -B/--backup-path or set BACKUP_PATH")
        }
        // An empty path (`-B "$UNSET"`, `BACKUP_PATH=`) would be the current directory:
        // PGDATA, when PostgreSQL runs archive_command.
        if let empty = paths.firstIndex(where: { $0.allSatisfy { $0 == " " || $0 == "\t" } }) {
            throw EngineError.invalidArgument("repo\(empty + 1): the backup path is empty")
        }
        if let repo { try RepositoryLabel.check("--repo", repo, among: paths) }
        return paths
    }

    /// The repository `--repo` chose (the first by default).
    func resolvedPath() throws -> String {
        let paths = try resolvedPaths()
        return paths[(repo ?? 1) - 1]
    }

    /// Which repositories a command that works on all of them (archive-push) uses: the one
    /// `--repo` names, else every one.
    func chosenPaths() throws -> [(number: Int, path: String)] {
        let paths = try resolvedPaths()
        if let repo { return [(repo, paths[repo - 1])] }
        return paths.enumerated().map { ($0.offset + 1, $0.element) }
    }

    /// The configuration file, or --server's, whose connection settings then stand in for
    /// libpq's environment where that leaves them unset.
    func localConfiguration() throws -> LocalConfiguration {
        guard let server else { return try LocalConfiguration(explicitPath: config) }
        if config != nil { throw EngineError.invalidArgument("--server and --config both name a configuration file: give one") }
        let local = try LocalConfiguration(explicitPath: try ServerConfiguration.path(of: server), extraKeys: ServerConfiguration.serverKeys)
        for key in ServerConfiguration.connectionKeys where environment(key) == nil {
            if let value = local.values[key] { setenv(key, value, 1) }
        }
        return local
    }

    /// The driver for the chosen repository's location (`path`: another one of the list).
    /// With --repo-target-time, the repository --repo names (else the first) is read as it
    /// was at that time; the others as they are.
    /// An encrypted repository's storage decrypts and encrypts with the passphrase its
    /// configuration names; a configured passphrase for a repository that is not encrypted
    /// is refused, so that a removed encryption.ini cannot make pgbk write plaintext.
    func storage(path chosen: String? = nil) throws -> any RepositoryStorage {
        let path = try chosen ?? resolvedPath()
        let raw = BundledStorage(try rawStorage(creating: false, path: path), policy: try bundlePolicy(for: path))
        guard let passphrase = try passphrase(for: path) else { return raw }
        guard let keyring = try Keyring.open(raw, passphrase: { passphrase }) else {
            throw EngineError.invalidArgument("\(path) is not encrypted, but a passphrase is configured for it (CIPHER_PASS_FILE or CIPHER_PASS_COMMAND): refused, so that nothing is stored in plain text where encryption is expected")
        }
        return EncryptedStorage(raw, keyring: keyring)
    }

    /// Whether a backup into the repository at `path` packs its small files into bundles:
    /// BUNDLE=on (BUNDLE_2 for repo2, ...), with BUNDLE_LIMIT and BUNDLE_SIZE; nil when off.
    /// Unset, it is on for object storage, where every object is a billed request and a
    /// round trip (a restore of many small files waits on them), and off for a directory.
    func bundlePolicy(for path: String) throws -> BundlePolicy? {
        let local = try localConfiguration()
        let number = (try local.backupPaths().firstIndex(of: path) ?? resolvedPaths().firstIndex(of: path) ?? 0) + 1
        let key = number == 1 ? "BUNDLE" : "BUNDLE_\(number)"
        switch local.value("BUNDLE", repository: number)?.lowercased() {
        case nil where !S3Settings.isS3URL(path): return nil
        case nil: break
        case "off", "n", "no", "false", "0": return nil
        case "on", "y", "yes", "true", "1": break
        case let other?: throw EngineError.invalidArgument("\(key) must be on or off, not \(other)")
        }
        func size(_ name: String, _ fallback: UInt64, _ range: ClosedRange<UInt64>) throws -> UInt64 {
            guard let text = local.value(name) else { return fallback }
            guard let n = ByteSize.parse(text), n >= 0, range.contains(UInt64(n)) else {
                throw EngineError.invalidArgument("\(name) must be a size from \(range.lowerBound) to \(range.upperBound / (1 << 20))M, such as 2M, not \(text)")
            }
            return UInt64(n)
        }
        let limit = try size("BUNDLE_LIMIT", BundlePolicy.defaultLimit, 1...(64 << 20))
        let bundleSize = try size("BUNDLE_SIZE", BundlePolicy.defaultSize, (1 << 20)...(1 << 30))
        guard limit <= bundleSize else { throw EngineError.invalidArgument("BUNDLE_LIMIT (\(limit)) is larger than BUNDLE_SIZE (\(bundleSize))") }
        return BundlePolicy(limit: limit, size: bundleSize)
    }

    /// The passphrase configured for the repository at `path` (CIPHER_PASS_FILE or
    /// CIPHER_PASS_COMMAND for repo1, ..._2 for repo2), read now; nil when none is. A path
    /// the configuration names is numbered as there, whatever order a command line gives
    /// (restore_command names the chosen repository first); others by their -B position.
    func passphrase(for path: String) throws -> [UInt8]? {
        let local = try localConfiguration()
        let index = try local.backupPaths().firstIndex(of: path) ?? resolvedPaths().firstIndex(of: path) ?? 0
        let number = index + 1
        var settings: [String: String] = [:]
        for key in ["CIPHER_PASS_FILE", "CIPHER_PASS_COMMAND"] { settings[key] = local.value(key, repository: number) }
        do {
            return try Passphrase.read(settings: settings)
        } catch let failure as Passphrase.Failure {
            throw EngineError.invalidArgument(number == 1 ? failure.description : "repo\(number): \(failure.description)")
        }
    }

    /// The storage as it is, without decryption (init, which makes encryption.ini).
    func rawStorage(creating: Bool, path chosen: String? = nil) throws -> any RepositoryStorage {
        let path = try chosen ?? resolvedPath()
        let past = try repoTargetTime != nil && path == resolvedPath() ? try pastTime(creating: creating) : nil
        guard S3Settings.isS3URL(path) else {
            if past != nil {
                throw EngineError.invalidArgument("--repo-target-time reads object versions, and \(path) is a directory: it works on a repository in a versioned S3 bucket")
            }
            return creating ? try PosixStorage.creating(path) : try PosixStorage.existing(path)
        }
        let local = try localConfiguration()
        let overrides = ["S3_URI_STYLE": s3URIStyle, "S3_STORAGE_CLASS": s3StorageClass].compactMapValues { $0 }
        let live = try S3Storage(settings: S3Settings(url: path, lookup: { key in overrides[key] ?? local.value(key) }))
        guard let past else { return live }
        return S3PointInTimeStorage(live, at: past.seconds, described: past.text)
    }

    /// For a command that writes into the repository.
    func refuseTargetTime() throws {
        if repoTargetTime != nil {
            throw EngineError.invalidArgument("--repo-target-time reads a repository as it was; a command that writes into it cannot take it")
        }
    }

    /// --repo-target-time in seconds since the epoch; it needs a time zone, since object
    /// versions are timed in UTC and the host's zone may not be the one the DBA means.
    private func pastTime(creating: Bool) throws -> (seconds: Int64, text: String)? {
        guard let text = repoTargetTime else { return nil }
        if creating { try refuseTargetTime() }
        guard let (micros, hadZone) = parseTimestampMicros(text), hadZone else {
            throw EngineError.invalidArgument("--repo-target-time \(text): give a time with its zone, e.g. '2026-12-01 03:00:00+00'")
        }
        return (micros / 1_000_000, text)
    }

    /// What to add to a pgbk command line written for PostgreSQL (restore_command): the
    /// configuration file, when one was named here.
    var configArguments: [String] {
        (config.map { ["--config", $0] } ?? []) + (server.map { ["--server", $0] } ?? []) + (s3URIStyle.map { ["--s3-uri-style", $0] } ?? [])
            + (s3StorageClass.map { ["--s3-storage-class", $0] } ?? [])
            + (repoTargetTime.map { ["--repo-target-time", $0] } ?? [])
    }

    func open(path: String? = nil) throws -> Repository {
        try Repository.open(storage: try storage(path: path))
    }

    /// For commands that write into the repository.
    func openForWriting(path: String? = nil) throws -> Repository {
        try refuseTargetTime()
        let opened = try open(path: path)
        try opened.checkWriter()
        // A command on one of several repositories (backup, validate, expire, delete,
        // purge): every line it prints names which.
        let paths = try resolvedPaths()
        if path == nil && paths.count > 1 { Console.repository = RepositoryLabel.label(repo ?? 1, paths[(repo ?? 1) - 1]) }
        return opened
    }

    /// The repository arguments for a pgbk command line written for PostgreSQL
    /// (restore_command, the prefetcher): the configuration file and each -B given here.
    var commandLineArguments: [String] {
        configArguments + backupPaths.flatMap { ["-B", $0] } + (repo.map { ["--repo", String($0)] } ?? [])
    }
}

/// How every output names a repository when there are several: its number and location.
enum RepositoryLabel {
    static func label(_ number: Int, _ path: String) -> String { "repo\(number) (\(path))" }
    static func list(_ paths: [String]) -> String {
        paths.enumerated().map { label($0.offset + 1, $0.element) }.joined(separator: ", ")
    }

    /// A repository number given with `option` must name one of `paths`.
    static func check(_ option: String, _ number: Int, among paths: [String]) throws {
        guard !(1...paths.count).contains(number) else { return }
        throw EngineError.invalidArgument("\(option) \(number): there \(paths.count == 1 ? "is 1 repository" : "are \(paths.count) repositories") (\(list(paths)))")
    }
}

/// Connection options named as in psql and pg_rman; unset ones fall back to pgbk.ini, then
/// to libpq's PG* variables.
struct ConnectionOptions: ParsableArguments {
    @Option(name: [.customShort("h", allowingJoined: true), .long], help: "Database server host or socket directory.")
    var host: String?

    @Option(name: [.customShort("p", allowingJoined: true), .long], help: "Database server port.")
    var port: String?

    @Option(name: [.customShort("U", allowingJoined: true), .long], help: "Database user name.")
    var username: String?

    @Option(name: [.customShort("d", allowingJoined: true), .long], help: "Database name or connection string.")
    var dbname: String?

    /// `pgdata`: the cluster's data directory, when known. With neither host nor port given
    /// (option, environment, pgbk.ini), its postmaster.pid says where the running server
    /// listens (port, first socket directory), rather than libpq's 5432 of another cluster.
    func parameters(config: RepositoryConfig, pgdata: String? = nil) -> ConnectionParameters {
        var host = host ?? environment("PGHOST") ?? config["PGHOST"]
        var port = port ?? environment("PGPORT") ?? config["PGPORT"]
        if host == nil && port == nil, let running = Self.listening(pgdata ?? environment("PGDATA") ?? config["PGDATA"]) {
            (host, port) = running
        }
        return ConnectionParameters(host: host, port: port, user: username ?? environment("PGUSER") ?? config["PGUSER"],
                                    database: dbname ?? environment("PGDATABASE") ?? config["PGDATABASE"] ?? "postgres")
    }

    /// The socket directory and port in `pgdata/postmaster.pid` (lines 5 and 4), if any.
    static func listening(_ pgdata: String?) -> (host: String?, port: String)? {
        guard let pgdata, let text = try? FileSystem.readText(pgdata + "/postmaster.pid", limit: 4096) else { return nil }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.count > 4, let port = Int(lines[3].trimmingBlanks()), port > 0 else { return nil }
        let socket = String(lines[4].trimmingBlanks())
        return (socket.isEmpty ? nil : socket, String(port))
    }
}

/// --compress=none|zlib, with -Z as pg_rman's shorthand for zlib.
struct CompressionOptions: ParsableArguments {
    @Flag(name: [.customShort("Z")], help: "Compress with zlib (same as --compress=zlib).")
    var zlib = false

    @Option(name: .customLong("compress"), help: "none, zlib, zstd or lz4 (default: COMPRESS in pgbk.ini, else none).")
    var compress: Compression?

    @Option(name: .customLong("compress-level"), parsing: .unconditional, help: "Level for the chosen compression (zlib 0-9, zstd -7-19, lz4 0-12; default: COMPRESS_LEVEL in pgbk.ini, else 1).")
    var level: Int32?

    func resolve(_ config: RepositoryConfig) throws -> (Compression, Int32) {
        var compression = Compression.none
        if let c = config["COMPRESS"], let v = Compression(configValue: c) { compression = v }
        if let compress { compression = compress }
        if zlib { compression = .zlib }
        let level = level ?? config["COMPRESS_LEVEL"].flatMap { Int32($0) } ?? compression.defaultLevel
        guard compression.levels.contains(level) else {
            throw EngineError.invalidArgument("--compress-level for \(compression.rawValue) must be \(compression.levels.lowerBound) to \(compression.levels.upperBound), not \(level)")
        }
        return (compression, level)
    }
}

func selfExecutablePath() -> String {
    (try? FileSystem.readLink("/proc/self/exe")) ?? CommandLine.arguments[0]
}

/// --lock-timeout, falling back to LOCK_TIMEOUT in pgbk.ini, then 0 (fail at once).
struct LockOptions: ParsableArguments {
    @Option(name: .customLong("lock-timeout"), parsing: .unconditional, help: "Seconds to wait for another pgbk's repository lock (default: LOCK_TIMEOUT in pgbk.ini, else 0).")
    var lockTimeout: Int?

    func seconds(_ config: RepositoryConfig) throws -> Int {
        if let lockTimeout, lockTimeout < 0 {
            throw EngineError.invalidArgument("--lock-timeout must be 0 or more seconds, not \(lockTimeout)")
        }
        return max(0, lockTimeout ?? config["LOCK_TIMEOUT"].flatMap { Int($0) } ?? 0)
    }
}

/// Retention options, falling back to pgbk.ini.
struct RetentionOptions: ParsableArguments {
    @Option(name: .customLong("keep-data-generations"), parsing: .unconditional, help: "Full backups to keep, each with its incrementals.")
    var generations: Int?
    @Option(name: .customLong("keep-data-days"), parsing: .unconditional, help: "Keep what restores to any moment of the last N days.")
    var days: Int?
    @Option(name: .customLong("keep-arclog-files"), parsing: .unconditional, help: "Keep at least N more archived WAL files.")
    var arclogFiles: Int?
    @Option(name: .customLong("keep-arclog-days"), parsing: .unconditional, help: "Keep archived WAL files younger than N days.")
    var arclogDays: Int?
    @Option(name: .customLong("keep-srvlog-files"), parsing: .unconditional, help: "Keep backups' server log copies (backup -s) until N newer log files are kept.")
    var srvlogFiles: Int?
    @Option(name: .customLong("keep-srvlog-days"), parsing: .unconditional, help: "Keep backups' server log copies of the last N days.")
    var srvlogDays: Int?

    /// The server log retention (nil, nil: none given).
    func serverLog(_ config: RepositoryConfig) throws -> (files: Int?, days: Int?) {
        let files = srvlogFiles ?? config["KEEP_SRVLOG_FILES"].flatMap { Int($0) }
        let days = srvlogDays ?? config["KEEP_SRVLOG_DAYS"].flatMap { Int($0) }
        for (name, value) in [("--keep-srvlog-files", files), ("--keep-srvlog-days", days)] {
            if let value, value < 0 { throw EngineError.invalidArgument("\(name) must not be negative, not \(value)") }
        }
        return (files, days)
    }

    func policy(_ config: RepositoryConfig) throws -> RetentionPlanner.Policy? {
        let g = generations ?? config["KEEP_DATA_GENERATIONS"].flatMap { Int($0) }
        let d = days ?? config["KEEP_DATA_DAYS"].flatMap { Int($0) }
        if let g, g < 1 { throw EngineError.invalidArgument("--keep-data-generations must be at least 1, not \(g)") }
        if let d, d < 0 { throw EngineError.invalidArgument("--keep-data-days must not be negative, not \(d)") }
        return g == nil && d == nil ? nil : RetentionPlanner.Policy(generations: g, days: d)
    }

    func wal(_ config: RepositoryConfig) throws -> WALRetention {
        for (name, value) in [("--keep-arclog-files", arclogFiles), ("--keep-arclog-days", arclogDays)] {
            if let value, value < 0 { throw EngineError.invalidArgument("\(name) must not be negative, not \(value)") }
        }
        return WALRetention(keepFiles: max(0, arclogFiles ?? config["KEEP_ARCLOG_FILES"].flatMap { Int($0) } ?? 0),
                     keepDays: max(0, arclogDays ?? config["KEEP_ARCLOG_DAYS"].flatMap { Int($0) } ?? 0))
    }
}

/// -j/--jobs: files processed side by side.
struct JobsOptions: ParsableArguments {
    @Option(name: [.customShort("j", allowingJoined: true), .customLong("jobs")], parsing: .unconditional, help: "Files processed in parallel (default: the CPUs, at most 8).")
    var jobs: Int?

    func resolved() throws -> Int? {
        if let jobs, jobs < 1 || jobs > 64 { throw EngineError.invalidArgument("-j/--jobs must be 1 to 64, not \(jobs)") }
        return jobs
    }
}

/// -P/--progress: on by default when stderr is a terminal; forced on elsewhere (a line every
/// 10 s in a log); never with --quiet.
struct ProgressOptions: ParsableArguments {
    @Flag(name: [.customShort("P"), .long], help: "Show progress (bytes, rate, time left, files); the default on a terminal.")
    var progress = false

    func apply() {
        let terminal = isatty(2) == 1
        ProgressMeter.style = terminal ? .terminal : progress ? .log : .off
    }
}
