import DockerfileSyntax

/// Valid Dockerfile syntax that idpbuild's build engine does not execute, reported before a build so a person
/// learns it in the editor rather than at the failing step. Keep this list equal to what the engine refuses
/// (BuildEngine's `unsupported` errors: RunStep, Mounts, CopyStep, the FROM platform check).
enum EngineSupport {
    static func run(_ context: inout CheckContext) {
        let definition = context.definition
        if let syntax = context.dockerfile.directive("syntax") {
            let value = syntax.value.text
            let standard = value.hasPrefix("docker/dockerfile:1") || value.hasPrefix("docker.io/docker/dockerfile:1")
            if !standard || value.contains("labs") {
                context.add("UnsupportedByEngine", syntax.value.range,
                            "idpbuild builds with its own Dockerfile frontend: the frontend image \(value) is not used, and syntax only it supports will fail")
            }
        }
        for (index, instruction) in context.instructions.enumerated() {
            switch definition.commands[index] {
            case .run(let run)?:
                for mount in run.mounts where mount.type == "ssh" {
                    context.add("UnsupportedByEngine", mount.range,
                                "idpbuild does not forward SSH agents: RUN --mount=type=ssh is not supported; fetch with a secret mount (type=secret) instead")
                }
                for mount in run.mounts where mount.type == "cache" && mount.from != nil {
                    context.add("UnsupportedByEngine", mount.range,
                                "idpbuild does not seed cache mounts from a stage: --mount=type=cache,from=… is not supported; drop from=")
                }
                if run.security == "insecure", let flag = instruction.flag("security") {
                    context.add("UnsupportedByEngine", flag.range,
                                "idpbuild runs every RUN rootless and sandboxed: --security=insecure is not supported")
                }
                for flag in instruction.flags(named: "device") {
                    context.add("UnsupportedByEngine", flag.range,
                                "RUN --device needs BuildKit's labs frontend and CDI devices, which idpbuild does not provide")
                }
            case .copy(let copy)?:
                if let chmod = copy.chmod, let value = chmod.value, !value.containsByte(UInt8(ascii: "$")), UInt32(value, radix: 8) == nil {
                    context.add("UnsupportedByEngine", chmod.range,
                                "idpbuild takes octal modes only: --chmod=\(value) is not supported; write the mode in octal, e.g. --chmod=0755")
                }
                guard copy.isAdd else { break }
                for source in copy.sources where isGitSource(source.value) {
                    context.add("UnsupportedByEngine", source.range,
                                "idpbuild does not clone git sources in ADD; clone in a RUN step or add the files to the build context")
                }
            case .from(let from)?:
                if let platform = from.platform?.value, !platform.containsByte(UInt8(ascii: "$")) {
                    let parts = platform.split(separator: "/")
                    if parts.count >= 2 && (parts[0] != "linux" || parts[1] != Substring(HostPlatform.architecture)) {
                        context.add("UnsupportedByEngine", from.platform!.range,
                                    "idpbuild builds for this machine's platform (linux/\(HostPlatform.architecture)) only: \(platform) would need emulation")
                    }
                }
            default:
                break
            }
        }
    }

    private static func isGitSource(_ source: String) -> Bool {
        source.hasPrefix("git@") || source.hasPrefix("git://") || source.hasPrefix("ssh://")
            || ((source.hasPrefix("https://") || source.hasPrefix("http://")) && (source.hasSuffix(".git") || source.contains(".git#")))
    }
}
