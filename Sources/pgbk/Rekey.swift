import ArgumentParser
import Engine
import Repository

/// `pgbk rekey`: a new passphrase for an encrypted repository, in seconds whatever its size.
struct Rekey: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Change an encrypted repository's passphrase (rewraps its data keys; rewrites no data).",
        discussion: "The current passphrase is the one the local configuration names (CIPHER_PASS_FILE or CIPHER_PASS_COMMAND, ..._2 for repo2); the new one comes from --new-pass-file or --new-pass-command, never from the command line. archive-push, receive-wal and backups may run meanwhile. Killed, it is run again with the same options: it completes what it began, also once the configuration names the new passphrase. When it ends the old passphrase opens nothing: point the configuration at the new one (mv new-file current-file).",
        helpNames: [.long])

    @OptionGroup var repository: RepositoryOptions
    @Option(name: .customLong("new-pass-file"), help: "A file holding the new passphrase (mode checked as for CIPHER_PASS_FILE).")
    var newPassFile: String?
    @Option(name: .customLong("new-pass-command"), help: "A command printing the new passphrase (as CIPHER_PASS_COMMAND).")
    var newPassCommand: String?
    @OptionGroup var kdf: KDFCostOption

    func run() throws {
        try repository.refuseTargetTime()
        let new: [UInt8]
        do {
            switch (newPassFile, newPassCommand) {
            case (let file?, nil): new = try Passphrase.fromFile(file, label: "--new-pass-file")
            case (nil, let command?): new = try Passphrase.fromCommand(command, label: "--new-pass-command")
            default: throw EngineError.invalidArgument("rekey needs the new passphrase from one of --new-pass-file and --new-pass-command")
            }
        } catch let failure as Passphrase.Failure {
            throw EngineError.invalidArgument(failure.description)
        }
        let path = try repository.resolvedPath()
        let storage = try repository.rawStorage(creating: false, path: path)
        try storage.checkWriter()
        let report = try KeyRotation.run(storage, old: { try repository.passphrase(for: path) }, new: new, cost: try kdf.resolved())
        if report.finishedEarlierRun {
            Console.info("\(path): an earlier rekey had already made generation \(report.generation) current; its leftovers are removed")
        } else {
            Console.info("\(path): rekeyed to passphrase generation \(report.generation) (\(report.keys) data key(s) rewrapped); the old passphrase opens nothing now: point CIPHER_PASS_FILE or CIPHER_PASS_COMMAND at the new one")
        }
    }
}

/// scrypt's cost for a new passphrase (init, rekey): what each archive-push and archive-get
/// then pays once.
struct KDFCostOption: ParsableArguments {
    @Option(name: .customLong("kdf-cost"), help: "scrypt's cost for the passphrase as log2 of N, 14 to 20 (default 15: 32 MiB, about 0.1 s, paid by each archive-push and archive-get; a generated passphrase needs no more).")
    var log2N: Int?

    func resolved() throws -> (n: UInt64, r: UInt64, p: UInt64) {
        guard let log2N else { return KeyEncryptionKey.defaultCost }
        guard KeyEncryptionKey.costRange.contains(log2N) else {
            throw EngineError.invalidArgument("--kdf-cost must be \(KeyEncryptionKey.costRange.lowerBound) to \(KeyEncryptionKey.costRange.upperBound), not \(log2N)")
        }
        return KeyEncryptionKey.cost(log2N: log2N)
    }
}
