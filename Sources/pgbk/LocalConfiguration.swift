import Engine
import Repository

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// pgbk's configuration file on this host: settings that PostgreSQL's environment lacks when
/// it runs archive_command and restore_command (BACKUP_PATH, the AWS_* and S3_* settings),
/// as KEY=VALUE lines. `--config`, else $PGBK_CONFIG, else /etc/pgbk/pgbk.conf if it exists.
/// The environment overrides the file; options override both.
struct LocalConfiguration {
    static let defaultPath = "/etc/pgbk/pgbk.conf"
    static let secretKeys = ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]
    static let knownKeys = ["BACKUP_PATH", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
                            "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_CA_BUNDLE", "S3_URI_STYLE",
                            "S3_PART_SIZE", "S3_RETRIES", "S3_TIMEOUT", "S3_UPLOAD_EXPIRY", "S3_READ_AHEAD", "ARCHIVE_GET_QUEUE_MAX", "ARCHIVE_PUSH_ASYNC", "ARCHIVE_PUSH_JOBS", "ARCHIVE_PUSH_QUEUE_MAX",
                            "CIPHER_PASS_FILE", "CIPHER_PASS_COMMAND", "S3_SSE", "S3_SSE_KMS_KEY_ID", "S3_SSE_CUSTOMER_KEY_FILE", "S3_STORAGE_CLASS", "S3_TAGS",
                            "BUNDLE", "BUNDLE_LIMIT", "BUNDLE_SIZE"]
    /// The settings repo2 and after have their own of, as BACKUP_PATH_2.
    static let numberedKeys = ["BACKUP_PATH", "CIPHER_PASS_FILE", "CIPHER_PASS_COMMAND", "BUNDLE"]

    let path: String?
    let values: IniFile

    /// nil `explicitPath`: the environment's or the default, which may be absent.
    /// `extraKeys`: what else the file may set (a server's file: its connection).
    init(explicitPath: String?, extraKeys: [String] = []) throws {
        let chosen = explicitPath ?? environment("PGBK_CONFIG")
        let candidate = chosen ?? Self.defaultPath
        guard chosen != nil || FileSystem.exists(candidate) else {
            path = nil
            values = IniFile()
            return
        }
        guard FileSystem.exists(candidate) else {
            throw EngineError.invalidArgument("configuration file \(candidate) does not exist")
        }
        let text = try FileSystem.readText(candidate)
        let values = try IniFile(text: text, path: candidate)
        for key in values.keys where !Self.knownKeys.contains(key) && !extraKeys.contains(key) && Self.numbered(key) == nil {
            throw EngineError.invalidArgument("configuration file \(candidate): unknown setting \(key) (known: \((Self.knownKeys + extraKeys).joined(separator: ", ")))")
        }
        if Self.secretKeys.contains(where: { values[$0] != nil }) {
            let mode = try FileSystem.status(candidate, followLinks: true).mode
            // Readable by every user of the host: the secret is not one any more.
            if mode & 0o004 != 0 {
                throw EngineError.invalidArgument("configuration file \(candidate) holds a secret but every user can read it; run: chmod o-rwx \(candidate)")
            }
        }
        path = candidate
        self.values = values
    }

    /// 2 for BACKUP_PATH_2, ...: the keys that name repo2 and after.
    static func repositoryNumber(_ key: String) -> Int? {
        numbered(key).flatMap { $0.base == "BACKUP_PATH" ? $0.number : nil }
    }

    /// ("CIPHER_PASS_FILE", 2) for CIPHER_PASS_FILE_2: a setting of repo2 and after.
    static func numbered(_ key: String) -> (base: String, number: Int)? {
        for base in numberedKeys where key.hasPrefix(base + "_") {
            guard let n = Int(key.dropFirst(base.count + 1)), n >= 2, n <= 99, key == "\(base)_\(n)" else { return nil }
            return (base, n)
        }
        return nil
    }

    /// Repository `number`'s setting: BACKUP_PATH's kind for repo1, BACKUP_PATH_2's for repo2.
    func value(_ base: String, repository number: Int) -> String? {
        value(number == 1 ? base : "\(base)_\(number)")
    }

    /// BACKUP_PATH, BACKUP_PATH_2, ... in order (each from the environment, else the file);
    /// a number left out is an error rather than a silently shorter list.
    func backupPaths() throws -> [String] {
        let numbers = Set(values.keys.compactMap(Self.repositoryNumber)).union(
            (2...99).filter { environment("BACKUP_PATH_\($0)") != nil })
        guard let first = value("BACKUP_PATH") else {
            if let n = numbers.min() { throw EngineError.invalidArgument("BACKUP_PATH_\(n) is set but BACKUP_PATH (repo1) is not") }
            return []
        }
        var paths = [first]
        for n in numbers.sorted() {
            guard n == paths.count + 1 else {
                throw EngineError.invalidArgument("BACKUP_PATH_\(n) is set but BACKUP_PATH_\(paths.count + 1) is not: number the repositories without gaps")
            }
            paths.append(value("BACKUP_PATH_\(n)")!)
        }
        return paths
    }

    /// The environment's value, else the file's.
    func value(_ key: String) -> String? {
        environment(key) ?? values[key]
    }
}
