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
                            "S3_PART_SIZE", "S3_RETRIES", "S3_TIMEOUT", "S3_UPLOAD_EXPIRY", "ARCHIVE_GET_QUEUE_MAX"]

    let path: String?
    let values: IniFile

    /// nil `explicitPath`: the environment's or the default, which may be absent.
    init(explicitPath: String?) throws {
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
        for key in values.keys where !Self.knownKeys.contains(key) {
            throw EngineError.invalidArgument("configuration file \(candidate): unknown setting \(key) (known: \(Self.knownKeys.joined(separator: ", ")))")
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

    /// The environment's value, else the file's.
    func value(_ key: String) -> String? {
        environment(key) ?? values[key]
    }
}
