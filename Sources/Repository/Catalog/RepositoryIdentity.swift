/// `repository.ini`: which cluster a repository belongs to. Written by `init`, sealed with a
/// checksum; rewritten (atomically) only by `upgrade-repository`, which makes the cluster
/// pg_upgrade produced the current generation and keeps the ones before it, whose backups and
/// archived WAL stay restorable with their own major version's binaries.
public struct RepositoryIdentity: Sendable, Equatable {
    /// 2 once a repository has more than one generation (a pgbk before generations refuses it).
    public static let formatVersion = 2

    public var systemIdentifier: UInt64
    public var pgMajorVersion: String
    public var controlVersion: UInt32
    public var catalogVersion: UInt32
    public var blockSize: UInt32
    public var walSegmentSize: UInt32
    public var created: Timestamp
    /// 1, then one more at each `upgrade-repository`.
    public var generation = 1
    /// The generations before this one, oldest first.
    public var past: [PastGeneration] = []
    /// The repository's current generation: `generation`, except in a view of an earlier one
    /// (`asGeneration`), which must still tell the later generations' backups from its own.
    public var latest = 1

    /// Whether a backup of the cluster with this system identifier is of this generation:
    /// in a repository that has had several (upgrade-repository), its WAL is this generation's;
    /// in one of a single generation, every backup is (whatever it records).
    public func holds(systemIdentifier id: UInt64) -> Bool {
        latest == 1 || generation(ofSystem: id) == generation
    }

    /// A cluster the repository served before a pg_upgrade.
    public struct PastGeneration: Sendable, Equatable {
        public var generation: Int
        public var systemIdentifier: UInt64
        public var pgMajorVersion: String
        public var controlVersion: UInt32
        public var catalogVersion: UInt32
        public var blockSize: UInt32
        public var walSegmentSize: UInt32
        /// When `upgrade-repository` made the next one current.
        public var upgraded: Timestamp
    }

    public init(systemIdentifier: UInt64, pgMajorVersion: String, controlVersion: UInt32, catalogVersion: UInt32,
                blockSize: UInt32, walSegmentSize: UInt32, created: Timestamp) {
        self.systemIdentifier = systemIdentifier
        self.pgMajorVersion = pgMajorVersion
        self.controlVersion = controlVersion
        self.catalogVersion = catalogVersion
        self.blockSize = blockSize
        self.walSegmentSize = walSegmentSize
        self.created = created
    }

    /// The generation whose cluster has this system identifier (a backup's), nil if none
    /// (in a view of an earlier generation: a later one's).
    public func generation(ofSystem id: UInt64) -> Int? {
        if id == systemIdentifier { return generation }
        return past.last { $0.systemIdentifier == id }?.generation
    }

    /// This identity as generation `n` was: its cluster, its WAL (`Repository.walRootName(n)`).
    public func asGeneration(_ n: Int) -> RepositoryIdentity? {
        if n == generation { return self }
        guard let old = past.first(where: { $0.generation == n }) else { return nil }
        var view = RepositoryIdentity(systemIdentifier: old.systemIdentifier, pgMajorVersion: old.pgMajorVersion, controlVersion: old.controlVersion,
                                      catalogVersion: old.catalogVersion, blockSize: old.blockSize, walSegmentSize: old.walSegmentSize,
                                      created: created)
        view.generation = n
        view.past = past.filter { $0.generation < n }
        view.latest = latest
        return view
    }

    /// The next generation: this one kept as past, `cluster` current.
    public func upgraded(to cluster: RepositoryIdentity, at time: Timestamp) -> RepositoryIdentity {
        var next = cluster
        next.created = created
        next.generation = generation + 1
        next.latest = generation + 1
        next.past = past + [PastGeneration(generation: generation, systemIdentifier: systemIdentifier, pgMajorVersion: pgMajorVersion,
                                           controlVersion: controlVersion, catalogVersion: catalogVersion, blockSize: blockSize,
                                           walSegmentSize: walSegmentSize, upgraded: time)]
        return next
    }

    public func text() -> String {
        var f = IniFile()
        f["FORMAT_VERSION"] = generation > 1 ? "2" : "1"
        f["SYSTEM_IDENTIFIER"] = String(systemIdentifier)
        f["PG_VERSION"] = pgMajorVersion
        f["PG_CONTROL_VERSION"] = String(controlVersion)
        f["CATALOG_VERSION"] = String(catalogVersion)
        f["BLOCK_SIZE"] = String(blockSize)
        f["WAL_SEGMENT_SIZE"] = String(walSegmentSize)
        f["CREATED"] = created.description
        if generation > 1 { f["GENERATION"] = String(generation) }
        for old in past {
            let key = "GENERATION.\(old.generation)."
            f[key + "SYSTEM_IDENTIFIER"] = String(old.systemIdentifier)
            f[key + "PG_VERSION"] = old.pgMajorVersion
            f[key + "PG_CONTROL_VERSION"] = String(old.controlVersion)
            f[key + "CATALOG_VERSION"] = String(old.catalogVersion)
            f[key + "BLOCK_SIZE"] = String(old.blockSize)
            f[key + "WAL_SEGMENT_SIZE"] = String(old.walSegmentSize)
            f[key + "UPGRADED"] = old.upgraded.description
        }
        return SealedText.seal(f.text(header: "# pgbk repository identity: written by pgbk init and upgrade-repository, do not edit\n"))
    }

    public init(text: String, path: String) throws {
        let f = try IniFile(text: try SealedText.open(text, path: path), path: path)
        func value<T: LosslessStringConvertible>(_ key: String) throws -> T {
            guard let raw = f[key], let v = T(raw) else { throw CatalogError.corrupt(path, "missing or invalid \(key)") }
            return v
        }
        let version: Int = try value("FORMAT_VERSION")
        guard version <= Self.formatVersion else {
            throw CatalogError.invalid(path, "repository format \(version) is newer than this pgbk understands (\(Self.formatVersion)); upgrade pgbk")
        }
        systemIdentifier = try value("SYSTEM_IDENTIFIER")
        pgMajorVersion = try value("PG_VERSION")
        controlVersion = try value("PG_CONTROL_VERSION")
        catalogVersion = try value("CATALOG_VERSION")
        blockSize = try value("BLOCK_SIZE")
        walSegmentSize = try value("WAL_SEGMENT_SIZE")
        guard let created = f["CREATED"].flatMap({ Timestamp($0) }) else { throw CatalogError.corrupt(path, "missing or invalid CREATED") }
        self.created = created
        generation = f["GENERATION"] == nil ? 1 : try value("GENERATION")
        guard (1...1000).contains(generation) else { throw CatalogError.corrupt(path, "GENERATION \(generation) is out of range") }
        latest = generation
        for n in 1..<generation {
            let key = "GENERATION.\(n)."
            guard let upgraded = f[key + "UPGRADED"].flatMap({ Timestamp($0) }) else { throw CatalogError.corrupt(path, "missing or invalid \(key)UPGRADED") }
            past.append(PastGeneration(generation: n, systemIdentifier: try value(key + "SYSTEM_IDENTIFIER"), pgMajorVersion: try value(key + "PG_VERSION"),
                                       controlVersion: try value(key + "PG_CONTROL_VERSION"), catalogVersion: try value(key + "CATALOG_VERSION"),
                                       blockSize: try value(key + "BLOCK_SIZE"), walSegmentSize: try value(key + "WAL_SEGMENT_SIZE"),
                                       upgraded: upgraded))
        }
    }
}

/// `pgbk.ini`: the DBA's defaults, edited by hand like pg_rman.ini (so, unlike every file pgbk
/// writes for itself, it carries no checksum). Command-line options and environment override it.
public struct RepositoryConfig: Sendable, Equatable {
    public static let knownKeys: [String] = [
        "PGDATA", "COMPRESS", "COMPRESS_LEVEL", "ARCHIVE_TIMEOUT", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE",
        "KEEP_DATA_GENERATIONS", "KEEP_DATA_DAYS", "KEEP_ARCLOG_FILES", "KEEP_ARCLOG_DAYS", "LOCK_TIMEOUT",
        "ARCHIVE_GET_QUEUE_MAX", "SRVLOG_PATH", "KEEP_SRVLOG_FILES", "KEEP_SRVLOG_DAYS",
    ]

    public var values: [String: String]

    public init(values: [String: String] = [:]) { self.values = values }

    public subscript(key: String) -> String? { values[key].flatMap { $0.isEmpty ? nil : $0 } }

    public init(text: String, path: String) throws {
        let f = try IniFile(text: text, path: path)
        for key in f.keys where !Self.knownKeys.contains(key) {
            throw CatalogError.invalid(path, "unknown setting \(key) (known: \(Self.knownKeys.joined(separator: ", ")))")
        }
        var values: [String: String] = [:]
        for key in f.keys { values[key] = f[key] }
        self.values = values
        if let c = self["COMPRESS"], Compression(configValue: c) == nil {
            throw CatalogError.invalid(path, "COMPRESS must be none, zlib, zstd or lz4, not \(c)")
        }
        if let l = self["COMPRESS_LEVEL"], Int32(l) == nil {
            throw CatalogError.invalid(path, "COMPRESS_LEVEL must be a number, not \(l)")
        }
        for key in ["ARCHIVE_TIMEOUT", "KEEP_DATA_GENERATIONS", "KEEP_DATA_DAYS", "KEEP_ARCLOG_FILES", "KEEP_ARCLOG_DAYS", "LOCK_TIMEOUT"] {
            if let t = self[key], UInt32(t) == nil {
                throw CatalogError.invalid(path, "\(key) must be a whole number, not \(t)")
            }
        }
    }

    public func text() -> String {
        var out = """
        # pgbk.ini: defaults for this repository. Command-line options and the environment
        # (BACKUP_PATH, PGDATA, PGHOST, PGPORT, PGUSER, PGDATABASE) take precedence.

        """
        for key in Self.knownKeys {
            if let v = values[key] { out += key + "=" + IniFile.encodeValue(v) + "\n" }
        }
        out += """
        # COMPRESS=zstd          # none | zlib | zstd | lz4: how backups and archived WAL are stored
        # COMPRESS_LEVEL=1       # zlib 0-9, zstd -7-19, lz4 0-12
        # ARCHIVE_TIMEOUT=600    # seconds backup waits for its last WAL segment to be archived
        # KEEP_DATA_GENERATIONS=2  # retention, applied by expire and after each backup
        # KEEP_DATA_DAYS=14
        # KEEP_ARCLOG_FILES=0    # keep at least this many more archived WAL files
        # KEEP_ARCLOG_DAYS=0
        # LOCK_TIMEOUT=0         # seconds a command waits for another one's repository lock
        # ARCHIVE_GET_QUEUE_MAX=128M  # WAL archive-get fetches ahead (object storage; 0: none)

        """
        return out
    }
}
