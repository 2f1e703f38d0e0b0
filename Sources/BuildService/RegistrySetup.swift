import Credentials
import Foundation
import HTTP
import ImageStore
import ImageTransfer
import RegistriesConf
import Registry

extension BuilderConfig {
    /// The registry access these settings describe (registries.conf, insecure hosts, CA file, chunked uploads, the
    /// credential chain with the explicit user first, labelled `credentialSource`) over `store`: what the build
    /// worker pushes with and what `idpbuild push`, `pull` and `run` use.
    public func makeTransfer(store: ImageStore, credentialSource: String,
                             environment: [String: String] = ProcessInfo.processInfo.environment,
                             warn: @escaping @Sendable (String) -> Void) throws -> ImageTransfer {
        var explicit: RegistryCredential?
        if let username, let password {
            explicit = RegistryCredential(username: username, password: password, source: credentialSource)
        }
        let resolver = CredentialResolver(explicit: explicit, environment: environment, giteaHost: registry,
                                          useKubernetes: useKubernetes, warn: warn)
        var registries: RegistriesConfiguration
        if let path = registriesConf {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw BuildServiceError.invalidRequest(field: "registriesConf", detail: "\(path) cannot be read")
            }
            registries = try RegistriesConfiguration.parse(text, path: path)
        } else {
            registries = try RegistriesConfiguration.load(environment: environment)
        }
        var insecure = Set(insecureRegistries)
        if insecureSkipTLSVerify { insecure.insert(registry) }
        let access: RegistryAccess
        if let caFile {
            let tls = try TLSOptions.files(caFile: caFile)
            access = RegistryAccess(registries: registries, insecureHosts: insecure, chunkSize: chunkSize,
                                    credentials: { try await resolver.credential(for: $0) },
                                    trust: { _, insecure in var options = tls; options.insecureSkipVerify = insecure; return options })
        } else {
            access = RegistryAccess(registries: registries, insecureHosts: insecure, resolver: resolver, chunkSize: chunkSize)
        }
        return ImageTransfer(store: store, access: access, gitea: (host: registry, owner: namespace))
    }
}
