import Repository
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// An encrypted repository's passphrase (issue 27), from the local configuration only:
/// `CIPHER_PASS_FILE`, a regular file no other user can read or write (as the S3 secret's
/// configuration file), or `CIPHER_PASS_COMMAND`, whose standard output it is (a KMS or Vault
/// CLI, gpg). Never from the command line or an environment variable a process listing shows;
/// never printed, logged or stored. One trailing newline is not part of it.
public enum Passphrase {
    public static let limit = 4096

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// The passphrase the settings name, or nil when they name none.
    public static func read(settings: [String: String]) throws -> [UInt8]? {
        switch (settings["CIPHER_PASS_FILE"], settings["CIPHER_PASS_COMMAND"]) {
        case (nil, nil): return nil
        case (.some, .some): throw Failure(description: "CIPHER_PASS_FILE and CIPHER_PASS_COMMAND are both set: keep one")
        case (let file?, nil): return try fromFile(file)
        case (nil, let command?): return try fromCommand(command)
        }
    }

    /// `label`: how messages name the setting (`--new-pass-file` for rekey's).
    public static func fromFile(_ path: String, label: String = "CIPHER_PASS_FILE") throws -> [UInt8] {
        var st = stat()
        guard stat(path, &st) == 0 else { throw Failure(description: "\(label) \(path): \(String(cString: strerror(errno)))") }
        guard st.st_mode & S_IFMT == S_IFREG else { throw Failure(description: "\(label) \(path) is not a regular file") }
        guard st.st_mode & 0o006 == 0 else {
            throw Failure(description: "\(label) \(path) can be read or written by every user of the host; run: chmod o-rwx \(path)")
        }
        guard st.st_size <= limit else { throw Failure(description: "\(label) \(path) is longer than \(limit) bytes") }
        return try checked(try FileSystem.readAll(path, limit: limit), "\(label) \(path)")
    }

    /// The command's output; a failure names its exit status, never what it printed.
    public static func fromCommand(_ command: String, label: String = "CIPHER_PASS_COMMAND") throws -> [UInt8] {
        let (status, output) = try ChildProcess.capture(shell: command, limit: limit + 1, directory: "/")
        guard status == 0 else { throw Failure(description: "\(label) exited with status \(status)") }
        guard output.count <= limit else { throw Failure(description: "\(label) printed more than \(limit) bytes") }
        return try checked(output, label)
    }

    private static func checked(_ bytes: [UInt8], _ source: String) throws -> [UInt8] {
        var passphrase = bytes
        if passphrase.last == 0x0A { passphrase.removeLast() }
        if passphrase.last == 0x0D { passphrase.removeLast() }
        guard !passphrase.isEmpty else { throw Failure(description: "\(source) gives an empty passphrase") }
        return passphrase
    }
}
