#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import Repository

/// Flips one bit in place, keeping the file's owner and size: simulated bit rot.
func flipByte(_ path: String, at offset: Int) throws {
    let fd = open(path, O_RDWR)
    guard fd >= 0 else { throw SystemError("open", path) }
    defer { close(fd) }
    var byte: UInt8 = 0
    guard pread(fd, &byte, 1, off_t(offset)) == 1 else { throw SystemError("read", path) }
    byte ^= 0x10
    guard pwrite(fd, &byte, 1, off_t(offset)) == 1 else { throw SystemError("write", path) }
}

/// A directory's entries with their sizes and checksums: "nothing was touched" in one value.
func snapshot(_ dir: String) throws -> [String: String] {
    var result: [String: String] = [:]
    func walk(_ path: String, _ rel: String) throws {
        for name in try FileSystem.list(path) {
            let full = path + "/" + name
            let key = rel.isEmpty ? name : rel + "/" + name
            let st = try FileSystem.status(full)
            if st.kind == .directory {
                result[key] = "dir"
                try walk(full, key)
            } else if st.kind == .regular {
                let bytes = try FileSystem.readAll(full, limit: 1 << 30)
                result[key] = "\(bytes.count):\(bytes.hashValue)"
            } else {
                result[key] = "other"
            }
        }
    }
    try walk(dir, "")
    return result
}
