import ArgumentParser
import Engine
import Repository

struct Annotate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Set or remove a backup's annotations: pgbk annotate ID KEY=VALUE... (KEY= removes KEY).",
        discussion: "ID may be latest, latest-full or oldest. The annotations are shown by pgbk show ID, show --json and the HTML report.",
        helpNames: [.long])

    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var lock: LockOptions
    @Argument(help: "The backup: an ID, or latest, latest-full or oldest.") var backupID: String
    @Argument(help: "KEY=VALUE to set, KEY= to remove.") var changes: [String] = []

    func run() throws {
        let parsed = try changes.map(BackupAnnotation.init(argument:))
        guard !parsed.isEmpty else { throw EngineError.invalidArgument("annotate needs at least one KEY=VALUE (KEY= removes KEY)") }
        let repo = try repository.openForWriting()
        let info = try BackupRecordEdit(repository: repo, command: "annotate", lockTimeoutSeconds: try lock.seconds(repo.config))
            .run(backup: backupID, allowed: BackupRecordEdit.finished) { $0.annotations = BackupAnnotation.applying(parsed, to: $0.annotations) }
        Console.info("backup \(info.id): \(info.annotations.isEmpty ? "no annotations" : BackupAnnotation.text(info.annotations))")
    }
}
