import Testing
import Repository
@testable import Engine

/// Issue 29, item 6: which databases a selective restore zeroes, from the backup's databases.
@Suite struct DatabaseSelectionTests {
    let present: Set<UInt32> = [1, 4, 5, 16384, 16385, 16390]
    let names: [UInt32: String] = [1: "template1", 4: "template0", 5: "postgres", 16384: "app", 16385: "reports", 16390: "scratch db"]

    func zeroed(_ include: [String], _ exclude: [String] = [], names: [UInt32: String]? = nil) throws -> Set<UInt32> {
        try DatabaseSelection(include: include, exclude: exclude).zeroed(present: present, names: names ?? self.names, backup: "B")
    }

    @Test func includeZeroesEveryOtherUserDatabaseAndNeverASystemOne() throws {
        #expect(try zeroed(["app"]) == [16385, 16390])
        #expect(try zeroed(["app", "scratch db"]) == [16385])
        #expect(try zeroed(["app", "postgres"]) == [16385, 16390], "naming a system database is allowed: it is restored anyway")
        #expect(try zeroed(["16385"]) == [16384, 16390], "an OID names a database too")
        #expect(try zeroed(["app", "reports", "scratch db"]).isEmpty)
    }

    @Test func excludeZeroesOnlyWhatItNames() throws {
        #expect(try zeroed([], ["reports"]) == [16385])
        #expect(try zeroed(["app"], ["reports"]) == [16385, 16390])
    }

    @Test func badSelectionsAreRefusedNamingTheDatabase() throws {
        #expect(throws: EngineError.self) { try zeroed(["missing"]) }
        #expect(throws: EngineError.self) { try zeroed([], ["postgres"]) }
        #expect(throws: EngineError.self) { try zeroed([], ["template1"]) }
        #expect(throws: EngineError.self) { try zeroed(["app"], ["app"]) }
        #expect(throws: EngineError.self) { try zeroed(["99999"]) }
        // A backup without names: OIDs only, and the error says so.
        #expect(try zeroed(["16384"], names: [:]) == [16385, 16390])
        do { _ = try zeroed(["app"], names: [:]); Issue.record("a name was resolved without a record of names") } catch {
            #expect("\(error)".contains("give OIDs"), "\(error)")
        }
    }

    @Test func filesBelongToTheDatabaseOfTheirDirectoryButPGVersionStays() {
        #expect(DatabaseSelection.database(of: "base/16384/1259") == 16384)
        #expect(DatabaseSelection.database(of: "base/16384/pg_filenode.map") == 16384)
        #expect(DatabaseSelection.database(of: "base/16384/PG_VERSION") == nil)
        #expect(DatabaseSelection.database(of: "pg_tblspc/16400/PG_15_202209061/16384/16401") == 16384)
        #expect(DatabaseSelection.database(of: "pg_tblspc/16400/PG_15_202209061/16384/PG_VERSION") == nil)
        #expect(DatabaseSelection.database(of: "global/1262") == nil)
        #expect(DatabaseSelection.database(of: "base/16384") == nil)
        #expect(ChainSurvey.databaseDirectory("base/16384") == 16384)
        #expect(ChainSurvey.databaseDirectory("pg_tblspc/16400/PG_15_202209061/16384") == 16384)
        #expect(ChainSurvey.databaseDirectory("base/16384/1259") == nil)
    }
}
