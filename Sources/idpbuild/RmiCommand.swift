import ArgumentParser
import Foundation
import ImageStore
import OCI

/// `idpbuild rmi REF...`: untag images and free blobs nothing else uses.
struct RmiCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rmi",
        abstract: "Remove images from the local store (by reference or digest prefix) and free their unshared blobs.",
        discussion: "Exit status: 0 removed, 1 an image was not found or the store failed.")

    @Argument(help: "References, short names (the Gitea reference build -t gives them, then docker.io's) or manifest digest prefixes (at least 6 hex digits).")
    var images: [String]

    @OptionGroup var store: StoreOptions
    @OptionGroup var gitea: GiteaOptions

    func validate() throws {
        if images.isEmpty { throw ValidationError("name at least one image to remove") }
    }

    func run() async throws {
        let output = CommandOutput(json: store.json)
        try await runReportingErrors(output) {
            let imageStore = try store.openStore()
            struct Removed: Encodable { var event = "untagged"; var reference: String; var digest: String }
            for image in images {
                let resolution = try resolveImage(image, in: imageStore, names: gitea.names)
                output.resolved(resolution)
                // A name untags that one reference; a digest prefix every tag of the image.
                let records = try imageStore.untag(resolution.match == .digestPrefix ? image : resolution.reference)
                for record in records {
                    output.result("untagged \(record.reference) \(record.descriptor.digest)",
                                  Removed(reference: record.reference, digest: record.descriptor.digest.description))
                }
            }
            // A grace period spares blobs another process (a running pull or build) wrote moments ago.
            let report = try imageStore.collectGarbage(gracePeriod: 60)
            struct Freed: Encodable { var event = "freed"; var blobs: Int; var bytes: Int64 }
            output.result("freed \(report.blobs) blob(s), \(CommandOutput.size(report.bytes))", Freed(blobs: report.blobs, bytes: report.bytes))
        }
    }
}
