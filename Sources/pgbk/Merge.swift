import ArgumentParser
import Engine
import Repository

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fold an incremental and its ancestors into a full backup of the same point, inside the repository: pgbk merge [ID].",
        discussion: "The full is made from stored files only, without the cluster, takes the incremental's ID with F, and is read back whole before anything else changes; then the incremental's children build on it and the merged backups nothing else needs (and no pin holds) are retired (DELETED; pgbk purge removes what is left). A killed merge leaves every point restorable that was, and running it again finishes it. ID may be latest (the default) or an incremental's ID.",
        helpNames: [.long])

    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var lock: LockOptions
    @OptionGroup var parallel: JobsOptions
    @Argument(help: "The incremental to merge: an ID, or latest (the default).") var backupID: String?

    func run() throws {
        let repo = try repository.openForWriting()
        let report = try MergeOperation(repository: repo, jobs: try parallel.resolved() ?? WorkerPool.defaultJobs,
                                        lockTimeoutSeconds: try lock.seconds(repo.config)).run(backupID)
        ObjectLockNote.say(repo, removed: ObjectLockNote.removed(backups: report.retired, wal: 0))
    }
}
