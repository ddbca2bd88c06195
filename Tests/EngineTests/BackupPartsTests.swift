import Testing
@testable import Engine

@Suite struct BackupPartsTests {
    let part: UInt64 = 64

    @Test func allPartsWhenTheFileKeptItsSize() {
        #expect(BackupFileCopier.partsKept(fileBytes: [64, 64, 10], listedSize: 138, partSize: part) == 3)
        #expect(BackupFileCopier.partsKept(fileBytes: [64, 64], listedSize: 128, partSize: part) == 2)
    }

    @Test func theEntryEndsAtTheFirstShortPart() {
        // Truncated inside part 1: parts 0 and 1 (short) are kept, part 2 is dropped.
        #expect(BackupFileCopier.partsKept(fileBytes: [64, 30, 0], listedSize: 150, partSize: part) == 2)
        // Truncated exactly at a part boundary: the empty part is not kept.
        #expect(BackupFileCopier.partsKept(fileBytes: [64, 0, 0], listedSize: 150, partSize: part) == 1)
        // Truncated and extended again between the reads of two parts: what follows the gap
        // is not the file's content at those offsets, so it is not kept (WAL rebuilds it).
        #expect(BackupFileCopier.partsKept(fileBytes: [64, 20, 64], listedSize: 192, partSize: part) == 2)
    }

    @Test func anEmptiedFileKeepsOnePart() {
        #expect(BackupFileCopier.partsKept(fileBytes: [0, 0, 0], listedSize: 150, partSize: part) == 1)
    }
}
