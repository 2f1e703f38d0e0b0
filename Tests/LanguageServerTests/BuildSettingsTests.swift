import Foundation
import BuildService
import JSONRPC
import LanguageServer
import Testing

/// The one settings type's layers: defaults < environment < an editor's settings < a command's flags (the CLI tests
/// cover the flags).
@Suite struct BuildSettingsTests {
    @Test func theEnvironmentSetsRegistryNamespaceAndTimestampWhenValid() {
        let config = BuilderConfig(environment: ["IDPBUILD_REGISTRY": "127.0.0.1:5000", "IDPBUILD_NAMESPACE": "team/apps", "SOURCE_DATE_EPOCH": "1700000000"])
        #expect(config.registry == "127.0.0.1:5000" && config.namespace == "team/apps" && config.timestamp == 1_700_000_000)
        // An argument beats the environment.
        #expect(BuilderConfig(registry: "r.example:443", namespace: "me", timestamp: 5, environment: ["IDPBUILD_REGISTRY": "127.0.0.1:5000",
                                                                                                     "IDPBUILD_NAMESPACE": "x", "SOURCE_DATE_EPOCH": "9"])
            == BuilderConfig(registry: "r.example:443", namespace: "me", timestamp: 5, environment: [:]))
        // Invalid values are not taken, and say why.
        let bad = ["IDPBUILD_REGISTRY": "https://gitea/x", "IDPBUILD_NAMESPACE": "Team", "SOURCE_DATE_EPOCH": "yesterday"]
        let ignored = BuilderConfig(environment: bad)
        #expect(ignored.registry == BuilderConfig.defaultRegistry && ignored.namespace == BuilderConfig.defaultNamespace && ignored.timestamp == nil)
        let problems = BuilderConfig.environmentProblems(bad)
        #expect(problems.count == 3 && problems[0].hasPrefix("IDPBUILD_REGISTRY=") && problems[1].hasPrefix("IDPBUILD_NAMESPACE=")
                && problems[2].hasPrefix("SOURCE_DATE_EPOCH="), "\(problems)")
        #expect(BuilderConfig.environmentProblems([:]).isEmpty)
    }

    @Test func editorSettingsCoverCompressionAndTimestamp() {
        let (settings, problems) = ServerSettings().applying(["compression": "zstd", "timestamp": 86_400, "jobs": 3, "allow": ["network.host"]])
        #expect(problems.isEmpty, "\(problems)")
        #expect(settings.build.compression == .zstd && settings.build.timestamp == 86_400 && settings.build.jobs == 3)
        #expect(settings.build.entitlements == [.networkHost])
        #expect(settings.json["compression"] == "zstd" && settings.json["timestamp"] == 86_400)
        let (kept, refused) = settings.applying(["compression": "lz4", "timestamp": -1])
        #expect(kept.build.compression == .zstd && kept.build.timestamp == 86_400)
        #expect(refused == ["compression must be one of gzip, zstd or none, not \"lz4\"; keeping zstd",
                            "timestamp must be a whole number of seconds since the epoch, not -1; keeping 86400"])
    }

    @Test func aSessionsSettingsGoOverTheServersMachineSettings() {
        let machine = BuilderConfig(registry: "127.0.0.1:5000", registriesConf: "/etc/r.conf", storeRoot: "/srv/store", workerExecutable: "/usr/bin/idpbuild",
                                    useKubernetes: false, username: "ci", password: "secret", chunkSize: 1 << 20, environment: [:])
        var session = ServerSettings(build: machine)
        session = session.applying(["registry": "gitea.example:8443", "namespace": "dev", "memory": "1g", "compression": "none"]).settings
        let merged = machine.takingEditorSettings(from: session.build)
        #expect(merged.registry == "gitea.example:8443" && merged.namespace == "dev" && merged.limits.memoryBytes == 1 << 30
                && merged.compression == .none)
        #expect(merged.storeRoot == "/srv/store" && merged.registriesConf == "/etc/r.conf" && merged.workerExecutable == "/usr/bin/idpbuild"
                && !merged.useKubernetes && merged.username == "ci" && merged.password == "secret" && merged.chunkSize == 1 << 20)
    }

    @Test func aJobMissingNewerMembersDecodesWithDefaults() throws {
        let config = try JSONDecoder().decode(BuilderConfig.self, from: Data(#"{"registry":"127.0.0.1:5000","namespace":"me"}"#.utf8))
        #expect(config.registry == "127.0.0.1:5000" && config.namespace == "me" && config.compression == .gzip && config.jobs >= 1
                && config.useKubernetes && config.workerExecutable == "/proc/self/exe")
        let request = try JSONDecoder().decode(BuildRequest.self, from: Data(#"{"dockerfilePath":"Dockerfile","contextDir":".","imageName":"seed"}"#.utf8))
        #expect(request.imageTag == "" && !request.pull && request.secrets.isEmpty)
    }
}
