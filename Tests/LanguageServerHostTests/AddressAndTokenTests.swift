import Foundation
@testable import LanguageServerHost
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct ListenAddressTests {
    @Test func addressesParseAndPrintBack() throws {
        #expect(try ListenAddress(parsing: "unix:/run/user/1000/idpbuild/lsp.sock") == .unix("/run/user/1000/idpbuild/lsp.sock"))
        #expect(try ListenAddress(parsing: "tcp:127.0.0.1:7070") == .tcp(host: "127.0.0.1", port: 7070))
        #expect(try ListenAddress(parsing: "tcp:localhost:7070") == .tcp(host: "127.0.0.1", port: 7070))
        #expect(try ListenAddress(parsing: "tcp:[::1]:7070").description == "tcp:[::1]:7070")
        #expect(try ListenAddress(parsing: "tcp:127.3.2.1:1") == .tcp(host: "127.3.2.1", port: 1))
        #expect(try ListenAddress(parsing: "auto", environment: ["XDG_RUNTIME_DIR": "/run/user/7"]) == .unix("/run/user/7/idpbuild/lsp.sock"))
        #expect(try ListenAddress.defaultTokenFile(environment: ["XDG_RUNTIME_DIR": "/run/user/7"]) == "/run/user/7/idpbuild/lsp.token")
        let relative = try ListenAddress(parsing: "unix:lsp.sock")
        #expect(relative == .unix(FileManager.default.currentDirectoryPath + "/lsp.sock"))
    }

    @Test func otherMachinesAndMalformedAddressesAreRefused() {
        #expect(throws: HostError.notLoopback("tcp:0.0.0.0:7070")) { try ListenAddress(parsing: "tcp:0.0.0.0:7070") }
        #expect(throws: HostError.notLoopback("tcp:192.168.1.5:7070")) { try ListenAddress(parsing: "tcp:192.168.1.5:7070") }
        #expect(throws: HostError.self) { try ListenAddress(parsing: "tcp:127.0.0.1") }
        #expect(throws: HostError.self) { try ListenAddress(parsing: "tcp:127.0.0.1:http") }
        #expect(throws: HostError.self) { try ListenAddress(parsing: "tcp:[::1]7070") }
        #expect(throws: HostError.self) { try ListenAddress(parsing: "unix:") }
        #expect(throws: HostError.self) { try ListenAddress(parsing: "/tmp/x.sock") }
        #expect(throws: HostError.pathTooLong("/" + String(repeating: "x", count: 120))) { try ListenAddress(parsing: "unix:/" + String(repeating: "x", count: 120)) }
        #expect(throws: HostError.noRuntimeDirectory) { try ListenAddress(parsing: "auto", environment: [:]) }
        #expect(HostError.notLoopback("tcp:0.0.0.0:1").description.contains("loopback only"))
        #expect(HostError.noRuntimeDirectory.description.contains("XDG_RUNTIME_DIR"))
        #expect(HostError.invalidAddress("x", detail: "y").description.contains("unix:PATH, tcp:127.0.0.1:PORT or auto"))
    }
}

@Suite struct PassedSocketTests {
    @Test func passedSocketsAreCheckedBeforeServing() throws {
        let path = "/tmp/idpbuild-passed-\(getpid())-\(UUID().uuidString.prefix(8)).sock"
        let unixEndpoint = try SessionHost.Endpoint.listening(on: .unix(path))
        defer { close(unixEndpoint.descriptor); unlink(path) }
        let passedUnix = try SessionHost.Endpoint.passed(descriptor: unixEndpoint.descriptor, name: "lsp")
        #expect(passedUnix.address == "unix:" + path && !passedUnix.needsToken && passedUnix.removeOnStop == nil)

        let tcp = try SessionHost.Endpoint.listening(on: .tcp(host: "127.0.0.1", port: 0))
        defer { close(tcp.descriptor) }
        let passedTCP = try SessionHost.Endpoint.passed(descriptor: tcp.descriptor, name: "lsp-tcp")
        #expect(passedTCP.needsToken && passedTCP.address.hasPrefix("tcp:127.0.0.1:"))

        let datagram = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(datagram) }
        #expect(throws: HostError.self) { try SessionHost.Endpoint.passed(descriptor: datagram, name: "dgram") }

        let anywhere = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(anywhere) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(anywhere, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        do {
            _ = try SessionHost.Endpoint.passed(descriptor: anywhere, name: "wide")
            Issue.record("a socket on 0.0.0.0 was accepted")
        } catch {
            #expect(error.description.contains("is not on loopback"))
        }
        var fds: [Int32] = [0, 0]
        pipe(&fds)
        defer { close(fds[0]); close(fds[1]) }
        #expect(throws: HostError.unusablePassedSocket(name: "pipe", detail: "descriptor \(fds[0]) is not a socket")) {
            try SessionHost.Endpoint.passed(descriptor: fds[0], name: "pipe")
        }
    }

    @Test func theStatusLineNamesTheClients() {
        #expect(SessionHost.status([]) == "waiting for editors (no sessions)")
        let now = Date()
        #expect(SessionHost.status([.init(id: 1, client: "Neovim 0.9.5", connected: now), .init(id: 2, client: nil, connected: now)])
                == "2 sessions: Neovim 0.9.5, connecting")
        #expect(SessionHost.headerEnd(Array("Content-Length: 2\n\n{}".utf8)) == 19)
        #expect(SessionHost.headerEnd(Array("Content-Length: 2\r\n\r\n{}".utf8)) == 21)
        #expect(SessionHost.headerEnd(Array("Content-Length: 2\r\n".utf8)) == nil)
    }
}

@Suite struct TokenFileTests {
    static func folder() -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("idpbuild-token-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func theServerMakesAPrivateTokenAndReadsItBack() throws {
        let folder = Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/idpbuild/lsp.token"
        let token = try TokenFile.loadOrCreate(path)
        #expect(token.count == 64)
        var status = stat()
        #expect(stat(path, &status) == 0 && status.st_mode & 0o777 == 0o600)
        #expect(stat(folder + "/idpbuild", &status) == 0 && status.st_mode & 0o777 == 0o700)
        #expect(try TokenFile.loadOrCreate(path) == token)
        #expect(try TokenFile.read(path) == token)
        #expect(TokenFile.matches(token, token))
        #expect(!TokenFile.matches(token, String(token.dropLast())))
        #expect(!TokenFile.matches(String(token.reversed()), token))
    }

    @Test func tokenFilesOthersCanReadOrThatAreWeakAreRefused() throws {
        let folder = Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let open = folder + "/open.token"
        _ = FileManager.default.createFile(atPath: open, contents: Data(String(repeating: "a", count: 64).utf8), attributes: [.posixPermissions: 0o644])
        do {
            _ = try TokenFile.read(open)
            Issue.record("a 0644 token file was accepted")
        } catch {
            #expect(error.description.contains("chmod 600 \(open)"))
        }
        let short = folder + "/short.token"
        _ = FileManager.default.createFile(atPath: short, contents: Data("abc".utf8), attributes: [.posixPermissions: 0o600])
        #expect(throws: HostError.self) { try TokenFile.read(short) }
        #expect(throws: HostError.self) { try TokenFile.read(folder + "/missing.token") }
        do { _ = try TokenFile.read(folder + "/missing.token") } catch { #expect(error.description.contains("the server makes it")) }
    }

    @Test func theTokenIsFoundInTheHeaderSection() {
        #expect(TokenFile.presented(in: Array("Content-Length: 5\r\nIdpbuild-Token: abc\r\n\r\n".utf8)) == "abc")
        #expect(TokenFile.presented(in: Array("IDPBUILD-TOKEN:xyz\n\n".utf8)) == "xyz")
        #expect(TokenFile.presented(in: Array("Content-Length: 5\r\n\r\n".utf8)) == nil)
    }
}
