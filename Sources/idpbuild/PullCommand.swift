import ArgumentParser
import Foundation
import ImageStore
import OCI

/// `idpbuild pull REF`: fetch an image into the local store.
struct PullCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Pull an image into the local store (through registries.conf mirrors).",
        discussion: "Exit status: 0 pulled, 1 the pull failed, 2 bad arguments.")

    @Argument(help: "Image reference, e.g. alpine:3.19 or gitea.cnoe.localtest.me:8443/giteaadmin/app:dev.")
    var reference: String

    @OptionGroup var store: StoreOptions
    @OptionGroup var registry: RegistryOptions

    func run() async throws {
        let output = CommandOutput(json: store.json)
        _ = try parseReference(reference)
        let platform = try registry.resolvedPlatform()
        try await runReportingErrors(output) {
            let imageStore = try store.openStore()
            let transfer = try registry.makeTransfer(store: imageStore, output: output)
            // A short name goes through unqualified-search-registries when they are configured.
            let candidates = try registry.pullCandidates(for: reference, transfer: transfer)
            var lastError: (any Error)?
            for candidate in candidates {
                do {
                    let image = try await transfer.pull(candidate, platform: platform, events: output.event)
                    struct Result: Encodable { var event = "pulled"; var reference: String; var digest: String; var size: Int64 }
                    output.result("\(candidate) \(image.descriptor.digest)",
                                  Result(reference: candidate.description, digest: image.descriptor.digest.description, size: image.size))
                    // Other commands take a short name as the Gitea reference first: say so when that is another image.
                    if let resolution = try? registry.gitea.names.resolve(reference, in: imageStore), resolution.reference != candidate.description {
                        output.warning("\(reference) in run, images, rmi and push means \(resolution.reference) (in the store, as build -t tags it); "
                                       + "give \(candidate) in full for the image just pulled")
                    }
                    return
                } catch {
                    lastError = error
                    if candidates.count > 1 { output.warning("\(candidate): \(error)") }
                }
            }
            throw lastError!
        }
    }
}
