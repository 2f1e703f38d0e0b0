import DockerfileSyntax

/// Valid Dockerfile syntax that idpbuild's build engine does not execute, reported before a build so a person
/// learns it in the editor rather than at the failing step: the features of `UnsupportedFeature`, which the planner
/// refuses with the same words.
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
                                UnsupportedFeature.sshMount.message())
                }
                for mount in run.mounts where mount.type == "cache" && mount.from != nil {
                    context.add("UnsupportedByEngine", mount.range,
                                UnsupportedFeature.cacheMountFrom.message())
                }
                if run.security == "insecure", let flag = instruction.flag("security") {
                    context.add("UnsupportedByEngine", flag.range,
                                UnsupportedFeature.insecureSecurity.message())
                }
                for flag in instruction.flags(named: "device") {
                    context.add("UnsupportedByEngine", flag.range,
                                UnsupportedFeature.device.message())
                }
            case .copy(let copy)?:
                if let chmod = copy.chmod, let value = chmod.value, !value.containsByte(UInt8(ascii: "$")), UInt32(value, radix: 8) == nil {
                    context.add("UnsupportedByEngine", chmod.range,
                                UnsupportedFeature.symbolicChmod.message(value))
                }
                guard copy.isAdd else { break }
                for source in copy.sources where UnsupportedFeature.isGitSource(source.value) {
                    context.add("UnsupportedByEngine", source.range,
                                UnsupportedFeature.gitSource.message())
                }
            case .from(let from)?:
                if let platform = from.platform?.value, !platform.containsByte(UInt8(ascii: "$")) {
                    let parts = platform.split(separator: "/")
                    if parts.count >= 2 && (parts[0] != "linux" || parts[1] != Substring(HostPlatform.architecture)) {
                        context.add("UnsupportedByEngine", from.platform!.range,
                                    UnsupportedFeature.foreignPlatform.message(platform))
                    }
                }
            default:
                break
            }
        }
    }
}
