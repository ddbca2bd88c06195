/// A relation data file name inside a database directory: `<relfilenode>[_<fork>][.<segment>]`,
/// or a temporary relation's `t<backend>_<relfilenode>...`.
public struct RelationFileName: Sendable, Equatable {
    public enum Fork: String, Sendable {
        case main = "", fsm = "_fsm", vm = "_vm", `init` = "_init"
    }

    public let relfilenode: UInt32
    public let fork: Fork
    public let segment: UInt32
    public let isTemporary: Bool

    public init?(_ name: some StringProtocol) {
        var rest = Substring(name)
        var temporary = false
        if rest.first == "t" {
            // t<backend id>_<relfilenode>
            rest = rest.dropFirst()
            guard let underscore = rest.firstIndex(of: "_"), rest.startIndex != underscore,
                  rest[..<underscore].allSatisfy(\.isASCIIDigit) else { return nil }
            rest = rest[rest.index(after: underscore)...]
            temporary = true
        }
        let digits = rest.prefix(while: \.isASCIIDigit)
        guard !digits.isEmpty, digits.count <= 10, let node = UInt32(digits) else { return nil }
        rest = rest.dropFirst(digits.count)
        var fork = Fork.main
        for candidate in [Fork.fsm, .vm, .`init`] where rest.hasPrefix(candidate.rawValue) {
            fork = candidate
            rest = rest.dropFirst(candidate.rawValue.count)
            break
        }
        var segment: UInt32 = 0
        if rest.first == "." {
            let segDigits = rest.dropFirst()
            guard !segDigits.isEmpty, segDigits.allSatisfy(\.isASCIIDigit), let seg = UInt32(segDigits) else { return nil }
            segment = seg
            rest = ""
        }
        guard rest.isEmpty else { return nil }
        relfilenode = node
        self.fork = fork
        self.segment = segment
        isTemporary = temporary
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
