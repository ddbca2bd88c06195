import ArgumentParser
import Engine
import Repository

/// `pgbk report --html FILE`: the repository at a glance, for a wiki or a morning check.
struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a self-contained HTML report: the recoverable window per timeline, backup sizes over time, backups and drills.",
        helpNames: [.long])

    @OptionGroup var repository: RepositoryOptions
    @Option(name: .customLong("html"), help: "The file to write (replaced atomically).")
    var html: String

    func run() throws {
        let repo = try repository.open()
        let page = HTMLReport.render(try RecoveryPicture.read(repo), repository: repo)
        let path = FileSystem.absolute(html)
        try AtomicFile.write(path, text: page, mode: 0o644)
        Console.info("report written to \(path)")
    }
}
