import Synchronization
import Testing
import PostgresFormat
import Repository
import TestSupport
@testable import Engine

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Asynchronous archive-push's spool and background pusher on a synthetic pg_wal (unit): the
/// push itself is a recording closure here; WALPushTests runs the real one under a server.
@Suite struct WALPusherTests {
    final class Pushed: Sendable {
        let names = Mutex<[String]>([])
        let failing: Set<String>
        init(failing: Set<String> = []) { self.failing = failing }
        func push(_ path: String) throws {
            let name = FileSystem.baseName(of: path)
            if failing.contains(name) { throw EngineError.invalidArgument("no room for \(name)") }
            names.withLock { $0.append(name) }
        }
    }

    struct PgWAL {
        let dir = try! TestDirectory()
        var wal: String { dir.path }
        var spool: WALPushSpool { WALPushSpool(directory: wal + "/pgbk-push", walDirectory: wal) }

        init() throws { try FileSystem.makeDirectory(wal + "/archive_status") }

        func ready(_ name: String, _ bytes: [UInt8]) throws {
            try AtomicFile.write(wal + "/" + name, bytes)
            try AtomicFile.write(wal + "/archive_status/" + name + ".ready", [])
        }

        func done(_ name: String) throws {
            try FileSystem.rename(wal + "/archive_status/" + name + ".ready", wal + "/archive_status/" + name + ".done")
        }

        func receipt(for bytes: [UInt8], _ repositories: String = "1 /repo") -> WALPushSpool.Receipt {
            var crc = CRC32C()
            bytes.withUnsafeBytes { crc.update($0) }
            return .init(size: UInt64(bytes.count), checksum: crc.value, repositories: repositories)
        }

        func pusher(_ pushed: Pushed, jobs: Int = 3) -> WALPusher {
            WALPusher(spool: spool, jobs: jobs, idleSeconds: 0.2, repositories: "1 /repo") { try pushed.push($0) }
        }
    }

    static let names = (1...6).map { WALSegmentName(timeline: 1, segmentNumber: UInt64($0), segmentSize: 16 << 20).name }

    @Test func everyReadyFileIsPushedOnceAndReceiptedWithItsContent() throws {
        let w = try PgWAL()
        for (n, name) in Self.names.enumerated() { try w.ready(name, pseudoRandomBytes(1000 + n, seed: UInt64(n + 1))) }
        try w.ready("00000002.history", Array("1\t0/3000000\tno recovery target specified\n".utf8))
        try w.spool.makeDirectory()
        let pushed = Pushed()
        #expect(w.pusher(pushed).run())
        #expect(pushed.names.withLock { $0.sorted() } == (Self.names + ["00000002.history"]).sorted())
        for (n, name) in Self.names.enumerated() {
            #expect(w.spool.receipt(name) == w.receipt(for: pseudoRandomBytes(1000 + n, seed: UInt64(n + 1))))
        }
        // A second pusher finds every receipt good and pushes nothing again.
        let again = Pushed()
        #expect(w.pusher(again).run())
        #expect(again.names.withLock { $0 }.isEmpty)
    }

    @Test func historyFilesComeFirstThenWALOrder() throws {
        let w = try PgWAL()
        for name in Self.names.reversed() { try w.ready(name, [1]) }
        try w.ready("00000002.history", [2])
        try w.ready(Self.names[1] + ".00000028.backup", [3])
        #expect(w.spool.ready() == ["00000002.history", Self.names[0], Self.names[1], Self.names[1] + ".00000028.backup"] + Self.names[2...])
        // Not WAL file names: never pushed.
        try AtomicFile.write(w.wal + "/archive_status/notwal.ready", [])
        try AtomicFile.write(w.wal + "/archive_status/" + Self.names[0] + ".done", [])
        #expect(w.spool.ready().count == 8)
    }

    /// A receipt is a claim about bytes and repositories: one for other bytes, or for other
    /// repositories, or unreadable, makes the pusher push the file again.
    @Test func aReceiptThatDoesNotMatchIsNotTrusted() throws {
        let w = try PgWAL()
        try w.spool.makeDirectory()
        let content = pseudoRandomBytes(4096)
        for name in Self.names.prefix(4) { try w.ready(name, content) }
        try w.spool.recordStored(Self.names[0], w.receipt(for: content))
        try w.spool.recordStored(Self.names[1], w.receipt(for: content + [0]))
        try w.spool.recordStored(Self.names[2], w.receipt(for: content, "1 /elsewhere"))
        try AtomicFile.write(w.spool.directory + "/" + Self.names[3] + ".ok", Array("garbage\n".utf8))
        let pushed = Pushed()
        #expect(w.pusher(pushed).run())
        #expect(pushed.names.withLock { $0.sorted() } == Array(Self.names[1...3]))
        for name in Self.names.prefix(4) { #expect(w.spool.receipt(name) == w.receipt(for: content)) }
    }

    @Test func aFailureIsRecordedForTheCallAndClearedBySuccess() throws {
        let w = try PgWAL()
        try w.spool.makeDirectory()
        for name in Self.names.prefix(3) { try w.ready(name, [7, 7]) }
        #expect(w.pusher(Pushed(failing: [Self.names[1]])).run())
        #expect(w.spool.failure(Self.names[1]) == "no room for \(Self.names[1])")
        #expect(w.spool.receipt(Self.names[1]) == nil)
        #expect(w.spool.receipt(Self.names[2]) != nil)
        let status = try #require(w.spool.status())
        #expect(!status.running && status.waiting == 3 && status.failures == ["\(Self.names[1]): no room for \(Self.names[1])"])
        #expect(HealthRules.asyncArchivePush(status, now: Timestamp.now().seconds).status == .warning)
        #expect(w.pusher(Pushed()).run())
        #expect(w.spool.failure(Self.names[1]) == nil && w.spool.receipt(Self.names[1]) != nil)
        #expect(HealthRules.asyncArchivePush(try #require(w.spool.status()), now: Timestamp.now().seconds).status == .ok)
    }

    /// Receipts of files PostgreSQL has marked done go; a killed pusher's half-written
    /// receipt goes when the next pusher starts; one pusher per spool.
    @Test func doneFilesLoseTheirReceiptsAndOnePusherRunsAtATime() throws {
        let w = try PgWAL()
        try w.spool.makeDirectory()
        for name in Self.names.prefix(2) { try w.ready(name, [1]) }
        let temporary = AtomicFile.temporaryName(for: w.spool.directory + "/" + Self.names[0] + ".ok")
        try AtomicFile.write(temporary + "x", [])
        try FileSystem.rename(temporary + "x", temporary)
        #expect(w.pusher(Pushed()).run())
        #expect(!FileSystem.exists(temporary))
        try w.done(Self.names[0])
        w.spool.trim(waiting: Set(w.spool.ready()))
        #expect(w.spool.receipt(Self.names[0]) == nil && w.spool.receipt(Self.names[1]) != nil)
        let held = try #require(w.spool.tryLock())
        #expect(w.spool.lockHeld() && w.spool.status()?.running == true)
        let pushed = Pushed()
        try w.ready(Self.names[2], [1])
        #expect(!w.pusher(pushed).run())
        #expect(pushed.names.withLock { $0 }.isEmpty)
        held.release()
        #expect(!w.spool.lockHeld())
    }

    /// A drop (--archive-push-queue-max) not yet recorded in the repository outranks a failure.
    @Test func anUnrecordedDropIsCritical() throws {
        let w = try PgWAL()
        try w.spool.makeDirectory()
        try w.ready(Self.names[3], [1])
        w.spool.recordFailure(Self.names[3], "no room")
        try FileSystem.makeDirectory(w.spool.directory + "/dropped")
        try AtomicFile.write(w.spool.directory + "/dropped/" + Self.names[1], Array("queue\n".utf8))
        let status = try #require(w.spool.status())
        #expect(status.droppedUnrecorded == [Self.names[1]])
        let result = HealthRules.asyncArchivePush(status, now: Timestamp.now().seconds)
        #expect(result.status == .critical && result.message.contains(Self.names[1]), "\(result.message)")
    }
}
