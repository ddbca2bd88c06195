import Testing
import PostgresFormat

@Suite struct HexTests {
    @Test func encodesLowerCaseAndDecodesEitherCase() {
        #expect(Hex.encode([0, 0x0a, 0xff, 0x5c]) == "000aff5c")
        #expect(Hex.decode("000aff5c") == [0, 0x0a, 0xff, 0x5c])
        #expect(Hex.decode("000AFF5C") == [0, 0x0a, 0xff, 0x5c])
        #expect(Hex.decode("") == [])
    }

    @Test func refusesOddLengthsForeignDigitsAndOversizedText() {
        #expect(Hex.decode("abc") == nil)
        #expect(Hex.decode("0g") == nil)
        #expect(Hex.decode(" 00") == nil)
        #expect(Hex.decode(String(repeating: "00", count: 9), limit: 8) == nil)
        #expect(Hex.decode(String(repeating: "00", count: 8), limit: 8)?.count == 8)
    }
}
