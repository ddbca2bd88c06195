import ArgumentParser
import Engine
import Repository

struct UpgradeRepository: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upgrade-repository",
        abstract: "After pg_upgrade, make the repository accept the upgraded cluster as its next generation (pgBackRest's stanza-upgrade).",
        discussion: "Run it after pg_upgrade and before the new cluster archives: its WAL is refused until then. The backups of the earlier generations stay restorable with their major version's binaries (restore --backup-id), each from its own archived WAL; retention counts across generations; show lists each backup's generation. Then take a full backup of the new cluster.",
        helpNames: [.long])

    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var lock: LockOptions
    @Option(name: [.customShort("D", allowingJoined: true), .customLong("pgdata")], help: "The upgraded cluster's data directory (default: $PGDATA).")
    var pgdata: String?

    func run() throws {
        guard let directory = pgdata ?? environment("PGDATA") else {
            throw EngineError.invalidArgument("no data directory given: use -D/--pgdata (the upgraded cluster's) or set PGDATA")
        }
        let repo = try repository.openForWriting()
        _ = try UpgradeOperation(repository: repo, lockTimeoutSeconds: try lock.seconds(repo.config)).run(pgdata: directory)
    }
}
