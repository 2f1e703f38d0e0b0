import ArgumentParser
import Foundation
import ImageStore

/// `idpbuild prune`: remove blobs, layer trees and temp files no tagged image uses.
struct PruneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Remove blobs, unpacked layers and temp files that no tagged image uses.",
        discussion: "Exit status: 0 pruned, 1 the store failed.")

    @Option(name: .customLong("grace"), help: "Spare anything written in the last SECONDS (protects running pulls and builds).")
    var grace: Double = 300

    @OptionGroup var store: StoreOptions

    func run() async throws {
        let output = CommandOutput(json: store.json)
        try await runReportingErrors(output) {
            let report = try store.openStore().collectGarbage(gracePeriod: grace)
            struct Pruned: Encodable { var event = "pruned"; var report: CollectionReport }
            output.result("removed \(report.blobs) blob(s) (\(CommandOutput.size(report.bytes))), \(report.layers) layer tree(s), \(report.temporaryFiles) temp file(s)",
                          Pruned(report: report))
        }
    }
}
