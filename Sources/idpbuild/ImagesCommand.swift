import ArgumentParser
import Foundation
import ImageStore
import OCI

/// `idpbuild images`: list the local store's images.
struct ImagesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "images",
        abstract: "List images in the local store.",
        discussion: """
            With NAME, only the images it names: a reference, a short name (the Gitea reference build -t gives it, else \
            docker.io's; without a tag every tag of that repository) or a digest prefix.
            Exit status: 0 listed, 1 the store could not be read or NAME matches no image.
            """)

    @ArgumentParser.Argument(help: "Show only this image or repository (default: all).")
    var name: String?

    @OptionGroup var store: StoreOptions
    @OptionGroup var gitea: GiteaOptions

    func run() async throws {
        let output = CommandOutput(json: store.json)
        try await runReportingErrors(output) {
            let imageStore = try store.openStore()
            struct Row: Encodable { var reference: String; var digest: String; var size: Int64?; var created: String?; var platform: String? }
            var rows = [Row]()
            var records = try imageStore.list()
            if let name {
                let resolution = try resolveImage(name, in: imageStore, names: gitea.names, anyTag: true)
                output.resolved(resolution)
                records = resolution.records
            }
            for record in records {
                let image = try? imageStore.image(descriptor: record.descriptor, reference: record.reference)
                rows.append(Row(reference: record.reference, digest: record.descriptor.digest.description, size: image?.size,
                                created: image?.config.created, platform: image?.config.platform.description))
            }
            if store.json {
                for row in rows { output.result("", row) }
                return
            }
            let width = max(10, rows.map(\.reference.count).max() ?? 0)
            var text = "REFERENCE".padding(toLength: width, withPad: " ", startingAt: 0) + "  DIGEST        SIZE       CREATED"
            for row in rows {
                text += "\n" + row.reference.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                    + String(row.digest.dropFirst(7).prefix(12)) + "  "
                    + (row.size.map { CommandOutput.size($0) } ?? "?").padding(toLength: 9, withPad: " ", startingAt: 0) + "  "
                    + (row.created ?? "-")
            }
            output.result(text, [String]())
        }
    }
}
