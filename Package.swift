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
        .systemLibrary(name: "CSystemd", path: "Sources/CSystemd", pkgConfig: "libsystemd",
                       providers: [.apt(["libsystemd-dev"])]),

        // A value behind a lock, for the little state threads and tasks share.
        .target(name: "Locking"),

        // Dockerfiles: syntax, then checks (which validate image references with OCI's parser).
        .target(name: "DockerfileSyntax"),
        .target(name: "DockerfileCheck", dependencies: ["DockerfileSyntax", "OCI"]),

        // Editors: JSON-RPC framing and connection, LSP's messages and structures, then the language server (which builds
        // through BuildService).
        .target(name: "JSONRPC", dependencies: ["Locking"]),
        .target(name: "LSPTypes", dependencies: ["JSONRPC"]),
        .target(name: "LanguageServer", dependencies: ["JSONRPC", "LSPTypes", "Locking", "DockerfileSyntax", "DockerfileCheck", "BuildService", "BuildEvents", "BuildPlanner",
                                                       "ResourceLimits"]),
        // The shared server: sessions on unix and loopback TCP sockets, and the stdio bridge to them.
        .target(name: "LanguageServerHost", dependencies: ["LanguageServer", "JSONRPC"]),

        // Images: OCI types, HTTP on libcurl, the distribution protocol, credentials, registries.conf, the store.
        .target(name: "OCI", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "HTTP", dependencies: ["CCurl", "Locking"]),
        .target(name: "Registry", dependencies: ["OCI", "HTTP"]),
        .target(name: "Credentials", dependencies: ["Registry", "HTTP", .product(name: "Yams", package: "Yams")]),
        .target(name: "RegistriesConf", dependencies: ["OCI", .product(name: "TOMLKit", package: "TOMLKit")]),
        .target(name: "ImageStore", dependencies: ["OCI", "CArchive"]),
        .target(name: "ImageTransfer", dependencies: ["OCI", "HTTP", "Registry", "ImageStore", "RegistriesConf", "Credentials", "Locking"]),

        // Rootless execution. The C that must run before the Swift runtime starts threads (re-exec marker, namespaces)
        // and between clone() and execve() (mounts, pivot_root, capabilities, user switch).
        .target(name: "CSandbox"),
        .target(name: "Sandbox", dependencies: ["CSandbox"]),
        .target(name: "LayerDiff", dependencies: ["CArchive", "OCI", .product(name: "Crypto", package: "swift-crypto")]),

        // The desktop's service manager: build limits (the engine's own cgroup, or a systemd scope behind the same
        // interface), then libsystemd (sd_notify, socket activation, journald, the user manager over D-Bus).
        .target(name: "ResourceLimits"),
        .target(name: "Systemd", dependencies: ["CSystemd", "ResourceLimits"]),
        .target(name: "BuildLog", dependencies: ["BuildEvents", "Systemd"]),

        // Builds: what every front end shares (events, cache states, entitlements); the planner turns a Dockerfile into a
        // plan without running anything; the engine executes plans into the store; the service runs the engine in a
        // worker process and pushes.
        .target(name: "BuildEvents", dependencies: ["DockerfileSyntax"]),
        .target(name: "BuildPlanner", dependencies: ["BuildEvents", "DockerfileSyntax", "DockerfileCheck", "OCI", "Locking"]),
        .target(name: "BuildEngine", dependencies: ["BuildEvents", "BuildPlanner", "DockerfileSyntax", "OCI", "HTTP", "ImageStore",
                                                    "ImageTransfer", "Sandbox", "LayerDiff", "Locking"]),
        .target(name: "BuildService", dependencies: ["BuildEvents", "BuildPlanner", "BuildEngine", "ImageTransfer", "ImageStore", "OCI", "Registry", "RegistriesConf",
                                                     "Credentials", "HTTP", "Sandbox", "DockerfileSyntax", "ResourceLimits", "Systemd", "JSONRPC", "Locking"]),

        .executableTarget(
            name: "idpbuild",
            dependencies: [
                "DockerfileSyntax", "DockerfileCheck", "JSONRPC", "LanguageServer",
                "OCI", "HTTP", "Registry", "ImageStore", "ImageTransfer", "RegistriesConf", "Credentials",
                "Sandbox", "LayerDiff", "BuildEvents", "BuildPlanner", "BuildEngine", "BuildService", "ResourceLimits", "Systemd", "BuildLog", "LanguageServerHost",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Benchmarks: `swift run -c release idpbuild-bench --help`.
        .executableTarget(
            name: "idpbuild-bench",
            dependencies: [
                "DockerfileSyntax", "DockerfileCheck", "JSONRPC", "BuildPlanner", "OCI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Tests; TestSupport starts and stops the real servers (docker-registry, token and API servers).
        .target(name: "TestSupport", dependencies: ["OCI"], path: "Tests/TestSupport"),
        .testTarget(name: "DockerfileSyntaxTests", dependencies: ["DockerfileSyntax"]),
        .testTarget(name: "DockerfileCheckTests", dependencies: ["DockerfileCheck"]),
        // The planner alone, against an in-memory store view: any user, milliseconds.
        .testTarget(name: "BuildPlannerTests", dependencies: ["BuildPlanner", "BuildEvents", "DockerfileSyntax", "OCI"]),
        .testTarget(name: "OCITests", dependencies: ["OCI"]),
        .target(name: "LSPTestSupport", dependencies: ["JSONRPC"], path: "Tests/LSPTestSupport"),
        .testTarget(name: "JSONRPCTests", dependencies: ["JSONRPC", "LSPTestSupport"]),
        .testTarget(name: "LanguageServerTests", dependencies: ["LanguageServer", "LSPTypes", "JSONRPC", "LSPTestSupport", "BuildService"]),
        // idpbuild in a systemd desktop, against systemd-socket-activate, NOTIFY_SOCKET, journald's socket and cgroups.
        .testTarget(name: "ServiceTests", dependencies: ["idpbuild", "BuildService", "BuildEvents", "BuildPlanner", "BuildEngine", "ResourceLimits", "JSONRPC", "LSPTestSupport",
                                                        "TestSupport", "BuildTestSupport", "SandboxTestSupport", "CSandbox"]),
        .testTarget(name: "LanguageServerHostTests", dependencies: ["LanguageServerHost", "LanguageServer", "JSONRPC", "LSPTestSupport"]),
        // Headless Neovim and Emacs (Eglot) against the built `idpbuild lsp`.
        .testTarget(name: "EditorTests", dependencies: ["idpbuild", "JSONRPC", "TestSupport", "BuildTestSupport", "SandboxTestSupport"]),
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
        .testTarget(name: "BuildEngineTests", dependencies: ["BuildEvents", "BuildPlanner", "BuildEngine", "BuildService", "ImageStore", "ImageTransfer", "OCI", "Registry",
                                                            "RegistriesConf", "Sandbox", "TestSupport",
                                                            "SandboxTestSupport", "BuildTestSupport"]),
        // The build commands, lenses, hints and diagnostics of the language server against real builds and a registry.
        .testTarget(name: "EditorBuildTests", dependencies: ["idpbuild", "LanguageServer", "LSPTypes", "JSONRPC", "BuildService", "BuildEvents", "BuildPlanner", "BuildEngine",
                                                            "LSPTestSupport", "TestSupport", "SandboxTestSupport", "BuildTestSupport"]),
        .testTarget(name: "ResourceLimitsTests", dependencies: ["ResourceLimits"]),
        .testTarget(name: "SystemdTests", dependencies: ["Systemd", "ResourceLimits"]),
        .testTarget(name: "BuildEventsTests", dependencies: ["BuildEvents"]),
        .testTarget(name: "BuildLogTests", dependencies: ["BuildLog", "BuildEvents", "Systemd", "DockerfileSyntax"]),
        .testTarget(name: "LayerDiffTests", dependencies: ["LayerDiff", "OCI", "CArchive", "SandboxTestSupport", .product(name: "Crypto", package: "swift-crypto")]),
    ]
)
