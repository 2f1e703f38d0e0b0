import Foundation
import HTTP
import OCI
import Registry
import Testing
import TestSupport

/// These tests start Debian's real `docker-registry` on 127.0.0.1 in the three set-ups the issue names.
@Suite(.serialized) struct RegistryRoundTripTests {
    @Test func plainHTTPRoundTripConfirmedBySkopeo() async throws {
        let dir = try TemporaryDirectory("reg-plain")
        defer { dir.remove() }
        let registry = try await DockerRegistry(directory: dir.file("registry"))
        defer { registry.stop() }
        let image = try TestImage.busybox(in: dir.path)
        // Chunked PATCH upload for the layer (2 MB in 256 KiB chunks).
        let client = RegistryClient(endpoint: RegistryEndpoint(host: registry.host, insecure: true), chunkSize: 256 * 1024)
        let base = try await client.ping()
        #expect(base == "http://\(registry.host)")

        #expect(try await push(image, with: client, repository: "test/busybox", tag: "1.0") == [.uploaded, .uploaded])
        let inspected = try skopeoInspect("\(registry.host)/test/busybox:1.0", ["--tls-verify=false"])
        #expect(inspected["Digest"] as? String == image.manifestDigest.description)
        #expect(inspected["Layers"] as? [String] == [image.layer.digest.description])
        let config = try TestSupport.check(["skopeo", "inspect", "--config", "--tls-verify=false", "docker://\(registry.host)/test/busybox:1.0"])
        #expect(config.contains(image.diffID.description))

        let byTag = try await pullAndVerify(image, with: client, repository: "test/busybox", reference: "1.0", into: dir.path)
        #expect(byTag.digest == image.manifestDigest)
        #expect(byTag.bytes == image.manifest)
        let head = try await client.manifestDescriptor(repository: "test/busybox", reference: "1.0")
        #expect(head == Descriptor(mediaType: MediaType.ociManifest, digest: image.manifestDigest, size: Int64(image.manifest.count)))
        #expect(try await client.manifestDescriptor(repository: "test/busybox", reference: "nope") == nil)
        let byDigest = try await client.manifest(repository: "test/busybox", reference: image.manifestDigest.description)
        #expect(byDigest.mediaType == MediaType.ociManifest)

        // Docker schema 2 manifest and manifest list over the same blobs: both kinds come back decoded.
        let dockerManifest = try CanonicalJSON.encode(ImageManifest(
            mediaType: MediaType.dockerManifest,
            config: Descriptor(mediaType: MediaType.dockerConfig, digest: image.config.digest, size: image.config.size),
            layers: [Descriptor(mediaType: MediaType.dockerLayerGzip, digest: image.layer.digest, size: image.layer.size)]))
        try await client.putManifest(repository: "test/busybox", reference: "docker", bytes: dockerManifest, mediaType: MediaType.dockerManifest)
        let list = try CanonicalJSON.encode(ImageIndex(mediaType: MediaType.dockerManifestList, manifests: [
            Descriptor(mediaType: MediaType.dockerManifest, digest: Digest.sha256(of: dockerManifest), size: Int64(dockerManifest.count),
                       platform: .current)]))
        try await client.putManifest(repository: "test/busybox", reference: "list", bytes: list, mediaType: MediaType.dockerManifestList)
        let docker = try await client.manifest(repository: "test/busybox", reference: "docker")
        #expect(docker.mediaType == MediaType.dockerManifest)
        guard case .index(let fetchedList) = try await client.manifest(repository: "test/busybox", reference: "list").document else {
            Issue.record("expected a manifest list"); return
        }
        #expect(try fetchedList.manifest(for: .current).digest == docker.digest)
        let dockerInspect = try skopeoInspect("\(registry.host)/test/busybox:docker", ["--tls-verify=false"])
        #expect(dockerInspect["Digest"] as? String == docker.digest.description)

        // A second push skips what exists; another repository mounts instead of uploading.
        #expect(try await push(image, with: client, repository: "test/busybox", tag: "1.1") == [.existed, .existed])
        let mounted = try await client.uploadBlob(repository: "other/busybox", descriptor: image.layer, from: image.layerPath,
                                                  mountFrom: "test/busybox")
        #expect(mounted == .mounted)
        #expect(try await client.blobExists(repository: "other/busybox", digest: image.layer.digest))
    }

    @Test func unknownTagsAndBlobsAreClearErrors() async throws {
        let dir = try TemporaryDirectory("reg-unknown")
        defer { dir.remove() }
        let registry = try await DockerRegistry(directory: dir.file("registry"))
        defer { registry.stop() }
        let client = RegistryClient(endpoint: RegistryEndpoint(host: registry.host, insecure: true))
        await #expect { _ = try await client.manifest(repository: "nope/nothing", reference: "v9") } throws: { error in
            guard let e = error as? RegistryError, case .manifestUnknown = e else { return false }
            return e.description.contains("\(registry.host)/nope/nothing:v9") && e.description.contains("not found")
        }
        let missing = Descriptor(mediaType: MediaType.ociLayerGzip, digest: Digest.sha256(of: [9]), size: 1)
        await #expect { try await client.downloadBlob(repository: "nope/nothing", descriptor: missing, to: dir.file("x")) } throws: {
            "\($0)".contains("not found")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.file("x")))
        #expect(try await !client.blobExists(repository: "nope/nothing", digest: missing.digest))
        // A registry that is not running: the error names it, after retries.
        let port = TestSupport.freePort()
        let gone = RegistryClient(endpoint: RegistryEndpoint(host: "127.0.0.1:\(port)", scheme: "http"),
                                  retry: RetryPolicy(attempts: 2, initialDelay: 0.01))
        await #expect { try await gone.ping() } throws: { "\($0)".contains("127.0.0.1:\(port)") && "\($0)".contains("2 attempts") }
    }

    @Test func tlsWithHtpasswdBasicAuth() async throws {
        let dir = try TemporaryDirectory("reg-tls")
        defer { dir.remove() }
        let ca = try CertificateAuthority(directory: dir.file("ca"))
        let cert = try ca.issue("registry")
        let registry = try await DockerRegistry(directory: dir.file("registry"), tls: cert, auth: .htpasswd(user: "giteaAdmin", password: "s3cret-pw"))
        defer { registry.stop() }
        let image = try TestImage.busybox(in: dir.path)
        let tls = try TLSOptions.files(caFile: ca.caCertificate)
        let good = RegistryCredential(username: "giteaAdmin", password: "s3cret-pw", source: "test flags")
        let client = RegistryClient(endpoint: RegistryEndpoint(host: registry.host, tls: tls), credential: good)
        try await push(image, with: client, repository: "giteaadmin/busybox", tag: "v1")
        try FileManager.default.createDirectory(atPath: dir.file("certs"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: ca.caCertificate, toPath: dir.file("certs/ca.crt"))
        let inspected = try skopeoInspect("\(registry.host)/giteaadmin/busybox:v1",
                                          ["--cert-dir", dir.file("certs"), "--creds", "giteaAdmin:s3cret-pw"])
        #expect(inspected["Digest"] as? String == image.manifestDigest.description)
        _ = try await pullAndVerify(image, with: client, repository: "giteaadmin/busybox", reference: "v1", into: dir.path)

        let bad = RegistryClient(endpoint: RegistryEndpoint(host: registry.host, tls: tls),
                                 credential: RegistryCredential(username: "giteaAdmin", password: "wrong-pw", source: "IDPBUILD_PASSWORD"))
        await #expect { _ = try await bad.manifest(repository: "giteaadmin/busybox", reference: "v1") } throws: { error in
            let text = "\(error)"
            return text.contains("401") && text.contains(registry.host) && text.contains("IDPBUILD_PASSWORD") && !text.contains("wrong-pw")
        }
        let anonymous = RegistryClient(endpoint: RegistryEndpoint(host: registry.host, tls: tls))
        await #expect { _ = try await anonymous.manifest(repository: "giteaadmin/busybox", reference: "v1") } throws: {
            "\($0)".contains("no credentials")
        }
        let untrusting = RegistryClient(endpoint: RegistryEndpoint(host: registry.host), credential: good)
        await #expect { try await untrusting.ping() } throws: { error in
            guard let e = error as? RegistryError, case .transport(_, let attempts, let underlying) = e, case .tls = underlying else { return false }
            return attempts == 1  // TLS verification failures are not retried
        }
    }

    @Test(arguments: ["token", "access_token"])
    func tokenAuthLikeGitea(field: String) async throws {
        let dir = try TemporaryDirectory("reg-token")
        defer { dir.remove() }
        let signer = try CertificateAuthority.selfSigned(directory: dir.path, name: "token-signer")
        let tokens = try startTestServer(["token", "--key", signer.key, "--cert", signer.cert, "--issuer", "gitea-test",
                                          "--user", "giteaAdmin", "--password", "tok-pw", "--field", field], dir: dir, name: "token")
        defer { tokens.stop() }
        let registry = try await DockerRegistry(directory: dir.file("registry"),
                                                auth: .token(realm: "http://127.0.0.1:\(tokens.port)/v2/token", issuer: "gitea-test",
                                                             service: "container_registry", rootCertificate: signer.cert))
        defer { registry.stop() }
        let image = try TestImage.busybox(in: dir.path)
        let endpoint = RegistryEndpoint(host: registry.host, insecure: true)
        let client = RegistryClient(endpoint: endpoint, credential: RegistryCredential(username: "giteaAdmin", password: "tok-pw", source: "auth.json"))
        try await push(image, with: client, repository: "giteaadmin/busybox", tag: "latest")
        _ = try await pullAndVerify(image, with: client, repository: "giteaadmin/busybox", reference: "latest", into: dir.path)
        // Tokens are cached per scope: one for pull, one for pull+push.
        let stats = try TestSupport.check(["python3", "-c", "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:\(tokens.port)/stats').read().decode())"])
        let count = (try JSONSerialization.jsonObject(with: Data(stats.utf8)) as? [String: Any])?["token_requests"] as? Int ?? -1
        #expect(count == 2)
        // Parallel transfers on a fresh client share one token request.
        let fresh = RegistryClient(endpoint: endpoint, credential: RegistryCredential(username: "giteaAdmin", password: "tok-pw", source: "auth.json"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<4 {
                group.addTask { try await fresh.downloadBlob(repository: "giteaadmin/busybox", descriptor: image.layer, to: dir.file("parallel-\(i)")) }
            }
            try await group.waitForAll()
        }
        let after = try TestSupport.check(["python3", "-c", "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:\(tokens.port)/stats').read().decode())"])
        #expect((try JSONSerialization.jsonObject(with: Data(after.utf8)) as? [String: Any])?["token_requests"] as? Int == 3)
        let inspected = try skopeoInspect("\(registry.host)/giteaadmin/busybox:latest", ["--tls-verify=false", "--creds", "giteaAdmin:tok-pw"])
        #expect(inspected["Digest"] as? String == image.manifestDigest.description)

        // Anonymous: a pull-only token, so pulling works and pushing is refused.
        let anonymous = RegistryClient(endpoint: endpoint)
        _ = try await anonymous.manifest(repository: "giteaadmin/busybox", reference: "latest")
        await #expect(throws: RegistryError.self) {
            try await anonymous.putManifest(repository: "giteaadmin/busybox", reference: "x", bytes: image.manifest, mediaType: MediaType.ociManifest)
        }
        let wrong = RegistryClient(endpoint: endpoint, credential: RegistryCredential(username: "giteaAdmin", password: "nope-pw", source: "kubernetes secret gitea/gitea-credential"))
        await #expect { _ = try await wrong.manifest(repository: "giteaadmin/busybox", reference: "latest") } throws: { error in
            let t = "\(error)"
            return t.contains("401") && t.contains("token server") && t.contains("gitea/gitea-credential") && !t.contains("nope-pw")
        }
    }

    @Test func credentialsNeverGoToATokenRealmOnAnotherHostOrOverPlainHTTP() async throws {
        let dir = try TemporaryDirectory("reg-realm")
        defer { dir.remove() }
        let signer = try CertificateAuthority.selfSigned(directory: dir.path, name: "token-signer")
        let tokens = try startTestServer(["token", "--key", signer.key, "--cert", signer.cert, "--user", "u", "--password", "p"], dir: dir, name: "token")
        defer { tokens.stop() }
        // The realm says "localhost" while the registry is "127.0.0.1": a different host.
        let registry = try await DockerRegistry(directory: dir.file("registry"),
                                                auth: .token(realm: "http://localhost:\(tokens.port)/v2/token", issuer: "gitea-test",
                                                             service: "container_registry", rootCertificate: signer.cert))
        defer { registry.stop() }
        let client = RegistryClient(endpoint: RegistryEndpoint(host: registry.host, insecure: true),
                                    credential: RegistryCredential(username: "u", password: "p", source: "test"))
        await #expect { _ = try await client.manifest(repository: "a/b", reference: "latest") } throws: { error in
            guard let e = error as? RegistryError, case .refusedToSendCredentials(let to, _) = e else { return false }
            return to == "localhost:\(tokens.port)"
        }
        // The same registry over plain HTTP without being marked insecure: the token realm is plain HTTP, so no credentials.
        let strict = RegistryClient(endpoint: RegistryEndpoint(host: registry.host, scheme: "http"),
                                    credential: RegistryCredential(username: "u", password: "p", source: "test"))
        await #expect { _ = try await strict.manifest(repository: "a/b", reference: "latest") } throws: { error in
            guard let e = error as? RegistryError, case .refusedToSendCredentials = e else { return false }
            return true
        }
    }
}
