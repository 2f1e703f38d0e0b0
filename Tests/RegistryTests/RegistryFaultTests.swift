import Foundation
import HTTP
import OCI
import Registry
import Testing
import TestSupport

/// Faults injected by a forwarding proxy (Fixtures/servers/testserver.py proxy) in front of a real docker-registry.
@Suite(.serialized) struct RegistryFaultTests {
    /// Starts a plain registry holding the busybox image, and a proxy with one fault; runs the body with a client via the proxy.
    func withFault(_ fault: String, match: String, count: Int = 1, attempts: Int = 4, options: [String] = [], chunkSize: Int64? = nil,
                   _ body: (RegistryClient, TestImage, TemporaryDirectory, Int) async throws -> Void) async throws {
        let dir = try TemporaryDirectory("reg-fault")
        defer { dir.remove() }
        let registry = try await DockerRegistry(directory: dir.file("registry"))
        defer { registry.stop() }
        let image = try TestImage.busybox(in: dir.path)
        try await push(image, with: RegistryClient(endpoint: RegistryEndpoint(host: registry.host, insecure: true)),
                       repository: "test/busybox", tag: "1")
        let proxy = try startTestServer(["proxy", "--upstream", "http://\(registry.host)", "--fault", fault, "--match", match,
                                         "--count", "\(count)"] + options, dir: dir, name: "proxy")
        defer { proxy.stop() }
        let client = RegistryClient(endpoint: RegistryEndpoint(host: "127.0.0.1:\(proxy.port)", insecure: true),
                                    retry: RetryPolicy(attempts: attempts, initialDelay: 0.05), chunkSize: chunkSize)
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

    // MARK: uploads that break halfway

    @Test func aResetMidPutStartsANewUploadSession() async throws {
        try await withFault("reset-request", match: "/blobs/uploads/", options: ["--method", "PUT", "--after", "65536"]) { client, _, dir, port in
            let other = try TestImage.busybox(in: dir.file("second"), padding: 4096)
            #expect(try await client.uploadBlob(repository: "test/busybox", descriptor: other.layer, from: other.layerPath) == .uploaded)
            try await expectStored(other.layer, with: client, dir: dir)
            let log = try proxyLog(port)
            #expect(log.contains { $0["fault"] as? String == "reset-request" })
            #expect(log.filter { ($0["method"] as? String) == "POST" && path($0).contains("/blobs/uploads/") }.count == 2)
        }
    }

    @Test func aResetMidChunkResumesFromTheRegistrysOffset() async throws {
        try await withFault("reset-request", match: "/blobs/uploads/", options: ["--method", "PATCH", "--skip", "1", "--after", "65536"],
                            chunkSize: 256 * 1024) { client, _, dir, port in
            let other = try TestImage.busybox(in: dir.file("second"), padding: 4096)
            let chunks = Int((other.layer.size + 256 * 1024 - 1) / (256 * 1024))
            #expect(try await client.uploadBlob(repository: "test/busybox", descriptor: other.layer, from: other.layerPath) == .uploaded)
            try await expectStored(other.layer, with: client, dir: dir)
            let log = try proxyLog(port)
            let uploads = log.filter { path($0).contains("/blobs/uploads/") }
            // One session: the status GET said where the registry stood, and the upload went on from there.
            #expect(uploads.filter { ($0["method"] as? String) == "POST" }.count == 1)
            #expect(uploads.filter { ($0["method"] as? String) == "GET" }.count == 1)
            #expect(uploads.filter { ($0["method"] as? String) == "PATCH" }.count == chunks + 1)
        }
    }

    @Test(arguments: [("502", "PATCH"), ("504", "PUT"), ("503", "POST")])
    func gatewayErrorsDuringAnUploadAreRetried(status: String, method: String) async throws {
        try await withFault(status, match: "/blobs/uploads/", options: ["--method", method, "--skip", method == "PATCH" ? "1" : "0"],
                            chunkSize: method == "PATCH" ? 256 * 1024 : nil) { client, _, dir, port in
            let other = try TestImage.busybox(in: dir.file("second"), padding: 4096)
            #expect(try await client.uploadBlob(repository: "test/busybox", descriptor: other.layer, from: other.layerPath) == .uploaded)
            try await expectStored(other.layer, with: client, dir: dir)
            #expect(try proxyLog(port).contains { ($0["status"] as? Int) == Int(status) })
        }
    }

    @Test func aPermanentUploadFaultGivesUpNamingTheRegistry() async throws {
        try await withFault("reset-request", match: "/blobs/uploads/", count: 100, attempts: 3,
                            options: ["--method", "PATCH", "--after", "1000"], chunkSize: 256 * 1024) { client, _, dir, port in
            let other = try TestImage.busybox(in: dir.file("second"), padding: 4096)
            await #expect { try await client.uploadBlob(repository: "test/busybox", descriptor: other.layer, from: other.layerPath) } throws: { error in
                let t = "\(error)"
                return t.contains("127.0.0.1:\(port)") && t.contains("after 3 attempts")
            }
            #expect(try proxyLog(port).filter { $0["fault"] as? String == "reset-request" }.count == 3)
            #expect(try await !client.blobExists(repository: "test/busybox", digest: other.layer.digest))
        }
    }

    // MARK: downloads that break halfway, rate limits, token servers

    @Test func aResetMidBlobDownloadResumesWithRange() async throws {
        try await withFault("reset-response", match: "/blobs/sha256", options: ["--after", "300000"]) { client, image, dir, port in
            _ = try await pullAndVerify(image, with: client, repository: "test/busybox", reference: "1", into: dir.path)
            let gets = try proxyLog(port).filter { ($0["method"] as? String) == "GET" && path($0).contains(image.layer.digest.encoded) }
            #expect(gets.count == 2)
            #expect(gets.first?["fault"] as? String == "reset-response")
            let resumed = gets.last ?? [:]
            #expect(resumed["status"] as? Int == 206)
            let start = (resumed["range"] as? String).flatMap { Int64($0.dropFirst("bytes=".count).dropLast()) } ?? -1
            #expect(start > 0 && start <= 300000)
        }
    }

    @Test func aServerWithoutRangesRestartsTheDownload() async throws {
        try await withFault("reset-response", match: "/blobs/sha256", options: ["--after", "300000", "--ignore-range"]) { client, image, dir, port in
            _ = try await pullAndVerify(image, with: client, repository: "test/busybox", reference: "1", into: dir.path)
            let gets = try proxyLog(port).filter { ($0["method"] as? String) == "GET" && path($0).contains(image.layer.digest.encoded) }
            #expect(gets.map { $0["status"] as? Int } == [200, 200])
        }
        // Without ranges every attempt starts again and breaks at the same place: that is no progress, so it ends.
        try await withFault("reset-response", match: "/blobs/sha256", count: 100, attempts: 3, options: ["--after", "300000", "--ignore-range"]) { client, image, dir, port in
            let target = dir.file("layer.download")
            await #expect { try await client.downloadBlob(repository: "test/busybox", descriptor: image.layer, to: target) } throws: { error in
                "\(error)".contains("127.0.0.1:\(port)") && "\(error)".contains("after 3 attempts")
            }
            #expect(!FileManager.default.fileExists(atPath: target))
        }
    }

    @Test func aCorruptedResumeIsRejectedAndNothingIsKept() async throws {
        try await withFault("reset-response,corrupt", match: "/blobs/sha256", count: 2, options: ["--after", "300000"]) { client, image, dir, port in
            let target = dir.file("layer.download")
            await #expect { try await client.downloadBlob(repository: "test/busybox", descriptor: image.layer, to: target) } throws: { error in
                guard let e = error as? RegistryError, case .digestMismatch = e else { return false }
                return e.description.contains("127.0.0.1:\(port)") && e.description.contains("nothing was stored")
            }
            #expect(!FileManager.default.fileExists(atPath: target))
            let last = try proxyLog(port).last
            #expect(last?["status"] as? Int == 206)
        }
    }

    @Test func aRateLimitIsWaitedOutAsRetryAfterSays() async throws {
        // The proxy answers 429 again to anyone who comes back before Retry-After (1 s); three quick attempts would all be refused.
        try await withFault("429", match: "/manifests/", attempts: 3, options: ["--retry-after", "1"]) { client, image, _, port in
            let fetched = try await client.manifest(repository: "test/busybox", reference: "1")
            #expect(fetched.digest == image.manifestDigest)
            let statuses = try proxyLog(port).filter { path($0).contains("/manifests/") }.map { $0["status"] as? Int }
            #expect(statuses == [429, 200])
        }
    }

    @Test func aTokenServerFailingOnceIsRetried() async throws {
        let dir = try TemporaryDirectory("reg-token-fault")
        defer { dir.remove() }
        let signer = try CertificateAuthority.selfSigned(directory: dir.path, name: "token-signer")
        let tokens = try startTestServer(["token", "--key", signer.key, "--cert", signer.cert, "--issuer", "gitea-test",
                                          "--user", "u", "--password", "tok-pw", "--fail-first", "1"], dir: dir, name: "token")
        defer { tokens.stop() }
        let registry = try await DockerRegistry(directory: dir.file("registry"),
                                                auth: .token(realm: "http://127.0.0.1:\(tokens.port)/v2/token", issuer: "gitea-test",
                                                             service: "container_registry", rootCertificate: signer.cert))
        defer { registry.stop() }
        let image = try TestImage.busybox(in: dir.path)
        let client = RegistryClient(endpoint: RegistryEndpoint(host: registry.host, insecure: true),
                                    credential: RegistryCredential(username: "u", password: "tok-pw", source: "test"),
                                    retry: RetryPolicy(initialDelay: 0.05))
        try await push(image, with: client, repository: "u/busybox", tag: "1")
        _ = try await pullAndVerify(image, with: client, repository: "u/busybox", reference: "1", into: dir.path)
        // A token server that keeps failing: the error names it and leaks no password.
        let failing = try startTestServer(["token", "--key", signer.key, "--cert", signer.cert, "--user", "u", "--password", "tok-pw",
                                           "--fail-first", "1000"], dir: dir, name: "token2")
        defer { failing.stop() }
        let registry2 = try await DockerRegistry(directory: dir.file("registry2"),
                                                 auth: .token(realm: "http://127.0.0.1:\(failing.port)/v2/token", issuer: "gitea-test",
                                                              service: "container_registry", rootCertificate: signer.cert))
        defer { registry2.stop() }
        let stuck = RegistryClient(endpoint: RegistryEndpoint(host: registry2.host, insecure: true),
                                   credential: RegistryCredential(username: "u", password: "tok-pw", source: "test"),
                                   retry: RetryPolicy(attempts: 2, initialDelay: 0.05))
        await #expect { _ = try await stuck.manifest(repository: "u/busybox", reference: "1") } throws: { error in
            let t = "\(error)"
            return t.contains("127.0.0.1:\(failing.port)") && t.contains("500") && !t.contains("tok-pw")
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

/// The path a proxy log entry names.
private func path(_ entry: [String: Any]) -> String { entry["path"] as? String ?? "" }

/// Checks that the registry has the blob and that it downloads with the right digest.
private func expectStored(_ blob: Descriptor, with client: RegistryClient, dir: TemporaryDirectory) async throws {
    #expect(try await client.blobExists(repository: "test/busybox", digest: blob.digest))
    try await client.downloadBlob(repository: "test/busybox", descriptor: blob, to: dir.file("check.blob"))
    #expect(try TestImage.digestOfFile(dir.file("check.blob")) == blob.digest)
}
