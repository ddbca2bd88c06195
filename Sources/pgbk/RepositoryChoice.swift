import Engine
import Repository

/// With several repositories, a command that needs one that can reach a recovery target
/// (restore, validate --recovery-target-*) takes the first, in order, that can. One that
/// cannot be opened is passed over whatever the error; one that can, only for what is about
/// it (RestoreOperation.isAboutTheRepository): a wrong target or option fails at once. Each
/// one passed over is named with its reason; when none can, one line gives every reason.
enum RepositoryChoice {
    struct Chosen<T> {
        let value: T
        let name: String
        let passedOver: Int
    }

    private struct PassOver: Error {
        let error: Error
    }

    static func first<T>(_ repository: RepositoryOptions, reaching target: RecoveryTarget,
                         _ attempt: (Repository, _ others: [String]) throws -> T) throws -> Chosen<T> {
        let candidates = try repository.chosenPaths()
        var reasons: [String] = []
        for candidate in candidates {
            let name = RepositoryLabel.label(candidate.number, candidate.path)
            do {
                let repo: Repository
                do { repo = try repository.open(path: candidate.path) } catch { throw PassOver(error: error) }
                do {
                    let value = try attempt(repo, candidates.map(\.path).filter { $0 != candidate.path })
                    if candidates.count > 1 {
                        Console.info("using \(name), the first repository\(reasons.isEmpty ? "" : " that can reach the target")")
                    }
                    // What follows (the restore, the drill) is about it: every line says so.
                    if try repository.resolvedPaths().count > 1 { Console.repository = name }
                    return Chosen(value: value, name: name, passedOver: reasons.count)
                } catch where RestoreOperation.isAboutTheRepository(error) { throw PassOver(error: error) }
            } catch let passOver as PassOver {
                guard candidates.count > 1 else { throw passOver.error }
                Console.warning("\(name) passed over: \(oneLineDescription(passOver.error))")
                reasons.append("\(name): \(oneLineDescription(passOver.error))")
            }
        }
        throw EngineError.noUsableBackup("no repository can reach \(target.description): \(reasons.joined(separator: "; "))")
    }
}

extension RepositoryOptions {
    /// Every configured repository but `repository` (whatever --repo says: a damaged file
    /// may be taken from any copy with the same checksum), for file-level fallback; nil with
    /// one repository.
    func otherCopies(besides repository: Repository) throws -> OtherCopies? {
        let paths = try resolvedPaths()
        var others: [OtherCopies.Repo] = []
        var inUse = 1
        for (index, path) in paths.enumerated() {
            guard let storage = try? storage(path: path) else { continue }
            if storage.location == repository.storage.location {
                inUse = index + 1
            } else {
                others.append(OtherCopies.Repo(name: RepositoryLabel.label(index + 1, path), number: index + 1, storage: storage))
            }
        }
        return others.isEmpty ? nil : OtherCopies(others, besides: inUse, systemIdentifier: repository.identity.systemIdentifier)
    }
}
