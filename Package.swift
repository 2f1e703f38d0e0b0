// swift-tools-version: 6.1
// idpbuild: a Dockerfile language server and rootless image builder for idpbuilder platforms.
import PackageDescription

let package = Package(
    name: "idpbuild",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "idpbuild", targets: ["idpbuild"]),
        .executable(name: "idpbuild-bench", targets: ["idpbuild-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // System libraries from Debian's -dev packages; only the thin wrapper modules import them.
        .systemLibrary(name: "CArchive", path: "Sources/CArchive", pkgConfig: "libarchive",
                       providers: [.apt(["libarchive-dev"])]),

        .target(name: "DockerfileSyntax"),
        .target(name: "DockerfileCheck", dependencies: ["DockerfileSyntax"]),

        .testTarget(name: "DockerfileSyntaxTests", dependencies: ["DockerfileSyntax"]),
        .testTarget(name: "DockerfileCheckTests", dependencies: ["DockerfileCheck"]),

        .executableTarget(
            name: "idpbuild",
            dependencies: [
                "DockerfileSyntax", "DockerfileCheck",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "IDPBuildCLITests", dependencies: ["idpbuild"]),

        // Benchmarks: `swift run -c release idpbuild-bench --help`.
        .executableTarget(
            name: "idpbuild-bench",
            dependencies: [
                "DockerfileSyntax", "DockerfileCheck",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
    ]
)
