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

    /// With several repositories, a section each (one that cannot be read says so there).
    func run() throws {
        let targets = try repository.chosenPaths()
        let page: String
        if targets.count == 1 {
            let repo = try repository.open(path: targets[0].path)
            page = HTMLReport.render(try RecoveryPicture.read(repo), repository: repo)
        } else {
            page = HTMLReport.render(parts: targets.map { number, location in
                let name = RepositoryLabel.label(number, location)
                do {
                    let repo = try repository.open(path: location)
                    return HTMLReport.Part(name: name, content: .success((try RecoveryPicture.read(repo), repo)))
                } catch {
                    Console.warning("\(name): \(oneLineDescription(error))")
                    return HTMLReport.Part(name: name, content: .failure(.invalidArgument(oneLineDescription(error))))
                }
            })
        }
        let path = FileSystem.absolute(html)
        try AtomicFile.write(path, text: page, mode: 0o644)
        Console.info("report written to \(path)")
    }
}
