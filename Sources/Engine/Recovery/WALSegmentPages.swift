import PostgresFormat

/// The pages of one WAL segment, read through `read` (an archived copy or a file in pg_wal):
/// from the page holding `start` on, each handed to `page` with its address until it returns
/// false. Shared by the recovery target proof and the changed-block map.
enum WALSegmentPages {
    static func forEach(segment segno: UInt64, segmentSize: UInt64, pageSize: Int, from start: LSN, buffer: inout [UInt8],
                        read: (inout [UInt8]) throws -> Int, page: (UnsafeRawBufferPointer, LSN) -> Bool) throws {
        var offset: UInt64 = 0
        let firstPage = start.value - start.value % UInt64(pageSize)
        while true {
            let n = try read(&buffer)
            if n == 0 { return }
            for pageStart in stride(from: 0, to: n - pageSize + 1, by: pageSize) {
                let pageLSN = LSN(segno * segmentSize + offset + UInt64(pageStart))
                if pageLSN.value < firstPage { continue }
                let goOn = buffer.withUnsafeBytes { raw in page(UnsafeRawBufferPointer(rebasing: raw[pageStart..<pageStart + pageSize]), pageLSN) }
                if !goOn { return }
            }
            offset += UInt64(n)
            // Reads fill (the storage contract): a part of a page means the file ended. Data
            // after it would be a read that came short mid-file, and pages misread from then
            // on; refused rather than scanned.
            if n % pageSize != 0 {
                guard try read(&buffer) == 0 else {
                    throw FormatError("WAL segment \(segno)", "a read ended inside a page before the end of the file")
                }
                return
            }
        }
    }
}
