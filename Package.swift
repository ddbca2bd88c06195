// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "pgbk",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "pgbk", targets: ["pgbk"]),
        // For Fuzz/ (a package of its own: libFuzzer builds need -sanitize=fuzzer throughout).
        .library(name: "ParserHarness", targets: ["ParserHarness"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // FileDescriptor: reads and writes that retry EINTR and finish partial writes, in
        // place of pgbk's own loops around read(2)/write(2)/pwrite(2) for local files.
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
    ],
    targets: [
        // System libraries: the only C dependencies, installed from Debian packages.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // zstd and lz4: faster than zlib at similar or better ratios (issue 6's benchmark).
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        // CRC32C (SSE4.2 with a table fallback) and PostgreSQL's page checksum: hot loops that
        // must be fast even in debug builds (the tests checksum every page of 100 MB tables).
        .target(name: "CShims", cSettings: [.define("_GNU_SOURCE"), .unsafeFlags(["-O3"])]),

        // libpq (libpq-dev's header; libpq.so.5 at run time), loaded on first connection so that
        // archive-push/archive-get start without it and its TLS/Kerberos/LDAP dependencies.
        .target(name: "CLibPQLoader"),
        .target(name: "PostgresClient", dependencies: ["CLibPQLoader", "PostgresFormat"]),
        // libcurl, libcrypto and libxml2 (headers from libcurl4-openssl-dev, libssl-dev and
        // libxml2-dev), loaded when a repository on S3 is first opened: see the header.
        .target(name: "CObjectStoreLoader", cSettings: [.unsafeFlags(["-I/usr/include/libxml2"])]),
        .target(name: "CryptoDigest", dependencies: ["CObjectStoreLoader", "PostgresFormat"]),
        .target(name: "Cipher", dependencies: ["CObjectStoreLoader"]),
        .target(name: "ObjectStorage", dependencies: ["StorageInterface", "CObjectStoreLoader", "CryptoDigest", "Repository"]),
        // libarchive (libarchive-dev's headers; libarchive.so.13 at run time), loaded when a
        // backup over the replication protocol first reads BASE_BACKUP's tar streams.
        .target(name: "CArchiveLoader"),
        .target(name: "TarStream", dependencies: ["CArchiveLoader"]),
        .target(name: "PostgresFormat", dependencies: ["CShims"]),
        // The storage seam: the protocol every driver implements, in a module of its own.
        .target(name: "StorageInterface"),
        .target(name: "Repository", dependencies: ["StorageInterface", "PostgresFormat", "CShims", "CZlib", "CZstd", "CLZ4",
                                                   .product(name: "SystemPackage", package: "swift-system"), "Cipher"]),
        .target(name: "Engine", dependencies: ["PostgresClient", "PostgresFormat", "StorageInterface", "Repository", "CryptoDigest", "CShims", "TarStream"]),
        .target(name: "ParserHarness", dependencies: ["PostgresFormat", "StorageInterface", "Repository"]),
        .executableTarget(name: "pgbk", dependencies: [
            "Engine", "StorageInterface", "Repository", "PostgresFormat", "PostgresClient", "ObjectStorage", "CShims",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], linkerSettings: [
            // The Swift runtime linked in: the binary runs where no toolchain is (the Debian
            // package, a database host), and starts faster (archive-push runs per segment).
            .unsafeFlags(["-static-stdlib", "-l_FoundationCollections", "-l_FoundationCShims"], .when(platforms: [.linux])),
        ]),

        .target(name: "TestSupport", dependencies: ["StorageInterface", "Repository"], path: "Tests/TestSupport"),
        .testTarget(name: "PostgresFormatTests", dependencies: ["PostgresFormat", "CShims", "TestSupport"]),
        .testTarget(name: "RepositoryTests", dependencies: ["StorageInterface", "Repository", "PostgresFormat", "TestSupport", "CZstd", "Cipher"]),
        .testTarget(name: "FuzzRegressionTests", dependencies: ["StorageInterface", "ParserHarness", "Repository"], exclude: ["Corpus"]),
        .testTarget(name: "EngineTests", dependencies: ["StorageInterface", "Engine", "Repository", "PostgresFormat", "PostgresClient", "TestSupport"]),
        .testTarget(name: "TarStreamTests", dependencies: ["TarStream"]),
        .testTarget(name: "CipherTests", dependencies: ["Cipher"]),
        .testTarget(name: "ObjectStorageTests", dependencies: ["StorageInterface", "ObjectStorage", "CryptoDigest", "Repository"]),
        .testTarget(name: "IntegrationTests", dependencies: ["StorageInterface", "PostgresClient", "PostgresFormat", "Repository", "Engine", "ObjectStorage", "CryptoDigest", "CShims", "TarStream"]),
    ],
    swiftLanguageModes: [.v6]
)
