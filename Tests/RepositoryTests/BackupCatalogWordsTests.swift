import Testing
import TestSupport
import PostgresFormat
@testable import Repository

/// Annotations (issue 29, item 4) and the ID shortcuts (item 5), on synthetic records.
@Suite struct BackupAnnotationTests {
    @Test func keyValueArgumentsParseAndEmptyValuesRemove() throws {
        let set = try BackupAnnotation(argument: "ticket=DBA-42")
        #expect(set.key == "ticket" && set.value == "DBA-42")
        let spaced = try BackupAnnotation(argument: "reason=before the 3.2 upgrade = risky")
        #expect(spaced.key == "reason" && spaced.value == "before the 3.2 upgrade = risky")
        let remove = try BackupAnnotation(argument: "ticket=")
        #expect(remove.value.isEmpty)
        let result = BackupAnnotation.applying([set, spaced, remove], to: ["owner": "ops", "ticket": "old"])
        #expect(result == ["owner": "ops", "reason": "before the 3.2 upgrade = risky"])
    }

    @Test func badArgumentsAreRefusedNamingWhat() {
        #expect(throws: CatalogError.invalid("annotation 'ticket'", "an annotation is KEY=VALUE")) {
            try BackupAnnotation(argument: "ticket")
        }
        for bad in ["=value", "two words=x", "a/b=x", "ключ=x", String(repeating: "k", count: 65) + "=x"] {
            #expect(throws: CatalogError.self, "\(bad)") { try BackupAnnotation(argument: bad) }
        }
        for bad in ["k=line\nbreak", "k=tab\there", "k=" + String(repeating: "v", count: 1025)] {
            #expect(throws: CatalogError.self, "\(bad)") { try BackupAnnotation(argument: bad) }
        }
        #expect(throws: Never.self) { try BackupAnnotation(argument: "k=" + String(repeating: "é", count: 1024)) }
    }

    @Test func annotationsRoundTripThroughBackupIni() throws {
        var info = BackupInfo(id: "20261204-120000F", mode: .full, status: .ok, startTime: Timestamp(seconds: 1_800_000_000))
        info.annotations = ["ticket": "DBA-42", "reason": "it's \"quoted\" # not a comment", "z.last": "1"]
        let text = info.text()
        #expect(text.contains("ANNOTATION.ticket=DBA-42\n"))
        let back = try BackupInfo(text: text, path: "backup.ini")
        #expect(back.annotations == info.annotations)
        #expect(back == info)
    }

    @Test func aBadAnnotationInBackupIniIsRefusedNamingTheFile() throws {
        var info = BackupInfo(id: "20261204-120000F", mode: .full, status: .ok, startTime: Timestamp(seconds: 1_800_000_000))
        info.annotations = ["ticket": "x"]
        // Written by someone else, sealed again: the key is no annotation key.
        let body = try SealedText.open(info.text(), path: "b").replacing("ANNOTATION.ticket=", with: "ANNOTATION.ti/cket=")
        #expect(throws: CatalogError.self) { try BackupInfo(text: SealedText.seal(body), path: "/repo/backup/20261204-120000F/backup.ini") }
        do {
            _ = try BackupInfo(text: SealedText.seal(body), path: "/repo/backup/20261204-120000F/backup.ini")
        } catch {
            #expect("\(error)".contains("/repo/backup/20261204-120000F/backup.ini"), "\(error)")
        }
    }
}

@Suite struct BackupReferenceTests {
    func backup(_ id: String, _ status: BackupStatus) -> BackupInfo {
        BackupInfo(id: id, mode: id.hasSuffix("F") ? .full : .incremental, status: status, startTime: Timestamp(seconds: 1_800_000_000))
    }

    @Test func wordsNameUsableBackupsOnly() throws {
        let backups = [
            backup("20261201-010000F", .error),
            backup("20261202-010000F", .ok),
            backup("20261203-010000I", .done),
            backup("20261204-010000F", .corrupt),
            backup("20261205-010000I", .ok),
            backup("20261206-010000I", .running),
        ]
        // Given out of order: the words go by ID (time), not by position.
        let shuffled = [backups[4], backups[0], backups[5], backups[2], backups[1], backups[3]]
        #expect(try BackupReference("latest").resolve(among: shuffled, in: "/r") == "20261205-010000I")
        #expect(try BackupReference("latest-full").resolve(among: shuffled, in: "/r") == "20261202-010000F")
        #expect(try BackupReference("oldest").resolve(among: shuffled, in: "/r") == "20261202-010000F")
        #expect(try BackupReference("20261201-010000F").resolve(among: shuffled, in: "/r") == "20261201-010000F")
    }

    @Test func noUsableBackupAndBadWordsAreRefused() {
        let onlyIncremental = [backup("20261203-010000I", .ok)]
        #expect(throws: CatalogError.invalid("/r", "no usable (OK or DONE) full backup for 'latest-full'")) {
            try BackupReference("latest-full").resolve(among: onlyIncremental, in: "/r")
        }
        #expect(throws: CatalogError.self) { try BackupReference("latest").resolve(among: [], in: "/r") }
        for bad in ["newest", "LATEST", "../20261203-010000I", "20261203-010000X", ""] {
            #expect(throws: CatalogError.self, "\(bad)") { try BackupReference(bad) }
        }
    }
}
