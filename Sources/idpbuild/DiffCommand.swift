import ArgumentParser
import LayerDiff
import OCI
import Sandbox

/// `idpbuild diff`: turns an overlayfs upper directory into an OCI layer blob and prints its digests.
struct DiffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Write an overlayfs upper directory as an OCI layer (whiteouts, opaque dirs, owners, xattrs).",
        discussion: """
            Prints the blob digest, the diff ID (digest of the uncompressed tar) and the size on stdout \
            (a JSON object with --json). An unprivileged caller runs the diff inside its user namespace, \
            so files owned by subordinate IDs are readable and owners come out as container IDs.
            Exit status: 0 on success, 1 when the layer could not be written.
            """
    )

    @Argument(help: "The upper directory.")
    var upper: String

    @Option(name: [.customShort("o"), .long], help: "The layer file to write (replaced atomically).")
    var output: String

    @Option(help: "gzip (default), zstd or none.")
    var compression: LayerCompression = .gzip

    @Option(name: .customLong("source-date-epoch"), help: "Clamp modification times to this many seconds since the epoch.")
    var sourceDateEpoch: Int64?

    @Flag(help: "Print a JSON object instead of text.")
    var json = false

    func run() async throws {
        if !UserNamespace.callerIsRoot {
            let termination = try UserNamespace.reexecuteSelf(warn: { RunCommand.log("warning: \($0)") })
            throw ExitCode(termination.exitCode)
        }
        do {
            let layer = try LayerDiff(compression: compression, timestampLimit: sourceDateEpoch)
                .write(upperDirectory: upper, to: output)
            if json {
                print(JSONLine.object(["digest": .string(layer.digest), "diffID": .string(layer.diffID),
                                       "size": .int(Int(layer.size)), "uncompressedSize": .int(Int(layer.uncompressedSize)),
                                       "mediaType": .string(layer.mediaType), "empty": .bool(layer.isEmpty)]))
            } else {
                print("digest \(layer.digest)\ndiff_id \(layer.diffID)\nsize \(layer.size)")
            }
        } catch let error as LayerDiffError {
            RunCommand.log("idpbuild diff: \(error.description)")
            throw ExitCode(1)
        }
    }
}
