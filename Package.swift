// swift-tools-version: 6.1
// idpbuild: a Dockerfile language server and rootless image builder for idpbuilder platforms.
import PackageDescription

let package = Package(
    name: "idpbuild",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "idpbuild", targets: ["idpbuild"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    ],
    targets: [
        // System libraries from Debian's -dev packages; only the thin wrapper modules import them.
        .systemLibrary(name: "CArchive", path: "Sources/CArchive", pkgConfig: "libarchive",
                       providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CCurl", path: "Sources/CCurl", pkgConfig: "libcurl",
                       providers: [.apt(["libcurl4-openssl-dev"])]),

        .target(name: "OCI", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "HTTP", dependencies: ["CCurl"]),
        .target(name: "Registry", dependencies: ["OCI", "HTTP"]),
        .target(name: "ImageStore", dependencies: ["OCI", "CArchive"]),
        .target(name: "ImageTransfer", dependencies: ["OCI", "HTTP", "Registry", "ImageStore", "RegistriesConf", "Credentials"]),
        .target(name: "RegistriesConf", dependencies: ["OCI", .product(name: "TOMLKit", package: "TOMLKit")]),
        .target(name: "Credentials", dependencies: ["Registry", "HTTP", .product(name: "Yams", package: "Yams")]),

        .executableTarget(
            name: "idpbuild",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                "OCI", "HTTP", "Registry", "ImageStore", "ImageTransfer", "RegistriesConf", "Credentials",
            ]
        ),

        .target(name: "TestSupport", dependencies: ["OCI"], path: "Tests/TestSupport"),
        .testTarget(name: "OCITests", dependencies: ["OCI"]),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP", "OCI", "TestSupport"]),
        .testTarget(name: "RegistryTests", dependencies: ["Registry", "HTTP", "OCI", "TestSupport"]),
        .testTarget(name: "ImageStoreTests", dependencies: ["ImageStore", "OCI", "TestSupport"]),
        .testTarget(name: "ImageTransferTests", dependencies: ["ImageTransfer", "ImageStore", "Registry", "RegistriesConf", "HTTP", "OCI", "TestSupport"]),
        .testTarget(name: "IDPBuildCLITests", dependencies: ["idpbuild", "Registry", "OCI", "TestSupport"]),
        .testTarget(name: "CredentialsTests", dependencies: ["Credentials", "Registry", "HTTP", "TestSupport"]),
        .testTarget(name: "RegistriesConfTests", dependencies: ["RegistriesConf", "OCI", "TestSupport"]),
    ]
)
