import Testing
import TestSupport
import Repository
@testable import Engine
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Where an encrypted repository's passphrase may come from (issue 27): a file no other user
/// can read, or a command's output through a pipe; a failure says what is wrong and never
/// what a command printed.
@Suite struct PassphraseTests {
    @Test func aPrivateFileGivesItsPassphrase() throws {
        let dir = try TestDirectory()
        let file = dir.path + "/pass"
        try AtomicFile.write(file, text: "correct horse battery\n", mode: 0o600)
        #expect(try Passphrase.read(settings: ["CIPHER_PASS_FILE": file]) == Array("correct horse battery".utf8))
        #expect(try Passphrase.read(settings: [:]) == nil)
        try FileSystem.setMode(file, 0o644)
        #expect(failure { _ = try Passphrase.fromFile(file) }?.contains("every user of the host; run: chmod o-rwx \(file)") == true)
        #expect(failure { _ = try Passphrase.fromFile(dir.path) }?.contains("is not a regular file") == true)
        #expect(failure { _ = try Passphrase.fromFile(dir.path + "/none") }?.contains("No such file") == true)
        try AtomicFile.write(file, text: "\n", mode: 0o600)
        #expect(failure { _ = try Passphrase.fromFile(file) }?.contains("empty passphrase") == true)
        #expect(failure { _ = try Passphrase.read(settings: ["CIPHER_PASS_FILE": file, "CIPHER_PASS_COMMAND": "true"]) }?.contains("both set") == true)
    }

    @Test func aCommandGivesItsOutputAndAFailureNothingOfIt() throws {
        #expect(try Passphrase.fromCommand("printf 'from a vault\\n'") == Array("from a vault".utf8))
        // It starts in /, whatever directory pgbk runs in.
        #expect(try Passphrase.fromCommand("pwd") == Array("/".utf8))
        let failed = failure { _ = try Passphrase.fromCommand("echo leaked-secret; exit 3") }
        #expect(failed == "CIPHER_PASS_COMMAND exited with status 3")
        #expect(failure { _ = try Passphrase.fromCommand("head -c 5000 /dev/zero | tr '\\0' x") }?.contains("more than 4096 bytes") == true)
        #expect(failure { _ = try Passphrase.fromCommand("true") }?.contains("empty passphrase") == true)
    }

    func failure(_ body: () throws -> Void) -> String? {
        do { try body() } catch { return "\(error)" }
        return nil
    }
}
