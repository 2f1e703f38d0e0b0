// `idpbuild run` end to end: the real binary (built next to this test bundle by `swift build`/`swift test`).
import Foundation
import LayerDiff
import Sandbox
import SandboxTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The idpbuild executable next to the test bundle.
let idpbuildBinary: String = {
    let bundle = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return URL(fileURLWithPath: bundle).deletingLastPathComponent().appendingPathComponent("idpbuild").path
}()

@Suite(.serialized) struct RunCommandTests {
    @Test func layerOutDiffsInsideTheUserNamespace() throws {
        try #require(FileManager.default.isExecutableFile(atPath: idpbuildBinary), "build the idpbuild product first: swift build")
        try #require(hasSeveralIDs, "needs subordinate ID ranges (or root)")
        let fixture = try Fixture("cli-layer")
        let layer = fixture.scratch.path + "/layer.tar.gz"
        // A private file owned by a subordinate ID: only root of the user namespace can read it, so the
        // command re-executes itself inside one when run unprivileged.
        let output = try run(idpbuildBinary, ["run", "--rootfs", fixture.rootfs, "--layer-out", layer, "--json", "--",
                                              "sh", "-c", "echo secret > /f; chown 1234:4321 /f; chmod 600 /f; rm /bin/ls; echo done"])
        #expect(output.status == 0, "\(output.stderr)")
        let lines = output.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains(#"{"line":"done","stream":"stdout","type":"output"}"#))
        #expect(lines.contains(#"{"code":0,"type":"exit"}"#))
        let layerLine = try #require(lines.first { $0.contains(#""type":"layer""#) })
        let entries = try readTar(layer)
        let file = try #require(entries.first { $0.path == "f" })
        #expect(file.uid == 1234 && file.gid == 4321 && file.mode & 0o777 == 0o600)
        #expect(file.data == Array("secret\n".utf8))
        #expect(entries.map(\.path).sorted() == ["bin/", "bin/.wh.ls", "f"])
        #expect(layerLine.contains(#""empty":false"#))
        #expect(fixture.stateIsEmpty)
        // No process of this run is left (other suites may run idpbuild meanwhile: match this run's own rootfs).
        #expect(hostProcesses(containing: "\(idpbuildBinary) run --rootfs \(fixture.rootfs)").isEmpty)
    }

    @Test func exitStatusIsTheCommandsAndErrorsExit125() throws {
        try #require(FileManager.default.isExecutableFile(atPath: idpbuildBinary), "build the idpbuild product first: swift build")
        let fixture = try Fixture("cli-status")
        let failing = try run(idpbuildBinary, ["run", "--rootfs", fixture.rootfs, "--", "sh", "-c", "echo out; echo err >&2; exit 7"])
        #expect(failing.status == 7)
        #expect(failing.stdout == "out\n")
        #expect(failing.stderr.contains("err"))
        let missing = try run(idpbuildBinary, ["run", "--rootfs", fixture.scratch.path + "/nope", "--", "true"])
        #expect(missing.status == 125)
        #expect(missing.stderr.contains("does not exist"))
        let notFound = try run(idpbuildBinary, ["run", "--rootfs", fixture.rootfs, "--", "nonexistent-cmd"])
        #expect(notFound.status == 127)
        #expect(notFound.stderr.contains("nonexistent-cmd: command not found"))
        let none = try run(idpbuildBinary, ["run", "--rootfs", fixture.rootfs, "--network", "none", "--user", "app",
                                            "--workdir", "/w", "-e", "X=1", "--", "sh", "-c", "echo $X $(id -u) $(pwd)"])
        #expect(none.stdout == "1 1000 /w\n" || !hasSeveralIDs)
    }

    @Test(arguments: [false, true]) func interruptKillsTheTreeAndLeavesNothing(withLayer: Bool) throws {
        try #require(FileManager.default.isExecutableFile(atPath: idpbuildBinary), "build the idpbuild product first: swift build")
        let fixture = try Fixture("cli-interrupt")
        let tmp = try fixture.scratch.subdirectory("tmp")
        let token = String(600_000 + Int(getpid() % 100_000) + (withLayer ? 1 : 0))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: idpbuildBinary)
        var arguments = ["run", "--rootfs", fixture.rootfs]
        if withLayer { arguments += ["--layer-out", fixture.scratch.path + "/layer.tar.gz"] }
        process.arguments = arguments + ["--", "sh", "-c", "sleep \(token) & echo started; sleep \(token)"]
        var environment = ProcessInfo.processInfo.environment
        environment["TMPDIR"] = tmp
        process.environment = environment
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        var seen = ""
        let deadline = Date().addingTimeInterval(20)
        while !seen.contains("started") && Date() < deadline {
            seen += String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
        }
        #expect(seen.contains("started"))
        #expect(eventually { hostProcesses(containing: "sleep \(token)").count == 2 })
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        #expect(process.terminationStatus == 128 + SIGINT)
        #expect(eventually { hostProcesses(containing: "sleep \(token)").isEmpty })
        #expect(eventually { ((try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? ["?"]).isEmpty },
                "left in TMPDIR: \((try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? [])")
        #expect(!FileManager.default.fileExists(atPath: fixture.scratch.path + "/layer.tar.gz"))
        #expect(!mountTable().contains(fixture.scratch.path))
    }

    @Test(.enabled(if: geteuid() == 0)) func userNamespacesRefusedIsAClearError() throws {
        try #require(FileManager.default.isExecutableFile(atPath: idpbuildBinary), "build the idpbuild product first: swift build")
        let fixture = try Fixture("cli-nouserns")
        chmod(fixture.scratch.path, 0o755) // uid 1 must reach the rootfs
        // A real kernel refusal: the fixture runs idpbuild as uid 1 in a user namespace whose
        // user.max_user_namespaces is 0.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [fixturesDirectory + "/sandbox/without-user-namespaces.py", idpbuildBinary,
                             "run", "--rootfs", fixture.rootfs, "--", "true"]
        process.currentDirectoryURL = URL(fileURLWithPath: "/tmp")
        var environment = ProcessInfo.processInfo.environment
        environment["LLVM_PROFILE_FILE"] = "/dev/null"
        process.environment = environment
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 125)
        #expect(stderr.contains("the kernel refused to create a user namespace"), "\(stderr)")
        #expect(stderr.contains("user.max_user_namespaces"))
    }

    @Test func aKilledCallerLeavesNoProcessOrDirectory() throws {
        try #require(FileManager.default.isExecutableFile(atPath: idpbuildBinary), "build the idpbuild product first: swift build")
        let fixture = try Fixture("cli-sigkill")
        let tmp = try fixture.scratch.subdirectory("tmp")
        let token = String(500_000 + Int(getpid() % 100_000))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: idpbuildBinary)
        process.arguments = ["run", "--rootfs", fixture.rootfs, "--", "sh", "-c", "sleep \(token) & echo started; sleep \(token)"]
        var environment = ProcessInfo.processInfo.environment
        environment["TMPDIR"] = tmp
        process.environment = environment
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        var seen = ""
        let deadline = Date().addingTimeInterval(20)
        while !seen.contains("started") && Date() < deadline {
            seen += String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
        }
        #expect(eventually { hostProcesses(containing: "sleep \(token)").count == 2 })
        // SIGKILL gives the caller no chance to clean up: the supervisor sees its lifeline close and does it.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(eventually { hostProcesses(containing: "sleep \(token)").isEmpty })
        #expect(eventually { ((try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? ["?"]).isEmpty })
        #expect(!mountTable().contains(fixture.scratch.path))
    }
}
