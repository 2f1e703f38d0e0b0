import ArgumentParser
import Foundation
import OCI

/// `idpbuild push SRC DEST`: send an image from the local store to a registry.
struct PushCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push",
        abstract: "Push an image from the local store to a registry.",
        discussion: "Exit status: 0 pushed, 1 the push failed, 2 bad arguments.")

    @Argument(help: "The image in the local store (see idpbuild images).")
    var source: String

    @Argument(help: "Destination reference, e.g. gitea.cnoe.localtest.me:8443/giteaadmin/app:dev (default: SRC).")
    var destination: String?

    @OptionGroup var store: StoreOptions
    @OptionGroup var registry: RegistryOptions

    func run() async throws {
        let output = CommandOutput(json: store.json)
        let sourceReference = try parseReference(source)
        let target = try parseReference(destination ?? source)
        let platform = try registry.resolvedPlatform()
        try await runReportingErrors(output) {
            let imageStore = try store.openStore()
            let transfer = try registry.makeTransfer(store: imageStore, output: output)
            let digest = try await transfer.push(sourceReference.description, to: target, platform: platform, events: output.event)
            struct Result: Encodable { var event = "pushed"; var reference: String; var digest: String }
            output.result("\(target) \(digest)", Result(reference: target.description, digest: digest.description))
        }
    }
}
