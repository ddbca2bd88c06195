import CObjectStoreLoader

/// An S3 response body as a small element tree, read with libxml2's reader. S3's answers
/// are a few levels deep and at most a page of 1000 keys, so a tree is the simple shape.
struct XMLElement: Sendable {
    var name: String
    var text = ""
    var children: [XMLElement] = []

    func child(_ name: String) -> XMLElement? { children.first { $0.name == name } }
    func children(_ name: String) -> [XMLElement] { children.filter { $0.name == name } }
    /// The text of a direct child, "" when absent.
    subscript(_ name: String) -> String { child(name)?.text ?? "" }

    /// The document element; nil when the body is not well-formed XML.
    static func parse(_ body: [UInt8]) -> XMLElement? {
        guard !body.isEmpty, body.count < Int(Int32.max) else { return nil }
        let reader = body.withUnsafeBytes { raw in
            pgbk_xml_reader_new(raw.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(raw.count))
        }
        guard let reader else { return nil }
        defer { pgbk_xml_reader_free(reader) }
        var stack: [XMLElement] = []
        var root: XMLElement?
        func close() {
            let done = stack.removeLast()
            if stack.isEmpty { root = done } else { stack[stack.count - 1].children.append(done) }
        }
        while true {
            let step = pgbk_xml_read(reader)
            if step == 0 { break }
            guard step == 1 else { return nil }
            switch pgbk_xml_node_type(reader) {
            case 1:
                guard root == nil else { return nil }
                stack.append(XMLElement(name: String(cString: pgbk_xml_local_name(reader))))
                if pgbk_xml_is_empty_element(reader) == 1 { close() }
            case 3, 4:
                if !stack.isEmpty, let value = pgbk_xml_value(reader) { stack[stack.count - 1].text += String(cString: value) }
            case 15:
                guard !stack.isEmpty else { return nil }
                close()
            default:
                continue
            }
        }
        return stack.isEmpty ? root : nil
    }

    /// Text with XML's five special characters escaped, for request bodies.
    static func escape(_ text: String) -> String {
        var out = ""
        for c in text.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}
