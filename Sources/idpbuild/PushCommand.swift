import ArgumentParser
import Foundation
import ImageStore
import OCI

/// `idpbuild push SRC DEST`: send an image from the local store to a registry.
struct PushCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push",
        abstract: "Push an image from the local store to a registry.",
        discussion: "Exit status: 0 pushed, 1 the push failed, 2 bad arguments.")

    @Argument(help: "The image in the local store (see idpbuild images): a reference, a short name (the Gitea reference build -t gives it, then docker.io's) or a digest prefix.")
    var source: String

    @Argument(help: "Destination reference, e.g. gitea.cnoe.localtest.me:8443/giteaadmin/app:dev; a short name is expanded as build -t does, under the Gitea host and owner (default: SRC, expanded the same way).")
    var destination: String?

    @OptionGroup var store: StoreOptions
    @OptionGroup var registry: RegistryOptions

    func run() async throws {
        let output = CommandOutput(json: store.json)
        let names = registry.gitea.names
        let platform = try registry.resolvedPlatform()
        try await runReportingErrors(output) {
            let imageStore = try store.openStore()
            let resolution = try resolveImage(source, in: imageStore, names: names)
            output.resolved(resolution)
            // The destination a name means, as build -t pushes it: a short name (or a digest prefix with no DEST)
            // goes under the Gitea host and owner; `docker.io/...` reaches Docker Hub only when written out.
            let destinationName = destination ?? (resolution.match == .digestPrefix ? resolution.reference : source)
            let target = try expandName(destinationName, names: names)
            if Reference.isShortName(destinationName) && target.description != resolution.reference {
                output.expanded(destinationName, to: target, role: "push destination")
            }
            let transfer = try registry.makeTransfer(store: imageStore, output: output)
            let digest = try await transfer.push(resolution.reference, to: target, platform: platform, events: output.event)
            struct Result: Encodable { var event = "pushed"; var reference: String; var source: String; var digest: String }
            output.result("\(target) \(digest)", Result(reference: target.description, source: resolution.reference, digest: digest.description))
        }
    }
}
