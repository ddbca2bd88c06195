import Foundation

/// `pgbk show --json`, parsed with Foundation (tests only; pgbk itself does not link it).
func parseBackupsJSON(_ text: String) throws -> [[String: Any]] {
    guard let array = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]] else {
        throw TestFailure("show --json did not print an array of objects: \(text)")
    }
    return array
}
