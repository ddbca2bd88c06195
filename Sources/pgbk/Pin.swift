import ArgumentParser
import Engine
import Repository

struct Pin: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Keep a backup through expire and delete: pgbk pin ID [--until DATE].",
        discussion: "A pinned backup, the backups its chain needs and the archived WAL from its start on are kept by expire and delete until the pin ends (--until) or pgbk unpin removes it. ID may be latest, latest-full or oldest.",
        helpNames: [.long])

    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var lock: LockOptions
    @Option(name: .customLong("until"), parsing: .unconditional, help: "YYYY-MM-DD [HH:MM:SS] [ZONE]: when the pin ends (default: never).")
    var until: String?
    @Argument(help: "The backup: an ID, or latest, latest-full or oldest.") var backupID: String

    func run() throws {
        var pin = BackupPin.forever
        if let until {
            guard let micros = parseDeleteDate(until) else {
                throw EngineError.invalidArgument("--until needs a date like 2027-01-01 or '2027-01-01 12:00:00' (UTC unless a zone follows), not \(until)")
            }
            let end = Timestamp(seconds: micros / 1_000_000)
            guard end > Timestamp.now() else { throw EngineError.invalidArgument("--until \(until) is in the past: the pin would end at once") }
            pin = .until(end)
        }
        let repo = try repository.openForWriting()
        let info = try BackupRecordEdit(repository: repo, command: "pin", lockTimeoutSeconds: try lock.seconds(repo.config))
            .run(backup: backupID, allowed: [.ok, .done]) { $0.pin = pin }
        Console.info("backup \(info.id) is pinned \(pin == .forever ? "until pgbk unpin" : "until \(pin.iniValue)"): expire and delete keep it, its chain and its WAL")
    }
}

struct Unpin: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "End a backup's pin: pgbk unpin ID; the next expire or delete treats it as any other.",
        helpNames: [.long])

    @OptionGroup var repository: RepositoryOptions
    @OptionGroup var lock: LockOptions
    @Argument(help: "The backup: an ID, or latest, latest-full or oldest.") var backupID: String

    func run() throws {
        let repo = try repository.openForWriting()
        var was: BackupPin?
        let info = try BackupRecordEdit(repository: repo, command: "unpin", lockTimeoutSeconds: try lock.seconds(repo.config))
            .run(backup: backupID, allowed: BackupRecordEdit.finished) { was = $0.pin; $0.pin = nil }
        Console.info(was == nil ? "backup \(info.id) was not pinned" : "backup \(info.id) is no longer pinned")
    }
}
