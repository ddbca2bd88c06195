/// `repository.ini`: which cluster a repository belongs to. Written once by `init`, sealed with
/// a checksum, never edited.
public struct RepositoryIdentity: Sendable, Equatable {
    public static let formatVersion = 1

    public var systemIdentifier: UInt64
    public var pgMajorVersion: String
    public var controlVersion: UInt32
    public var catalogVersion: UInt32
    public var blockSize: UInt32
    public var walSegmentSize: UInt32
    public var created: Timestamp

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

    public func text() -> String {
        var f = IniFile()
        f["FORMAT_VERSION"] = String(Self.formatVersion)
        f["SYSTEM_IDENTIFIER"] = String(systemIdentifier)
        f["PG_VERSION"] = pgMajorVersion
        f["PG_CONTROL_VERSION"] = String(controlVersion)
        f["CATALOG_VERSION"] = String(catalogVersion)
        f["BLOCK_SIZE"] = String(blockSize)
        f["WAL_SEGMENT_SIZE"] = String(walSegmentSize)
        f["CREATED"] = created.description
        return SealedText.seal(f.text(header: "# pgbk repository identity: written by pgbk init, do not edit\n"))
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
