import Credentials
import Foundation
import HTTP
import Registry
import Testing
import TestSupport

final class Warnings: @unchecked Sendable {
    private let lock = NSLock()
    private var items = [String]()
    func add(_ s: String) { lock.lock(); items.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return items }
}

func authJSON(_ host: String, _ user: String, _ password: String) -> String {
    #"{"auths":{"\#(host)":{"auth":"\#(Data("\(user):\(password)".utf8).base64EncodedString())"}}}"#
}

@Suite struct CredentialChainTests {
    let host = "registry.example.test:5000"

    @Test func explicitThenEnvironmentThenAuthFilesInOrder() async throws {
        let dir = try TemporaryDirectory("creds")
        defer { dir.remove() }
        let home = dir.file("home")
        try dir.write("regauth.json", authJSON(host, "from-registry-auth-file", "p1"))
        try dir.write("run/containers/auth.json", authJSON(host, "from-runtime-dir", "p2"))
        try dir.write("home/.config/containers/auth.json", authJSON(host, "from-config", "p3"))
        try dir.write("home/.docker/config.json", authJSON("https://\(host)", "from-docker", "p4"))
        var env = ["HOME": home, "REGISTRY_AUTH_FILE": dir.file("regauth.json"), "XDG_RUNTIME_DIR": dir.file("run"),
                   "IDPBUILD_USERNAME": "env-user", "IDPBUILD_PASSWORD": "env-pw"]
        let explicit = RegistryCredential(username: "flag-user", password: "flag-pw", source: "--username/--password")
        #expect(try await CredentialResolver(explicit: explicit, environment: env).credential(for: host)?.username == "flag-user")
        let fromEnv = try await CredentialResolver(environment: env).credential(for: host)
        #expect(fromEnv?.username == "env-user")
        #expect(fromEnv?.source == "IDPBUILD_USERNAME/IDPBUILD_PASSWORD")
        env["IDPBUILD_USERNAME"] = nil
        env["IDPBUILD_PASSWORD"] = nil
        let expectations: [(String, String?)] = [("from-registry-auth-file", "REGISTRY_AUTH_FILE"), ("from-runtime-dir", "XDG_RUNTIME_DIR"),
                                                 ("from-config", nil), ("from-docker", "stop")]
        for (user, remove) in expectations {
            let found = try await CredentialResolver(environment: env, useKubernetes: false).credential(for: host)
            #expect(found?.username == user)
            #expect(found.map { !$0.description.contains("p1") && !$0.description.contains("p2") } ?? false)
            if let remove, remove != "stop" { env[remove] = nil }
            if remove == nil { try FileManager.default.removeItem(atPath: dir.file("home/.config/containers/auth.json")) }
        }
        #expect(try await CredentialResolver(environment: env, useKubernetes: false).credential(for: host)?.source.contains("docker config") == true)
        #expect(try await CredentialResolver(environment: env, useKubernetes: false).credential(for: "other.host") == nil)
    }

    @Test func dockerCredentialHelpersAndCredsStore() async throws {
        let dir = try TemporaryDirectory("helpers")
        defer { dir.remove() }
        // A real helper speaking docker's protocol: host on stdin, JSON on stdout.
        let helper = try dir.write("bin/docker-credential-testhelper", """
        #!/bin/sh
        read host
        case "$host" in
          helped.test) echo '{"ServerURL":"helped.test","Username":"helper-user","Secret":"helper-secret"}' ;;
          stored.test) echo '{"ServerURL":"stored.test","Username":"store-user","Secret":"store-secret"}' ;;
          broken.test) echo 'boom' >&2; exit 3 ;;
          *) echo 'credentials not found in native keychain'; exit 1 ;;
        esac
        """)
        chmod(helper, 0o755)
        try dir.write("home/.docker/config.json", #"{"credHelpers":{"helped.test":"testhelper","broken.test":"testhelper"},"credsStore":"testhelper"}"#)
        let env = ["HOME": dir.file("home"), "PATH": dir.file("bin") + ":/usr/bin:/bin"]
        let resolver = CredentialResolver(environment: env, useKubernetes: false)
        let helped = try await resolver.credential(for: "helped.test")
        #expect(helped?.username == "helper-user" && helped?.password == "helper-secret")
        #expect(helped?.source == "docker-credential-testhelper")
        #expect(try await resolver.credential(for: "stored.test")?.username == "store-user")
        #expect(try await resolver.credential(for: "unknown.test") == nil)
        await #expect { _ = try await resolver.credential(for: "broken.test") } throws: { "\($0)".contains("boom") && "\($0)".contains("broken.test") }
        let noHelper = CredentialResolver(environment: ["HOME": dir.file("home"), "PATH": "/nonexistent"], useKubernetes: false)
        await #expect { _ = try await noHelper.credential(for: "helped.test") } throws: { "\($0)".contains("not on PATH") }
    }

    @Test func malformedFilesAreNamed() async throws {
        let dir = try TemporaryDirectory("malformed")
        defer { dir.remove() }
        let path = try dir.write("auth.json", "{ not json")
        await #expect {
            _ = try await CredentialResolver(environment: ["HOME": dir.path, "REGISTRY_AUTH_FILE": path], useKubernetes: false).credential(for: "h")
        } throws: { "\($0)".contains(path) }
        let bad = try dir.write("auth2.json", #"{"auths":{"h":{"auth":"!!!"}}}"#)
        await #expect {
            _ = try await CredentialResolver(environment: ["HOME": dir.path, "REGISTRY_AUTH_FILE": bad], useKubernetes: false).credential(for: "h")
        } throws: { "\($0)".contains("base64") }
    }

    @Test func fallbackUserOnlyForTheGiteaHost() async throws {
        let dir = try TemporaryDirectory("fallback")
        defer { dir.remove() }
        let warnings = Warnings()
        let resolver = CredentialResolver(environment: ["HOME": dir.path, "IDPBUILD_PASSWORD": "only-pw"], giteaHost: "gitea.test:8443",
                                          useKubernetes: false, warn: warnings.add)
        let found = try await resolver.credential(for: "gitea.test:8443")
        #expect(found?.username == "giteaAdmin")
        #expect(found?.password == "only-pw")
        #expect(warnings.all.contains { $0.contains("fallback user giteaAdmin") })
        #expect(!warnings.all.joined().contains("only-pw"))
        #expect(try await resolver.credential(for: "docker.io") == nil)
        let none = CredentialResolver(environment: ["HOME": dir.path], giteaHost: "gitea.test:8443", useKubernetes: false, warn: warnings.add)
        #expect(try await none.credential(for: "gitea.test:8443") == nil)
        #expect(warnings.all.last?.contains("anonymously") == true)
    }
}

/// No Kubernetes API server can run here: these tests use Fixtures/servers/testserver.py in "kube" mode, a small local
/// HTTPS server that answers GET /api/v1/namespaces/NS/secrets/NAME (and errors as Status objects) the way the API server does.
@Suite(.serialized) struct KubernetesCredentialTests {
    struct Cluster {
        let dir: TemporaryDirectory
        let ca: CertificateAuthority
        let server: ServerProcess
        let clientCert: (cert: String, key: String)
        var url: String { "https://127.0.0.1:\(server.port)" }
        func stop() { server.stop(); dir.remove() }
    }

    func startCluster(secrets: [String: [String: String]] = ["gitea/gitea-credential": ["username": "giteaAdmin", "password": "cluster-pw"]]) throws -> Cluster {
        let dir = try TemporaryDirectory("kube")
        let ca = try CertificateAuthority(directory: dir.file("ca"), name: "kube test CA")
        let cert = try ca.issue("apiserver")
        let client = try ca.issue("kube-user", client: true)
        let config = try JSONSerialization.data(withJSONObject: ["token": "sa-token-123", "secrets": secrets])
        try config.write(to: URL(fileURLWithPath: dir.file("kube.json")))
        let server = try ServerProcess(["python3", TestSupport.fixtures.path + "/servers/testserver.py", "kube", "--cert", cert.cert, "--key", cert.key,
                                        "--client-ca", ca.caCertificate, "--config", dir.file("kube.json")],
                                       logPath: dir.file("kube.log"), announcesPort: true)
        return Cluster(dir: dir, ca: ca, server: server, clientCert: client)
    }

    func b64(_ path: String) throws -> String { try Data(contentsOf: URL(fileURLWithPath: path)).base64EncodedString() }

    func kubeconfig(_ cluster: Cluster, user: String) throws -> String {
        try cluster.dir.write("kubeconfig", """
        apiVersion: v1
        kind: Config
        current-context: kind-localdev
        contexts:
        - name: other
          context: {cluster: nowhere, user: nobody}
        - name: kind-localdev
          context:
            cluster: kind-localdev
            user: kind-localdev
        clusters:
        - name: kind-localdev
          cluster:
            server: \(cluster.url)
            certificate-authority-data: \(try b64(cluster.ca.caCertificate))
        users:
        - name: kind-localdev
          user:
        \(user)
        """)
    }

    @Test func kubeconfigWithBearerToken() async throws {
        let cluster = try startCluster()
        defer { cluster.stop() }
        let path = try kubeconfig(cluster, user: "    token: sa-token-123")
        let warnings = Warnings()
        let resolver = CredentialResolver(environment: ["HOME": cluster.dir.path, "KUBECONFIG": "/nonexistent:" + path],
                                          giteaHost: "gitea.test:8443", warn: warnings.add)
        let found = try await resolver.credential(for: "gitea.test:8443")
        #expect(found?.username == "giteaAdmin")
        #expect(found?.password == "cluster-pw")
        #expect(found?.source.contains("gitea/gitea-credential") == true)
        #expect(found?.source.contains("kind-localdev") == true)
        #expect(warnings.all.isEmpty)
    }

    @Test func kubeconfigWithClientCertificate() async throws {
        let cluster = try startCluster()
        defer { cluster.stop() }
        let path = try kubeconfig(cluster, user: "    client-certificate-data: \(try b64(cluster.clientCert.cert))\n    client-key-data: \(try b64(cluster.clientCert.key))")
        let resolver = CredentialResolver(environment: ["HOME": cluster.dir.path, "KUBECONFIG": path], giteaHost: "gitea.test:8443")
        #expect(try await resolver.credential(for: "gitea.test:8443")?.password == "cluster-pw")
    }

    @Test func wrongTokenAndMissingSecretAreWarningsWithoutSecrets() async throws {
        let cluster = try startCluster(secrets: [:])
        defer { cluster.stop() }
        let warnings = Warnings()
        let wrong = try kubeconfig(cluster, user: "    token: wrong-token-xyz")
        let resolver = CredentialResolver(environment: ["HOME": cluster.dir.path, "KUBECONFIG": wrong], giteaHost: "gitea.test:8443", warn: warnings.add)
        #expect(try await resolver.credential(for: "gitea.test:8443") == nil)
        #expect(warnings.all.contains { $0.contains("401 Unauthorized") && $0.contains("gitea/gitea-credential") })
        #expect(!warnings.all.joined().contains("wrong-token-xyz"))
        let right = try kubeconfig(cluster, user: "    token: sa-token-123")
        let missing = CredentialResolver(environment: ["HOME": cluster.dir.path, "KUBECONFIG": right], giteaHost: "gitea.test:8443", warn: warnings.add)
        #expect(try await missing.credential(for: "gitea.test:8443") == nil)
        #expect(warnings.all.contains { $0.contains("404 NotFound") })
        let plugin = try kubeconfig(cluster, user: "    exec: {command: aws}")
        #expect(throws: CredentialsError.self) { _ = try KubernetesAccess.fromKubeconfig(environment: ["KUBECONFIG": plugin], home: "/") }
    }

    @Test func inClusterServiceAccount() async throws {
        let cluster = try startCluster()
        defer { cluster.stop() }
        try cluster.dir.write("sa/token", "sa-token-123\n")
        try FileManager.default.copyItem(atPath: cluster.ca.caCertificate, toPath: cluster.dir.file("sa/ca.crt"))
        let env = ["HOME": cluster.dir.path, "KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "\(cluster.server.port)"]
        let resolver = CredentialResolver(environment: env, giteaHost: "gitea.test:8443", serviceAccountDirectory: cluster.dir.file("sa"))
        let found = try await resolver.credential(for: "gitea.test:8443")
        #expect(found?.password == "cluster-pw")
        #expect(found?.source.contains("in-cluster") == true)
    }

    @Test func trustComesFromCertsDAndTheIdpbuilderSecret() async throws {
        let cluster = try startCluster(secrets: ["default/idpbuilder-cert": ["ca.crt": "-----BEGIN CERTIFICATE-----\nIDPBUILDER\n-----END CERTIFICATE-----\n"]])
        defer { cluster.stop() }
        let path = try kubeconfig(cluster, user: "    token: sa-token-123")
        try cluster.dir.write("certs.d/gitea.test:8443/ca.crt", "CERTS-D-CA\n")
        try cluster.dir.write("certs.d/gitea.test:8443/client.cert", "CLIENT-CERT")
        try cluster.dir.write("certs.d/gitea.test:8443/client.key", "CLIENT-KEY")
        let credentials = CredentialResolver(environment: ["HOME": cluster.dir.path, "KUBECONFIG": path], giteaHost: "gitea.test:8443")
        let trust = TrustResolver(credentials: credentials, certsDirectories: [cluster.dir.file("certs.d")])
        let tls = await trust.tls(for: "gitea.test:8443", insecure: false)
        let cas = String(decoding: tls.extraCAPEM ?? [], as: UTF8.self)
        #expect(cas.contains("CERTS-D-CA") && cas.contains("IDPBUILDER"))
        #expect(tls.clientCertificatePEM == Array("CLIENT-CERT".utf8))
        #expect(tls.clientKeyPEM == Array("CLIENT-KEY".utf8))
        #expect(!tls.insecureSkipVerify)
        let other = await trust.tls(for: "other.test", insecure: true)
        #expect(other.extraCAPEM == nil && other.insecureSkipVerify)
    }
}
