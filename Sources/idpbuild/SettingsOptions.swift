import ArgumentParser
import BuildEvents
import BuildService
import Foundation
import ImageStore
import ImageTransfer
import OCI
import ResourceLimits

/// The Gitea registry and owner short image names stand for: the same flags (and the same defaults: the environment,
/// then idpbuilder's) in every command.
struct GiteaOptions: ParsableArguments {
    @Option(name: [.customLong("registry"), .customLong("gitea-host")],
            help: "The registry images go to; a short name NAME[:TAG] means HOST/NAMESPACE/NAME[:TAG] (default: IDPBUILD_REGISTRY or gitea.cnoe.localtest.me:8443).")
    var registry: String?

    @Option(name: [.customLong("namespace"), .customLong("gitea-owner")],
            help: "The namespace (Gitea owner) short names live under and pushes use (default: IDPBUILD_NAMESPACE or giteaadmin).")
    var namespace: String?

    func validate() throws {
        if let registry, !BuilderConfig.isHostAndPort(registry) {
            throw ValidationError("--registry must be a host[:port] such as gitea.cnoe.localtest.me:8443, not \(registry)")
        }
        if let namespace, !BuilderConfig.isNamespace(namespace) {
            throw ValidationError("--namespace must be a lowercase repository path such as giteaadmin, not \(namespace)")
        }
    }

    /// The defaults and the environment with these flags over them.
    var config: BuilderConfig { BuilderConfig(registry: registry, namespace: namespace) }

    /// The Gitea host: the flag, else `IDPBUILD_REGISTRY`, else idpbuilder's.
    var host: String { config.registry }

    /// The Gitea owner: the flag, else `IDPBUILD_NAMESPACE`, else idpbuilder's.
    var owner: String { config.namespace }

    /// The resolver every command takes image names through.
    var names: ImageNameResolver { ImageNameResolver(registry: host, namespace: owner) }
}

/// How registries are reached, shared by build, lsp, push, pull and run under the same flag names.
struct RegistrySettingsOptions: ParsableArguments {
    @OptionGroup var gitea: GiteaOptions

    @Option(name: .customLong("insecure-registry"), help: "Allow plain HTTP and unverified TLS for this host[:port] (repeatable).")
    var insecureRegistries: [String] = []

    @Option(name: .customLong("ca-file"), help: "A CA certificate file (PEM) the registry's certificate is checked against.")
    var caFile: String?

    @Option(name: .customLong("registries-conf"), help: "registries.conf to use (default: the containers search order).")
    var registriesConf: String?

    @Option(name: .customLong("chunk-size"), help: ArgumentHelp("Upload blobs in PATCH chunks of this many MiB (default: one PUT per blob).", valueName: "MIB"))
    var chunkSize: Int?

    @Flag(name: .customLong("no-kubernetes"), help: "Do not ask the Kubernetes API for the Gitea credential or CA.")
    var noKubernetes = false

    @Option(name: .customLong("username"), help: "Registry user name (with --password-stdin); else IDPBUILD_USERNAME, auth.json, docker config, the cluster secret.")
    var username: String?

    @Flag(name: .customLong("password-stdin"), help: "Read the registry password from standard input.")
    var passwordStdin = false

    func validate() throws {
        if username != nil && !passwordStdin { throw ValidationError("--username needs --password-stdin (passwords are never taken as arguments)") }
        if passwordStdin && username == nil { throw ValidationError("--password-stdin needs --username") }
        for host in insecureRegistries where !BuilderConfig.isHostAndPort(host) {
            throw ValidationError("--insecure-registry must be a list of host[:port] strings such as 127.0.0.1:5000, not \(host)")
        }
        if let chunkSize, chunkSize < 1 { throw ValidationError("--chunk-size must be at least 1 MiB") }
    }

    /// These flags over `base` (the defaults and the environment): the command line's layer. Paths become absolute;
    /// the password is read from standard input when --password-stdin asks for it.
    func config(over base: BuilderConfig = BuilderConfig(), storeRoot: String? = nil) -> BuilderConfig {
        var config = base
        if let registry = gitea.registry { config.registry = registry }
        if let namespace = gitea.namespace { config.namespace = namespace }
        if !insecureRegistries.isEmpty { config.insecureRegistries = insecureRegistries }
        if let caFile { config.caFile = Self.absolute(caFile) }
        if let registriesConf { config.registriesConf = Self.absolute(registriesConf) }
        if let storeRoot { config.storeRoot = Self.absolute(storeRoot) }
        if let chunkSize { config.chunkSize = Int64(chunkSize) << 20 }
        if noKubernetes { config.useKubernetes = false }
        if passwordStdin, let username {
            config.username = username
            config.password = readLine(strippingNewline: true) ?? ""
        }
        return config
    }

    static func absolute(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }
}

/// How a build runs, shared by build and lsp under the same flag names (the LSP's settings of the same names
/// override lsp's for a session).
struct BuildSettingsOptions: ParsableArguments {
    @Option(help: "Layer compression: gzip (default), zstd or none.")
    var compression: LayerCompression?

    @Option(help: ArgumentHelp("How many stages may build at once (default: the number of cores).", valueName: "N"))
    var jobs: Int?

    @Option(help: ArgumentHelp("Memory limit for the build, e.g. 512m or 2g.", valueName: "SIZE"))
    var memory: String?

    @Option(help: ArgumentHelp("CPU limit for the build, e.g. 1.5.", valueName: "CPUS"))
    var cpus: String?

    @Option(name: .customLong("pids-limit"), help: ArgumentHelp("Process limit for the build.", valueName: "N"))
    var pidsLimit: String?

    @Option(help: "Set creation and file times to these seconds since the epoch for reproducible images (default: SOURCE_DATE_EPOCH).")
    var timestamp: Int64?

    @Option(name: .customLong("allow"), help: ArgumentHelp("Allow an entitlement, as buildx: network.host lets RUN --network=host share this machine's network (repeatable).",
                                                            valueName: "ENTITLEMENT"))
    var allow: [String] = []

    func validate() throws {
        do {
            _ = try ResourceLimits.parse(memory: memory, cpus: cpus, pids: pidsLimit)
        } catch {
            throw ValidationError(error.description)
        }
        do { _ = try BuildEntitlement.parse(allow) } catch { throw ValidationError("\(error)") }
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        if let timestamp, timestamp < 0 { throw ValidationError("--timestamp must be 0 or more seconds since the epoch") }
    }

    /// These flags over `config`: the command line's layer (validated already).
    func apply(to config: inout BuilderConfig) {
        if let compression { config.compression = compression }
        if let jobs { config.jobs = jobs }
        if let timestamp { config.timestamp = timestamp }
        if let limits = try? ResourceLimits.parse(memory: memory, cpus: cpus, pids: pidsLimit) {
            config.limits.memoryBytes = limits.memoryBytes ?? config.limits.memoryBytes
            config.limits.cpus = limits.cpus ?? config.limits.cpus
            config.limits.pids = limits.pids ?? config.limits.pids
        }
        if !allow.isEmpty, let entitlements = try? BuildEntitlement.parse(allow) { config.entitlements = entitlements }
    }
}
