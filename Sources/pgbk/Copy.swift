import ArgumentParser
import Engine
import Repository

struct Copy: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy what one repository of the cluster holds and another lacks: backups (with their ancestors and server logs), archived WAL and history files.",
        discussion: "Every file is checked against the source's catalog checksums as it is copied and stored in the target only if it matches (on S3 with its Content-MD5, which the server checks); a backup appears there as OK only once all of it is there, and a killed copy is finished by running it again. Nothing is ever overwritten: a WAL file the target holds with other content stops the copy.",
        helpNames: [.long])

    @OptionGroup var repository: RepositoryOptions
    @Option(name: .customLong("from-repo"), help: "The repository to copy from (1 for the first -B or BACKUP_PATH, ...).")
    var fromRepo: Int
    @Option(name: .customLong("to-repo"), help: "The repository to copy into.")
    var toRepo: Int
    @Option(name: .customLong("backup-id"), help: "Copy this backup (an ID, or latest, latest-full or oldest) (and the ancestors the target lacks) instead of every OK or DONE one.")
    var backupID: String?
    @OptionGroup var lock: LockOptions
    @OptionGroup var parallel: JobsOptions
    @Option(name: .customLong("max-rate"), help: "The most copied per second, all workers together, as pg_basebackup's --max-rate (32k to 1024M; k by default).")
    var maxRate: String?

    func run() throws {
        let paths = try repository.resolvedPaths()
        for (option, n) in [("--from-repo", fromRepo), ("--to-repo", toRepo)] { try RepositoryLabel.check(option, n, among: paths) }
        guard fromRepo != toRepo else {
            throw EngineError.invalidArgument("--from-repo and --to-repo are both \(fromRepo): name two different repositories")
        }
        let (fromName, toName) = (RepositoryLabel.label(fromRepo, paths[fromRepo - 1]), RepositoryLabel.label(toRepo, paths[toRepo - 1]))
        let rate = try maxRate.map { UInt64(try parseMaxRate($0)) * 1024 }
        let source = try repository.open(path: paths[fromRepo - 1])
        let target = try repository.openForWriting(path: paths[toRepo - 1])
        let operation = CopyOperation(from: source, to: target, lockTimeoutSeconds: try lock.seconds(target.config),
                                      jobs: try parallel.resolved() ?? WorkerPool.defaultJobs, maxRateBytesPerSecond: rate)
        let report = try operation.run(backupID: backupID)
        if report.backups.isEmpty && report.walFiles == 0 {
            Console.info("nothing to copy: \(toName) holds everything of \(fromName)\(backupID.map { " that backup \($0) needs" } ?? "")")
        } else {
            Console.info("copied from \(fromName) to \(toName): \(report.backups.count) backup(s), \(report.walFiles) archived WAL file(s), \(formatBytes(report.bytes))")
        }
    }
}
