import DockerfileSyntax

/// What idpbuild's engine refuses though the Dockerfile is valid: one table that the checker reports from (so a person
/// learns it in the editor) and the planner refuses with (so a build stops before anything runs), in the same words.
public enum UnsupportedFeature: String, Sendable, CaseIterable {
    /// `RUN --mount=type=ssh`.
    case sshMount
    /// `RUN --mount=type=cache,from=…`.
    case cacheMountFrom
    /// `RUN --security=insecure`.
    case insecureSecurity
    /// `RUN --device`.
    case device
    /// `COPY --chmod` with a symbolic mode.
    case symbolicChmod
    /// `ADD` of a git repository.
    case gitSource
    /// `FROM --platform` (or `--platform`) naming another platform.
    case foreignPlatform

    /// The sentence both sides use; `value` is the flag's value or source where the feature has one.
    public func message(_ value: String = "") -> String {
        switch self {
        case .sshMount:
            return "idpbuild does not forward SSH agents: RUN --mount=type=ssh is not supported; fetch with a secret mount (type=secret) instead"
        case .cacheMountFrom:
            return "idpbuild does not seed cache mounts from a stage: --mount=type=cache,from=… is not supported; drop from="
        case .insecureSecurity:
            return "idpbuild runs every RUN rootless and sandboxed: --security=insecure is not supported"
        case .device:
            return "RUN --device needs BuildKit's labs frontend and CDI devices, which idpbuild does not provide"
        case .symbolicChmod:
            return "idpbuild takes octal modes only: --chmod=\(value) is not supported; write the mode in octal, e.g. --chmod=0755"
        case .gitSource:
            return "idpbuild does not clone git sources in ADD; clone in a RUN step or add the files to the build context"
        case .foreignPlatform:
            return "idpbuild builds for this machine's platform (linux/\(HostPlatform.architecture)) only: \(value) would need emulation"
        }
    }

    /// Whether an ADD source names a git repository.
    public static func isGitSource(_ source: String) -> Bool {
        source.hasPrefix("git@") || source.hasPrefix("git://") || source.hasPrefix("ssh://")
            || ((source.hasPrefix("https://") || source.hasPrefix("http://")) && (source.hasSuffix(".git") || source.contains(".git#")))
    }

    /// Whether a `--chmod` value is a mode idpbuild applies (octal, at most 0o7777).
    public static func isOctalMode(_ value: String) -> Bool { UInt32(value, radix: 8).map { $0 <= 0o7777 } ?? false }
}
