#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// A failed system call, with the path it was about: "could not open file X: No space left".
public struct SystemError: Error, Sendable, CustomStringConvertible, Equatable {
    public let operation: String
    public let path: String
    public let code: Int32

    public init(_ operation: String, _ path: String, code: Int32 = errno) {
        self.operation = operation
        self.path = path
        self.code = code
    }

    public var description: String {
        "could not \(operation) \"\(path)\": \(String(cString: strerror(code)))"
    }

    public var isNotFound: Bool { code == ENOENT }
}
