import ParserHarness
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Which parser this run feeds: PGBK_FUZZ_TARGET, one of ParserHarness.Target's names.
let target: ParserHarness.Target = {
    guard let name = getenv("PGBK_FUZZ_TARGET").map({ String(cString: $0) }), let t = ParserHarness.Target(rawValue: name) else {
        fputs("set PGBK_FUZZ_TARGET to one of: \(ParserHarness.Target.allCases.map(\.rawValue).joined(separator: " "))\n", stderr)
        exit(2)
    }
    return t
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    ParserHarness.run(target, bytes)
    return 0
}

// SwiftPM links an executable's entry point as `<module>_main`; libFuzzer's own main would
// then never run, so this one hands over to libFuzzer's driver, as its main does.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

@_cdecl("pgbk_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var vector = argv
    _ = target  // fail fast on a missing PGBK_FUZZ_TARGET
    return LLVMFuzzerRunDriver(&count, &vector) { data, size in fuzzOneInput(data, size) }
}
