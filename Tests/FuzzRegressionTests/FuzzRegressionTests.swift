import Testing
import ParserHarness
import Repository

/// Replays the fuzz corpora (`Tests/FuzzRegressionTests/Corpus/<target>/`: the seeds `make fuzz`
/// starts from, and every input that once crashed a parser) through the same entry point as
/// the fuzzer. A parser that traps or crashes on one of them takes this test run down with it.
@Suite struct FuzzRegressionTests {
    static let corpus = FileSystem.parentDirectory(of: #filePath) + "/Corpus"

    @Test(arguments: ParserHarness.Target.allCases)
    func everyCorpusInputEndsInAValueOrAnError(_ target: ParserHarness.Target) throws {
        let dir = Self.corpus + "/" + target.rawValue
        let names = try FileSystem.list(dir)
        #expect(!names.isEmpty, "no seed inputs for \(target.rawValue) in \(dir)")
        for name in names {
            ParserHarness.run(target, try FileSystem.readAll(dir + "/" + name, limit: 1 << 26))
        }
    }
}
