import PostgresFormat
import StorageInterface

/// A sealed text (SealedText) read from storage a chunk at a time, line by line: a list that
/// names every file of a cluster is never held whole, nor copied into a String (reading it
/// whole cost two to three times its size at the peak).
///
/// A line is handed on only once another follows it (the last line is the seal). Nothing a
/// visitor sees is trusted until `check` has passed: visitors collect, they do not act.
public enum SealedTextStream {
    /// What one pass found. Storage errors are thrown at once; problems with the content are
    /// kept so that `check` reports them in the order a whole read would have: the whole
    /// file's checksum first, then the seal, then the first bad line.
    public struct Outcome {
        /// CRC-32C of every byte, seal included (what backup.ini records for file.list).
        public let wholeChecksum: UInt32
        let sealProblem: String?
        let lineError: (any Error)?

        /// Throws the first problem, if any; `expected`: the whole file's recorded checksum.
        public func check(path: String, expected: UInt32?, expectedIn: String) throws {
            if let expected, expected != wholeChecksum {
                throw CatalogError.corrupt(path, "does not match the checksum recorded in \(expectedIn)")
            }
            if let sealProblem { throw CatalogError.corrupt(path, sealProblem) }
            if let lineError { throw lineError }
        }
    }

    /// Every line of the body (the seal excluded) with its 1-based number, in order. The
    /// first error `visit` throws (or a line that is not UTF-8) stops the visits, not the
    /// reading: the checksums still cover the whole file.
    public static func forEachLine(_ stream: any StorageReadStream, path: String,
                                   _ visit: (Substring, Int) throws -> Void) throws -> Outcome {
        var reader = LineSplitter(path: path)
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = try chunk.withUnsafeMutableBytes { try stream.read(into: $0) }
            if n == 0 { break }
            try chunk.withUnsafeBytes { try reader.take(UnsafeRawBufferPointer(rebasing: $0[0..<n]), visit) }
        }
        return reader.finish()
    }

    struct LineSplitter {
        let path: String
        var whole = CRC32C()
        var body = CRC32C()
        var partial: [UInt8] = []
        /// The last complete line, held until another follows (then it is body, not seal).
        var held: [UInt8]?
        var lineNumber = 0
        var lineError: (any Error)?

        /// No line of a catalog comes near this (a path is at most 4 KiB; a 16 TiB file's part
        /// checksums about 2 MiB): a file without newlines is refused, not held.
        static let longestLine = 4 << 20

        mutating func take(_ bytes: UnsafeRawBufferPointer, _ visit: (Substring, Int) throws -> Void) throws {
            whole.update(bytes)
            var start = 0
            while let newline = bytes[start...].firstIndex(of: 0x0A) {
                partial.append(contentsOf: bytes[start..<newline])
                if let line = held { release(line, visit) }
                held = partial
                partial.removeAll(keepingCapacity: true)
                start = newline + 1
            }
            partial.append(contentsOf: bytes[start...])
            if partial.count > Self.longestLine {
                throw CatalogError.corrupt(path, "line \(lineNumber + (held == nil ? 1 : 2)) is longer than \(Self.longestLine >> 20) MiB")
            }
        }

        private mutating func release(_ line: [UInt8], _ visit: (Substring, Int) throws -> Void) {
            body.update(line)
            body.update([0x0A])
            lineNumber += 1
            guard lineError == nil else { return }
            do {
                guard let text = String(validating: line, as: UTF8.self) else {
                    throw CatalogError.corrupt(path, "line \(lineNumber): not UTF-8")
                }
                try visit(Substring(text), lineNumber)
            } catch {
                lineError = error
            }
        }

        func finish() -> Outcome {
            var problem: String? = SealedText.missingSeal
            if partial.isEmpty, let seal = held.flatMap({ String(validating: $0, as: UTF8.self) }),
               let stored = SealedText.recordedChecksum(seal: Substring(seal)) {
                problem = stored == body.value ? nil : SealedText.mismatch(stored: stored, computed: body.value)
            }
            return Outcome(wholeChecksum: whole.value, sealProblem: problem, lineError: lineError)
        }
    }
}
