import Foundation
import HTTP
import OCI
import Registry
import Testing
import TestSupport

/// Faults injected by a forwarding proxy (Fixtures/servers/testserver.py proxy) in front of a real docker-registry.
@Suite(.serialized) struct RegistryFaultTests {
    /// Starts a plain registry holding the busybox image, and a proxy with one fault; runs the body with a client via the proxy.
    func withFault(_ fault: String, match: String, count: Int = 1, attempts: Int = 4,
                   _ body: (RegistryClient, TestImage, TemporaryDirectory, Int) async throws -> Void) async throws {
        let dir = try TemporaryDirectory("reg-fault")
        defer { dir.remove() }
        let registry = try await DockerRegistry(directory: dir.file("registry"))
        defer { registry.stop() }
        let image = try TestImage.busybox(in: dir.path)
        try await push(image, with: RegistryClient(endpoint: RegistryEndpoint(host: registry.host, insecure: true)),
                       repository: "test/busybox", tag: "1")
        let proxy = try startTestServer(["proxy", "--upstream", "http://\(registry.host)", "--fault", fault, "--match", match,
                                         "--count", "\(count)"], dir: dir, name: "proxy")
        defer { proxy.stop() }
        let client = RegistryClient(endpoint: RegistryEndpoint(host: "127.0.0.1:\(proxy.port)", insecure: true),
                                    retry: RetryPolicy(attempts: attempts, initialDelay: 0.05))
        try await body(client, image, dir, proxy.port)
    }

    @Test func truncatedBlobDownloadIsRetried() async throws {
        try await withFault("truncate", match: "/blobs/sha256") { client, image, dir, port in
            _ = try await pullAndVerify(image, with: client, repository: "test/busybox", reference: "1", into: dir.path)
            let gets = try proxyLog(port).filter { ($0["method"] as? String) == "GET" && (($0["path"] as? String) ?? "").contains(image.layer.digest.encoded) }
            // The config blob took the fault or the layer did; either way one blob needed two GETs.
            #expect(try proxyLog(port).filter { ($0["method"] as? String) == "GET" && (($0["path"] as? String) ?? "").contains("/blobs/") }.count == 3)
            #expect(gets.count >= 1)
        }
    }

    @Test func droppedConnectionsAnd5xxAreRetried() async throws {
        try await withFault("503", match: "/manifests/", count: 2) { client, image, _, _ in
            let fetched = try await client.manifest(repository: "test/busybox", reference: "1")
            #expect(fetched.digest == image.manifestDigest)
        }
        try await withFault("drop", match: "/blobs/uploads/", count: 1) { client, image, dir, _ in
            let other = try TestImage.busybox(in: dir.file("second"), padding: 4096)
            #expect(try await client.uploadBlob(repository: "test/busybox", descriptor: other.layer, from: other.layerPath) == .uploaded)
            #expect(try await client.blobExists(repository: "test/busybox", digest: other.layer.digest))
        }
    }

    @Test func persistentFailureGivesUpNamingTheRegistry() async throws {
        try await withFault("503", match: "/manifests/", count: 100, attempts: 3) { client, _, _, port in
            await #expect { _ = try await client.manifest(repository: "test/busybox", reference: "1") } throws: { error in
                let t = "\(error)"
                return t.contains("127.0.0.1:\(port)") && t.contains("503") && t.contains("UNAVAILABLE")
            }
        }
    }

    @Test func corruptedBlobIsRejectedAndNothingIsKept() async throws {
        try await withFault("corrupt", match: "/blobs/sha256", count: 100) { client, image, dir, _ in
            let target = dir.file("layer.download")
            await #expect { try await client.downloadBlob(repository: "test/busybox", descriptor: image.layer, to: target) } throws: { error in
                guard let e = error as? RegistryError, case .digestMismatch = e else { return false }
                return e.description.contains("nothing was stored")
            }
            #expect(!FileManager.default.fileExists(atPath: target))
        }
        try await withFault("corrupt", match: "/manifests/", count: 100) { client, _, _, _ in
            await #expect(throws: RegistryError.self) { _ = try await client.manifest(repository: "test/busybox", reference: "1") }
        }
    }

    @Test func credentialsDoNotFollowARedirectToAnotherHost() async throws {
        let dir = try TemporaryDirectory("reg-redirect")
        defer { dir.remove() }
        let ca = try CertificateAuthority(directory: dir.file("ca"))
        let cert = try ca.issue("registry")
        let registry = try await DockerRegistry(directory: dir.file("registry"), tls: cert, auth: .htpasswd(user: "u", password: "pw"))
        defer { registry.stop() }
        let image = try TestImage.busybox(in: dir.path)
        let credential = RegistryCredential(username: "u", password: "pw", source: "test")
        try await push(image, with: RegistryClient(endpoint: RegistryEndpoint(host: registry.host, tls: try TLSOptions.files(caFile: ca.caCertificate)),
                                                   credential: credential), repository: "t/busybox", tag: "1")
        let proxy = try startTestServer(["proxy", "--upstream", "https://\(registry.host)", "--ca", ca.caCertificate,
                                         "--upstream-auth", credential.basicAuthorization, "--fault", "redirect",
                                         "--match", "/blobs/sha256", "--count", "100"], dir: dir, name: "proxy")
        defer { proxy.stop() }
        let client = RegistryClient(endpoint: RegistryEndpoint(host: "127.0.0.1:\(proxy.port)", insecure: true), credential: credential)
        _ = try await pullAndVerify(image, with: client, repository: "t/busybox", reference: "1", into: dir.path)
        let log = try proxyLog(proxy.port)
        let redirected = log.filter { (($0["host"] as? String) ?? "").hasPrefix("localhost:") }
        #expect(redirected.count == 2)
        #expect(redirected.allSatisfy { ($0["auth"] as? Bool) == false })
        #expect(log.contains { (($0["host"] as? String) ?? "").hasPrefix("127.0.0.1:") && ($0["auth"] as? Bool) == true })

        // Basic credentials over plain HTTP to a registry not marked insecure are refused.
        let plain = RegistryClient(endpoint: RegistryEndpoint(host: "127.0.0.1:\(proxy.port)", scheme: "http"), credential: credential)
        await #expect { _ = try await plain.manifest(repository: "t/busybox", reference: "1") } throws: { error in
            guard let e = error as? RegistryError, case .refusedToSendCredentials = e else { return false }
            return !e.description.contains("pw")
        }
    }
}
