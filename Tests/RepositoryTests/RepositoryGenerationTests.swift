import Testing
import Foundation
import PostgresFormat
@testable import Repository

/// Issue 29, item 8: repository.ini across upgrade-repository: the generations before the
/// current one kept, read back exactly, each a view with its own cluster and WAL root.
@Suite struct RepositoryGenerationTests {
    let first = RepositoryIdentity(systemIdentifier: 42, pgMajorVersion: "15", controlVersion: 1300, catalogVersion: 202209061,
                                   blockSize: 8192, walSegmentSize: 16 << 20, created: Timestamp(seconds: 1_800_000_000))
    let second = RepositoryIdentity(systemIdentifier: 43, pgMajorVersion: "16", controlVersion: 1300, catalogVersion: 202307071,
                                    blockSize: 8192, walSegmentSize: 1 << 20, created: Timestamp(seconds: 1_800_100_000))

    @Test func aFirstGenerationIsWrittenAsBeforeGenerations() throws {
        let text = first.text()
        #expect(text.contains("FORMAT_VERSION=1") && !text.contains("GENERATION"))
        let read = try RepositoryIdentity(text: text, path: "r")
        #expect(read == first && read.generation == 1 && read.past.isEmpty)
    }

    @Test func upgradesKeepEveryEarlierGenerationAndReadBack() throws {
        let upgraded = first.upgraded(to: second, at: Timestamp(seconds: 1_800_200_000))
        #expect(upgraded.generation == 2 && upgraded.systemIdentifier == 43 && upgraded.created == first.created)
        let text = upgraded.text()
        #expect(text.contains("FORMAT_VERSION=2") && text.contains("GENERATION.1.SYSTEM_IDENTIFIER=42"))
        let read = try RepositoryIdentity(text: text, path: "r")
        #expect(read == upgraded)
        #expect(read.generation(ofSystem: 42) == 1 && read.generation(ofSystem: 43) == 2 && read.generation(ofSystem: 44) == nil)
        let old = try #require(read.asGeneration(1))
        #expect(old.systemIdentifier == 42 && old.pgMajorVersion == "15" && old.walSegmentSize == 16 << 20 && old.generation == 1)
        #expect(old.generation(ofSystem: 43) == nil, "a view knows nothing of later generations")
        #expect(read.asGeneration(3) == nil)
        #expect(Repository.walRootName(generation: 1) == "wal" && Repository.walRootName(generation: 2) == "wal-2")
    }

    @Test func aDamagedGenerationIsCorruptNotGuessed() throws {
        let text = first.upgraded(to: second, at: Timestamp(seconds: 1_800_200_000)).text()
        let body = try SealedText.open(text, path: "r")
        for broken in [body.replacingOccurrences(of: "GENERATION.1.SYSTEM_IDENTIFIER=42\n", with: ""),
                       body.replacingOccurrences(of: "GENERATION=2", with: "GENERATION=0")] {
            #expect(throws: CatalogError.self) { try RepositoryIdentity(text: SealedText.seal(broken), path: "r") }
        }
        var newer = body.replacingOccurrences(of: "FORMAT_VERSION=2", with: "FORMAT_VERSION=3")
        newer = SealedText.seal(newer)
        #expect(throws: CatalogError.self) { try RepositoryIdentity(text: newer, path: "r") }
    }
}
