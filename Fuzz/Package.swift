// swift-tools-version:6.0
// libFuzzer targets for pgbk's parsers. A package of its own because the fuzzer build
// instruments everything (-sanitize=fuzzer) and brings its own main: `make fuzz` builds and runs it.
import PackageDescription
import Foundation

// pgbk's checkout is the parent directory, whatever it is called.
let root = URL(fileURLWithPath: Context.packageDirectory).deletingLastPathComponent()

let package = Package(
    name: "pgbk-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(path: root.path)],
    targets: [
        .executableTarget(name: "pgbk-fuzz", dependencies: [
            .product(name: "ParserHarness", package: root.lastPathComponent.lowercased()),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
