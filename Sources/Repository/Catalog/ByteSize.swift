/// Sizes in settings and options: a number of bytes, or with K, M or G (powers of 1024).
public enum ByteSize {
    /// nil for anything else, or what does not fit in `Int`.
    public static func parse(_ text: String) -> Int? {
        var digits = Substring(text)
        var unit = 1
        if let last = digits.last, let shift = ["K": 10, "M": 20, "G": 30][String(last).uppercased()] {
            unit = 1 << shift
            digits = digits.dropLast()
        }
        guard let n = Int(digits) else { return nil }
        let total = n.multipliedReportingOverflow(by: unit)
        return total.overflow ? nil : total.partialValue
    }
}
