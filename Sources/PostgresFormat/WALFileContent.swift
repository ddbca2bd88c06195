/// What archive-push checks before it accepts a file: that the content is what the name says.
/// A segment stored under another segment's name, or a garbage `.history` file, would be
/// handed to recovery later as if it were genuine (and would block the real one for ever).
public enum WALFileContent {
    /// The cluster a file must belong to.
    public struct Cluster: Sendable {
        public let systemIdentifier: UInt64
        public let segmentSize: UInt64
        /// The repository's major version: its WAL pages carry that version's magic.
        public let major: PostgresMajor?

        public init(systemIdentifier: UInt64, segmentSize: UInt64, major: PostgresMajor? = nil) {
            self.systemIdentifier = systemIdentifier
            self.segmentSize = segmentSize
            self.major = major
        }
    }

    public enum Problem: Error, Equatable, Sendable {
        case otherCluster(found: UInt64)
        case invalid(String)
    }

    /// Checks the first page of a segment or `.partial` file against its name: a long header
    /// of this cluster, this segment size, the page address where the name says the segment
    /// begins, and a timeline no newer than the name's (the first segment of a new timeline
    /// starts with pages copied from its parent, which keep the parent's timeline).
    public static func checkSegmentStart(_ bytes: [UInt8], name: String, cluster: Cluster, path: String) throws {
        let header: WALLongPageHeader
        do { header = try WALLongPageHeader(bytes: bytes, path: path) } catch { throw Problem.invalid((error as? FormatError)?.reason ?? "\(error)") }
        if let major = cluster.major, header.magic != major.walPageMagic {
            let found = PostgresMajor(walPageMagic: header.magic).map { "\($0) WAL" } ?? "not WAL of a supported version"
            throw Problem.invalid("its page magic 0x\(String(header.magic, radix: 16, uppercase: true)) is \(found), but the repository holds \(major) (0x\(String(major.walPageMagic, radix: 16, uppercase: true))): a repository serves one cluster at a time; after pg_upgrade, run pgbk upgrade-repository")
        }
        guard header.systemIdentifier == cluster.systemIdentifier else { throw Problem.otherCluster(found: header.systemIdentifier) }
        guard UInt64(header.segmentSize) == cluster.segmentSize else {
            throw Problem.invalid("segment size \(header.segmentSize) differs from the repository's \(cluster.segmentSize)")
        }
        guard let segment = WALSegmentName(name.prefix(24), segmentSize: cluster.segmentSize) else {
            throw Problem.invalid("\(name) is not a segment name for \(cluster.segmentSize)-byte segments")
        }
        let expected = LSN(segment.segmentNumber * cluster.segmentSize)
        guard header.pageAddress == expected else {
            throw Problem.invalid("its first page is at \(header.pageAddress), but \(segment.name) begins at \(expected): this is another segment's content")
        }
        guard header.timeline >= 1, header.timeline <= segment.timeline else {
            throw Problem.invalid("its first page is on timeline \(header.timeline), after the name's timeline \(segment.timeline)")
        }
        guard bytes.count >= 40, header.blockSize >= 1024, header.blockSize.nonzeroBitCount == 1,
              UInt64(header.blockSize) <= cluster.segmentSize else {
            throw Problem.invalid("WAL block size \(header.blockSize) is not valid")
        }
    }

    /// A `<TLI>.history` file: parseable, for the timeline its name says, with at least one
    /// ancestor and every ancestor older than it.
    public static func checkTimelineHistory(_ bytes: [UInt8], name: String) throws {
        guard let timeline = TimelineID(name.prefix(8), radix: 16), timeline > 1 else {
            throw Problem.invalid("\(name) does not name a timeline after 1")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw Problem.invalid("not UTF-8 text") }
        let history: TimelineHistory
        do { history = try TimelineHistory(timeline: timeline, text: text) } catch { throw Problem.invalid((error as? FormatError)?.reason ?? "\(error)") }
        guard let last = history.ancestors.last else { throw Problem.invalid("names no parent timeline") }
        guard last.timeline < timeline else {
            throw Problem.invalid("lists timeline \(last.timeline) as an ancestor of timeline \(timeline)")
        }
    }

    /// A backup history file (`<segment>.<offset>.backup`): the start location it records is
    /// the one its name encodes, and it records where the backup stopped.
    public static func checkBackupHistory(_ bytes: [UInt8], name: String, segmentSize: UInt64) throws {
        guard let text = String(validating: bytes, as: UTF8.self) else { throw Problem.invalid("not UTF-8 text") }
        let label: BackupLabel
        do { label = try BackupLabel(text: text) } catch { throw Problem.invalid((error as? FormatError)?.reason ?? "\(error)") }
        let parts = name.split(separator: ".")
        guard parts.count == 3, let offset = UInt64(parts[1], radix: 16),
              let segment = WALSegmentName(parts[0], segmentSize: segmentSize) else {
            throw Problem.invalid("\(name) is not a backup history file name")
        }
        let start = segment.segmentNumber * segmentSize + offset
        guard label.startLSN.value == start, label.startWALFile == segment.name else {
            throw Problem.invalid("it records a start at \(label.startLSN) (file \(label.startWALFile)), not the \(LSN(start)) its name says")
        }
        guard text.contains("\nSTOP WAL LOCATION: ") else { throw Problem.invalid("no STOP WAL LOCATION line") }
    }
}
