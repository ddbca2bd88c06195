/// pgbk's one trimmer, for the text formats it reads (backup_label, history files, its own
/// ini files, recovery targets, server messages): blanks are spaces, tabs and carriage returns.
extension StringProtocol where SubSequence == Substring {
    public func trimmingBlanks() -> Substring {
        var s = self[...]
        while let f = s.first, f == " " || f == "\t" || f == "\r" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s = s.dropLast() }
        return s
    }
}
