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

        // Dockerfiles: syntax, then checks (which validate image references with OCI's parser).
        .target(name: "DockerfileSyntax"),
        .target(name: "DockerfileCheck", dependencies: ["DockerfileSyntax", "OCI"]),

        // Editors: JSON-RPC framing and connection, then the language server (which builds through BuildService).
        .target(name: "JSONRPC"),
        .target(name: "LanguageServer", dependencies: ["JSONRPC", "DockerfileSyntax", "DockerfileCheck", "BuildService", "BuildEngine"]),

        // Images: OCI types, HTTP on libcurl, the distribution protocol, credentials, registries.conf, the store.
        .target(name: "OCI", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "HTTP", dependencies: ["CCurl"]),
        .target(name: "Registry", dependencies: ["OCI", "HTTP"]),
        .target(name: "Credentials", dependencies: ["Registry", "HTTP", .product(name: "Yams", package: "Yams")]),
        .target(name: "RegistriesConf", dependencies: ["OCI", .product(name: "TOMLKit", package: "TOMLKit")]),
        .target(name: "ImageStore", dependencies: ["OCI", "CArchive"]),
        .target(name: "ImageTransfer", dependencies: ["OCI", "HTTP", "Registry", "ImageStore", "RegistriesConf", "Credentials"]),

        // Rootless execution. The C that must run before the Swift runtime starts threads (re-exec marker, namespaces)
        // and between clone() and execve() (mounts, pivot_root, capabilities, user switch).
        .target(name: "CSandbox"),
        .target(name: "Sandbox", dependencies: ["CSandbox"]),
        .target(name: "LayerDiff", dependencies: ["CArchive", .product(name: "Crypto", package: "swift-crypto")]),

        // Builds: the engine executes a Dockerfile into the store; the service runs it in a worker process and pushes.
        .target(name: "BuildEngine", dependencies: ["DockerfileSyntax", "DockerfileCheck", "OCI", "HTTP", "ImageStore", "ImageTransfer",
                                                    "Sandbox", "LayerDiff"]),
        .target(name: "BuildService", dependencies: ["BuildEngine", "ImageTransfer", "ImageStore", "OCI", "Registry", "RegistriesConf",
                                                     "Credentials", "HTTP", "Sandbox", "DockerfileSyntax"]),

        .executableTarget(
            name: "idpbuild",
            dependencies: [
                "DockerfileSyntax", "DockerfileCheck", "JSONRPC", "LanguageServer",
                "OCI", "HTTP", "Registry", "ImageStore", "ImageTransfer", "RegistriesConf", "Credentials",
                "Sandbox", "LayerDiff", "BuildEngine", "BuildService",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Benchmarks: `swift run -c release idpbuild-bench --help`.
        .executableTarget(
            name: "idpbuild-bench",
            dependencies: [
                "DockerfileSyntax", "DockerfileCheck", "JSONRPC",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Tests; TestSupport starts and stops the real servers (docker-registry, token and API servers).
        .target(name: "TestSupport", dependencies: ["OCI"], path: "Tests/TestSupport"),
        .testTarget(name: "DockerfileSyntaxTests", dependencies: ["DockerfileSyntax"]),
        .testTarget(name: "DockerfileCheckTests", dependencies: ["DockerfileCheck"]),
        .testTarget(name: "OCITests", dependencies: ["OCI"]),
        .target(name: "LSPTestSupport", dependencies: ["JSONRPC"], path: "Tests/LSPTestSupport"),
        .testTarget(name: "JSONRPCTests", dependencies: ["JSONRPC", "LSPTestSupport"]),
        .testTarget(name: "LanguageServerTests", dependencies: ["LanguageServer", "JSONRPC", "LSPTestSupport", "BuildService"]),
        // Headless Neovim and Emacs (Eglot) against the built `idpbuild lsp`.
        .testTarget(name: "EditorTests", dependencies: ["idpbuild", "JSONRPC", "TestSupport", "BuildTestSupport"]),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP", "OCI", "TestSupport"]),
        .testTarget(name: "RegistryTests", dependencies: ["Registry", "HTTP", "OCI", "TestSupport"]),
        .testTarget(name: "CredentialsTests", dependencies: ["Credentials", "Registry", "HTTP", "TestSupport"]),
        .testTarget(name: "RegistriesConfTests", dependencies: ["RegistriesConf", "OCI", "TestSupport"]),
        .testTarget(name: "ImageStoreTests", dependencies: ["ImageStore", "OCI", "TestSupport"]),
        .testTarget(name: "ImageTransferTests", dependencies: ["ImageTransfer", "ImageStore", "Registry", "RegistriesConf", "HTTP", "OCI", "TestSupport"]),
        .testTarget(name: "IDPBuildCLITests", dependencies: ["idpbuild", "Registry", "OCI", "TestSupport"]),
        .target(name: "SandboxTestSupport", dependencies: ["Sandbox", "CArchive"], path: "Tests/SandboxTestSupport"),
        .testTarget(name: "SandboxTests", dependencies: ["Sandbox", "LayerDiff", "SandboxTestSupport"]),
        // A registry with a busybox base image as alpine:3.19 behind a registries.conf mirror, for the build tests.
        .target(name: "BuildTestSupport", dependencies: ["TestSupport", "SandboxTestSupport", "Registry", "OCI"], path: "Tests/BuildTestSupport"),
        .testTarget(name: "BuildEngineTests", dependencies: ["BuildEngine", "BuildService", "ImageStore", "ImageTransfer", "OCI", "Registry",
                                                            "RegistriesConf", "Sandbox", "LayerDiff", "DockerfileSyntax", "TestSupport",
                                                            "SandboxTestSupport", "BuildTestSupport"]),
        // The build commands, lenses, hints and diagnostics of the language server against real builds and a registry.
        .testTarget(name: "EditorBuildTests", dependencies: ["idpbuild", "LanguageServer", "JSONRPC", "BuildService", "BuildEngine",
                                                            "LSPTestSupport", "TestSupport", "SandboxTestSupport", "BuildTestSupport"]),
        .testTarget(name: "LayerDiffTests", dependencies: ["LayerDiff", "CArchive", "SandboxTestSupport", .product(name: "Crypto", package: "swift-crypto")]),
    ]
)
