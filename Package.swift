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
    ],
    targets: [
        // System libraries from Debian's -dev packages; only the thin wrapper modules import them.
        .systemLibrary(name: "CArchive", path: "Sources/CArchive", pkgConfig: "libarchive",
                       providers: [.apt(["libarchive-dev"])]),

        // The C that must run before the Swift runtime starts threads (re-exec marker, namespaces)
        // and between clone() and execve() (mounts, pivot_root, capabilities, user switch).
        .target(name: "CSandbox"),
        .target(name: "Sandbox", dependencies: ["CSandbox"]),
        .target(name: "LayerDiff", dependencies: ["CArchive", .product(name: "Crypto", package: "swift-crypto")]),

        .executableTarget(
            name: "idpbuild",
            dependencies: [
                "Sandbox", "LayerDiff",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        .target(name: "SandboxTestSupport", dependencies: ["Sandbox", "CArchive"], path: "Tests/SandboxTestSupport"),
        .testTarget(name: "SandboxTests", dependencies: ["Sandbox", "LayerDiff", "SandboxTestSupport"]),
        .testTarget(name: "LayerDiffTests", dependencies: ["LayerDiff", "CArchive", "SandboxTestSupport", .product(name: "Crypto", package: "swift-crypto")]),
    ]
)
