/// The CopyData messages of BASE_BACKUP's single COPY OUT (PostgreSQL 15 and later,
/// basebackup_copy.c's "copystream"): each begins with a type byte. Before 15 each archive
/// has a COPY OUT of its own and the data carries no type byte (BaseBackupStream).
public enum BaseBackupMessage: Sendable, Equatable {
    /// `n`: a new archive begins: its name (`base.tar`, `<oid>.tar`) and, for a tablespace,
    /// its location on the server.
    case newArchive(name: String, tablespaceLocation: String?)
    /// `d`: archive or manifest bytes, from `payloadOffset` of the message.
    case data(payloadOffset: Int)
    /// `p`: bytes of the current archive sent so far.
    case progress(UInt64)
    /// `m`: the backup manifest follows, as `d` messages.
    case manifest

    public static func parse(_ bytes: [UInt8]) throws -> BaseBackupMessage {
        guard let kind = bytes.first else { throw FormatError("base backup message", "empty") }
        switch kind {
        case UInt8(ascii: "n"):
            let strings = bytes[1...].split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
            guard strings.count >= 2, bytes.last == 0, let name = strings.first, !name.isEmpty else {
                throw FormatError("base backup message", "a new-archive message without its name and location")
            }
            let location = String(decoding: strings[1], as: UTF8.self)
            return .newArchive(name: String(decoding: name, as: UTF8.self), tablespaceLocation: location.isEmpty ? nil : location)
        case UInt8(ascii: "d"):
            return .data(payloadOffset: 1)
        case UInt8(ascii: "p"):
            guard bytes.count == 9 else { throw FormatError("base backup message", "a progress message of \(bytes.count) bytes, expected 9") }
            return .progress(bytes.bigEndian64(at: 1))
        case UInt8(ascii: "m"):
            return .manifest
        default:
            throw FormatError("base backup message", "unknown type \(Character(Unicode.Scalar(kind)))")
        }
    }
}
