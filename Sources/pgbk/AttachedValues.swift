/// getopt's attached values, as pg_rman, pg_dump and libpq's tools accept them: `-B/srv/repo`,
/// `-j4`, `-Upostgres` become `-B /srv/repo`, `-j 4`, `-U postgres` before ArgumentParser
/// (which reads `-j4` as flags j and 4). Only letters of options that take a value are split,
/// so `-qv` stays two flags; the argument after a bare value option is that option's value and
/// is left alone, as is everything after `--`.
enum AttachedValues {
    /// pgbk's one-letter options that take a value.
    static let letters: Set<Character> = ["B", "D", "b", "h", "p", "U", "d", "j", "S", "T"]

    static func split(_ arguments: [String]) -> [String] {
        var out: [String] = []
        var valueNext = false
        for (n, argument) in arguments.enumerated() {
            if argument == "--" {
                out += arguments[n...]
                break
            }
            let chars = Array(argument)
            if !valueNext, chars.count > 2, chars[0] == "-", letters.contains(chars[1]), chars[2] != "=" {
                out += [String(chars[0...1]), String(chars[2...])]
                valueNext = false
                continue
            }
            out.append(argument)
            valueNext = !valueNext && chars.count == 2 && chars[0] == "-" && letters.contains(chars[1])
        }
        return out
    }
}
