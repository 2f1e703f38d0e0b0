import Foundation
import ImageStore
import ImageTransfer
import OCI
import Testing

/// Benchmarks/transfer-bench.sh's in-process pulls, skipped unless it sets IDPBUILD_PULL_BENCH (an image reference on an
/// insecure registry) and IDPBUILD_PULL_BENCH_OUT (a file for one JSON line per pull). Each pull goes into a new store
/// under IDPBUILD_PULL_BENCH_DIR: a plain pull, a pull that unpacks while downloading, and a pull followed by
/// `unpackLayer` of each layer (what a build does today on first use). Nothing is asserted about time.
@Suite(.serialized) struct PullBenchmark {
    @Test func pullsWithAndWithoutUnpacking() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let name = environment["IDPBUILD_PULL_BENCH"], let out = environment["IDPBUILD_PULL_BENCH_OUT"],
              let work = environment["IDPBUILD_PULL_BENCH_DIR"] else { return }
        let reference = try Reference(parsing: name)
        let options = UnpackOptions(whiteouts: .overlay(xattrPrefix: LayerUnpacker.inInitialUserNamespace ? "trusted" : "user"))
        var lines = [String]()
        for mode in ["pull", "pull+unpack", "pull, then unpack"] {
            let root = work + "/store-\(lines.count)"
            let store = try ImageStore(root: root)
            let transfer = ImageTransfer(store: store, access: RegistryAccess(insecureHosts: [reference.domain]))
            let base = Self.resetPeakRSS()
            let start = DispatchTime.now()
            switch mode {
            case "pull":
                try await transfer.pull(reference)
            case "pull+unpack":
                try await transfer.pull(reference, unpack: options)
            default:
                let image = try await transfer.pull(reference)
                for (layer, chainID) in zip(image.manifest.layers, image.config.rootfs.chainIDs) {
                    try store.unpackLayer(layer, chainID: chainID, options: options)
                }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
            let peak = Self.status("VmHWM")
            lines.append(#"{"mode": "\#(mode)", "seconds": \#(seconds), "peak_rss_kb": \#(peak), "base_rss_kb": \#(base)}"#)
            try store.removeTree(root)
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: out, atomically: true, encoding: .utf8)
    }

    /// Makes the peak RSS the current RSS again (Linux's clear_refs 5) and returns it, in KiB.
    static func resetPeakRSS() -> Int {
        try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
        return status("VmHWM")
    }

    /// A KiB figure from /proc/self/status.
    static func status(_ field: String) -> Int {
        let text = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = text.split(separator: "\n").first { $0.hasPrefix(field + ":") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }
}
