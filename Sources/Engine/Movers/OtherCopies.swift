import Repository
import StorageInterface
import Synchronization

/// The cluster's other repositories, for the day a stored file of the one in use reads back
/// damaged: the same backup there, storing the file with the same recorded size and
/// checksum, holds the same bytes, so restore and drill take that file from there and
/// complete, and validate says where a good copy is. File by file: one bad disk block does
/// not send a whole restore to the slower repository.
public final class OtherCopies: Sendable {
    public struct Repo: Sendable {
        /// As the user knows it: "repo2 (s3://bucket/prefix)".
        public let name: String
        /// Its number in the configuration (--repo N).
        public let number: Int
        /// Opened only when a damaged file sends a command there: an unreachable repository
        /// costs nothing until then.
        public let storage: any RepositoryStorage

        public init(name: String, number: Int, storage: any RepositoryStorage) {
            self.name = name
            self.number = number
            self.storage = storage
        }
    }

    /// One file's versions (newest first, as a restore reads them) in another repository.
    public struct Holder: Sendable {
        public let name: String
        public let number: Int
        public let repository: Repository
        public let versions: [(info: BackupInfo, entry: FileEntry)]
    }

    public let repositories: [Repo]
    /// Each other repository's file lists, loaded once when first needed; nil: that
    /// repository has no usable copy of the backup (absent, not OK, or its list unreadable).
    private let fileLists = Mutex<[String: [String: FileEntry]?]>([:])
    private let infos = Mutex<[String: BackupInfo?]>([:])
    private let opened = Mutex<[Int: Repository?]>([:])

    /// Of the cluster with this system identifier: a repository of another is never used.
    let systemIdentifier: UInt64
    /// The number of the repository in use, for the copy command that repairs it.
    public let inUse: Int

    public init(_ repositories: [Repo], besides inUse: Int, systemIdentifier: UInt64) {
        self.repositories = repositories
        self.inUse = inUse
        self.systemIdentifier = systemIdentifier
    }

    /// The other repositories, in order, whose copies of `versions`' backups all store the
    /// file with the same content.
    public func holders(of versions: [(id: String, entry: FileEntry)]) -> [Holder] {
        repositories.indices.compactMap { index in
            guard let repository = repository(index) else { return nil }
            var found: [(info: BackupInfo, entry: FileEntry)] = []
            for version in versions {
                guard let info = info(index, version.id), let entry = fileList(index, info)?[version.entry.path],
                      Self.sameContent(entry, version.entry) else { return nil }
                found.append((info, entry))
            }
            return Holder(name: repositories[index].name, number: repositories[index].number, repository: repository, versions: found)
        }
    }

    /// The same stored content: kind, size, checksum and, for a split file, every part's.
    static func sameContent(_ a: FileEntry, _ b: FileEntry) -> Bool {
        a.kind == b.kind && a.size == b.size && a.checksum == b.checksum && a.partSize == b.partSize && a.partChecksums == b.partChecksums
    }

    private func repository(_ index: Int) -> Repository? {
        if let known = opened.withLock({ $0[index] }) { return known }
        let repository = (try? Repository.open(storage: repositories[index].storage))
            .flatMap { $0.identity.systemIdentifier == systemIdentifier ? $0 : nil }
        opened.withLock { $0[index] = .some(repository) }
        return repository
    }

    private func info(_ index: Int, _ id: String) -> BackupInfo? {
        let key = "\(index)/\(id)"
        if let known = infos.withLock({ $0[key] }) { return known }
        let loaded = (try? repository(index)?.loadBackup(id)).flatMap { $0.isUsable ? $0 : nil }
        infos.withLock { $0[key] = .some(loaded) }
        return loaded
    }

    private func fileList(_ index: Int, _ info: BackupInfo) -> [String: FileEntry]? {
        let key = "\(index)/\(info.id)"
        if let known = fileLists.withLock({ $0[key] }) { return known }
        let loaded = (try? repository(index)?.loadFileList(info))
            .map { Dictionary($0.map { ($0.path, $0) }) { a, _ in a } }
        fileLists.withLock { $0[key] = .some(loaded) }
        return loaded
    }
}
