import Testing
import PostgresFormat
import Repository
import TestSupport
@testable import Engine

/// RestorePlan (unit): where each file's content lies down a chain, found with the older
/// file lists read one at a time, and the chains it must refuse.
@Suite struct RestorePlanTests {
    let full = backupInfo("20261122-100000F", .full)
    let inc1 = backupInfo("20261122-110000I", .incremental, parent: "20261122-100000F")
    let inc2 = backupInfo("20261122-120000I", .incremental, parent: "20261122-110000I")

    func file(_ path: String, _ kind: FileEntry.Kind, crc: UInt32 = 7, size: UInt64 = 8192) -> FileEntry {
        FileEntry(kind: kind, path: path, mode: 0o600, size: size, checksum: crc)
    }

    func plan(_ newest: [FileEntry], _ older: [String: [FileEntry]], loaded: inout [String]) throws -> RestorePlan {
        let dir = try TestDirectory()
        var order: [String] = []
        defer { loaded = order }
        return try RestorePlan(members: [inc2, inc1, full], files: newest, repository: try makeRepository(dir)) { info, each in
            order.append(info.id)
            for entry in older[info.id] ?? [] { try each(entry) }
        }
    }

    @Test func eachFileLeadsToTheVersionsItsContentComesFrom() throws {
        let newest = [file("a", .file), file("b", .unchanged), file("c", .pageDelta), file("d", .unchanged), file("e", .pageDelta)]
        let older = [
            inc1.id: [file("b", .unchanged), file("c", .unchanged), file("d", .pageDelta), file("e", .file)],
            full.id: [file("a", .file, crc: 1), file("b", .file), file("c", .file), file("d", .file)],
        ]
        var loaded: [String] = []
        let p = try plan(newest, older, loaded: &loaded)
        #expect(loaded == [inc1.id, full.id], "each older list read once, newest first")
        let members = p.versions.map { $0.map(\.member) }
        #expect(members == [[0], [2], [0, 2], [1, 2], [0, 1]])
        #expect(p.versions[1][0].entry.kind == .file && p.versions[3][0].entry.kind == .pageDelta)
    }

    @Test func olderListsAreNotReadWhenTheNewestHasEverything() throws {
        var loaded: [String] = []
        let p = try plan([file("a", .file), file("b", .file)], [:], loaded: &loaded)
        #expect(loaded.isEmpty && p.versions.map(\.count) == [1, 1])
    }

    @Test func aFileCreatedInTheMiddleOfTheChainStopsThere() throws {
        var loaded: [String] = []
        let p = try plan([file("n", .pageDelta)], [inc1.id: [file("n", .pageDelta)], full.id: []], loaded: &loaded)
        #expect(p.versions[0].map(\.member) == [0, 1])
    }

    @Test func contentNoBackupStoredIsAnError() throws {
        var loaded: [String] = []
        // Unchanged all the way down, or absent below: nowhere stored.
        #expect(throws: EngineError.self) { try plan([file("x", .unchanged)], [inc1.id: [file("x", .unchanged)]], loaded: &loaded) }
        #expect(throws: EngineError.self) { try plan([file("x", .unchanged)], [inc1.id: [], full.id: [file("x", .file)]], loaded: &loaded) }
        // An older whole file with other content than the newest says it has.
        #expect(throws: EngineError.self) { try plan([file("x", .unchanged)], [inc1.id: [file("x", .file, crc: 9)]], loaded: &loaded) }
        // A path listed twice in an older list.
        #expect(throws: EngineError.self) { try plan([file("x", .unchanged)], [inc1.id: [file("x", .file), file("x", .file)]], loaded: &loaded) }
        // A directory where a page delta's base should be.
        #expect(throws: EngineError.self) {
            try plan([file("x", .pageDelta)], [inc1.id: [FileEntry(kind: .directory, path: "x", mode: 0o700)]], loaded: &loaded)
        }
    }
}
