import Testing
import TestSupport
import PostgresClient
import PostgresFormat
import Repository
@testable import Engine

/// What differs by major version where no live server of that version runs here (13, 14,
/// 17), checked from the documented formats.
@Suite struct VersionFormatTests {
    @Test func theBackupAPIFollowsTheServerVersion() {
        for version in [130_000, 130_020, 140_015] {
            #expect(BackupFunctions.startSQL(serverVersionNumber: version).contains("pg_start_backup($1, $2::boolean, false)"))
            #expect(BackupFunctions.stopSQL(serverVersionNumber: version).contains("pg_stop_backup(false, false)"))
        }
        for version in [150_000, 170_004, 180_006] {
            #expect(BackupFunctions.startSQL(serverVersionNumber: version).contains("pg_backup_start("))
            #expect(BackupFunctions.stopSQL(serverVersionNumber: version).contains("pg_backup_stop(false)"))
        }
    }

    /// A data directory of `major` on disk: PG_VERSION, a pg_control of its version, pg_wal.
    func dataDirectory(_ dir: TestDirectory, major: Int, control: UInt32) throws -> String {
        let path = dir.path + "/pg\(major)"
        for sub in ["", "/global", "/pg_wal", "/pg_wal/archive_status", "/pg_wal/summaries", "/base"] {
            try FileSystem.makeDirectory(path + sub)
        }
        try AtomicFile.write(path + "/PG_VERSION", text: "\(major)\n")
        try AtomicFile.write(path + "/global/pg_control", syntheticControlFile(version: control))
        return path
    }

    @Test(arguments: [(13, UInt32(1300)), (14, 1300), (16, 1300), (17, 1700), (18, 1800)])
    func dataDirectoriesOfEverySupportedMajorAreRead(_ major: Int, _ control: UInt32) throws {
        let dir = try TestDirectory()
        let cluster = try DataDirectory(try dataDirectory(dir, major: major, control: control))
        #expect(cluster.major.number == major)
        let walked = try DataDirectoryWalker(cluster: cluster).walk().map(\.relativePath)
        // From 17 the backup keeps pg_wal/summaries (empty), as pg_basebackup does.
        #expect(walked.contains("pg_wal/summaries") == (major >= 17), "\(walked)")
        #expect(walked.contains("pg_wal/archive_status"))
    }

    @Test func aMismatchedOrUnsupportedVersionIsRefusedByName() throws {
        let dir = try TestDirectory()
        #expect(throws: EngineError.self) { try DataDirectory(try dataDirectory(dir, major: 17, control: 1300)) }
        let old = try TestDirectory()
        do {
            _ = try DataDirectory(try dataDirectory(old, major: 12, control: 1300))
            Issue.record("PostgreSQL 12 was accepted")
        } catch {
            #expect("\(error)".contains("PostgreSQL 13 to 18"), "\(error)")
        }
    }
}
