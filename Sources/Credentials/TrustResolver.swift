import Foundation
import HTTP

/// Builds a registry host's TLS settings from `certs.d` folders and, for the Gitea host, idpbuilder's CA
/// (secret `default/idpbuilder-cert`, key `ca.crt`); verification is skipped only when the host is configured insecure.
public struct TrustResolver: Sendable {
    /// Folders holding `HOST[:PORT]/` subfolders with `*.crt` CAs and `*.cert`/`*.key` client pairs.
    public var certsDirectories: [String]
    /// The credential resolver, for cluster access.
    public var credentials: CredentialResolver

    /// Makes a resolver; by default `/etc/containers/certs.d`, `~/.config/containers/certs.d`, `/etc/docker/certs.d`.
    public init(credentials: CredentialResolver, certsDirectories: [String]? = nil) {
        self.credentials = credentials
        let config = credentials.environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? credentials.home + "/.config"
        self.certsDirectories = certsDirectories ?? ["/etc/containers/certs.d", config + "/containers/certs.d", "/etc/docker/certs.d"]
    }

    /// TLS options for `host` (`host[:port]`).
    public func tls(for host: String, insecure: Bool) async -> TLSOptions {
        var options = TLSOptions(insecureSkipVerify: insecure)
        var cas = [UInt8]()
        for base in certsDirectories {
            let dir = base + "/" + host
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { continue }
            for name in names.sorted() {
                let path = dir + "/" + name
                if name.hasSuffix(".crt"), let data = FileManager.default.contents(atPath: path) {
                    cas += Array(data) + [0x0a]
                } else if name.hasSuffix(".cert"), options.clientCertificatePEM == nil,
                          let cert = FileManager.default.contents(atPath: path),
                          let key = FileManager.default.contents(atPath: dir + "/" + name.dropLast(5) + ".key") {
                    options.clientCertificatePEM = Array(cert)
                    options.clientKeyPEM = Array(key)
                }
            }
        }
        if host.lowercased() == credentials.giteaHost.lowercased(), credentials.useKubernetes, let access = credentials.kubernetesAccess() {
            do {
                let data = try await KubernetesClient(access: access).secret(namespace: "default", name: "idpbuilder-cert")
                if let ca = data["ca.crt"] { cas += ca + [0x0a] } else { credentials.warn("secret default/idpbuilder-cert has no ca.crt key") }
            } catch {
                credentials.warn("\(error)")
            }
        }
        if !cas.isEmpty { options.extraCAPEM = cas }
        return options
    }
}
