// LayerDiff over hand-made upper directories (overlayfs's on-disk conventions: 0/0 character-device
// whiteouts, opaque xattrs), read back with libarchive. Whiteout devices need mknod, so those tests run as
// root; the Sandbox tests cover the same conventions produced by a real overlay mount, rootless too.
import CArchive
import Crypto
import Foundation
import LayerDiff
import OCI
import SandboxTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

func sha256Hex(_ data: [UInt8]) -> String {
    SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
}

func write(_ text: String, to path: String, mode: mode_t = 0o644) throws {
    try text.write(toFile: path, atomically: false, encoding: .utf8)
    chmod(path, mode)
}

@Suite struct LayerDiffTests {
    let scratch: ScratchDirectory
    let upper: String

    init() throws {
        scratch = try ScratchDirectory("layerdiff")
        upper = try scratch.subdirectory("upper")
    }

    /// A tree with a nested directory, files of several modes, a symlink, a hard link pair and an xattr.
    func populate() throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: upper + "/usr/local/bin", withIntermediateDirectories: true)
        try write("#!/bin/sh\necho tool\n", to: upper + "/usr/local/bin/tool", mode: 0o755)
        try write("config\n", to: upper + "/config", mode: 0o600)
        try write("b\n", to: upper + "/b")
        try write("a\n", to: upper + "/a")
        try write("Z\n", to: upper + "/Z")
        try fm.createSymbolicLink(atPath: upper + "/link", withDestinationPath: "usr/local/bin/tool")
        link(upper + "/a", upper + "/usr/hard-a")
        #expect(setxattr(upper + "/config", "user.origin", "test", 4, 0) == 0)
        chmod(upper + "/usr", 0o1755)
    }

    @Test func entriesKeepTypesModesLinksAndXattrsInByteOrder() throws {
        try populate()
        let out = scratch.path + "/layer.tar.gz"
        let layer = try LayerDiff().write(upperDirectory: upper, to: out)
        let entries = try readTar(out)
        #expect(entries.map(\.path) == ["Z", "a", "b", "config", "link", "usr/", "usr/hard-a", "usr/local/", "usr/local/bin/",
                                        "usr/local/bin/tool"])
        #expect(layer.entryCount == entries.count)
        let byPath = Dictionary(uniqueKeysWithValues: entries.map { ($0.path, $0) })
        #expect(byPath["config"]?.mode == 0o100600)
        #expect(byPath["config"]?.xattrs["user.origin"] == Array("test".utf8))
        #expect(byPath["usr/local/bin/tool"]?.mode == 0o100755)
        #expect(byPath["usr/local/bin/tool"]?.data == Array("#!/bin/sh\necho tool\n".utf8))
        #expect(byPath["usr/"]?.mode == 0o41755)
        #expect(byPath["link"]?.symlink == "usr/local/bin/tool")
        // The first name seen (byte order) carries the data; the second is a hard link to it.
        #expect(byPath["a"]?.data == Array("a\n".utf8))
        #expect(byPath["usr/hard-a"]?.hardlink == "a")
        #expect(byPath["a"]?.uid == Int64(geteuid()))
    }

    @Test func namesAndLinkTargetsBeyondASCIIAreWrittenWhateverTheLocale() throws {
        // Debian's ca-certificates has links like this; this process runs in the C locale, as the worker does.
        let name = "NetLock_Arany_=Class_Gold=_Főtanúsítvány.pem"
        try FileManager.default.createDirectory(atPath: upper + "/certs", withIntermediateDirectories: true)
        try write("cert\n", to: upper + "/certs/" + name)
        try FileManager.default.createSymbolicLink(atPath: upper + "/certs/988a38cb.0", withDestinationPath: name)
        link(upper + "/certs/" + name, upper + "/certs/hård")
        let out = scratch.path + "/layer.tar"
        _ = try LayerDiff(compression: .none).write(upperDirectory: upper, to: out)
        let byPath = Dictionary(uniqueKeysWithValues: try readTar(out).map { ($0.path, $0) })
        #expect(byPath["certs/988a38cb.0"]?.symlink == name)
        #expect(byPath["certs/" + name]?.data == Array("cert\n".utf8))
        #expect(byPath["certs/hård"]?.hardlink == "certs/" + name || byPath["certs/" + name]?.hardlink == "certs/hård")
    }

    @Test func digestsAreOfTheBlobAndOfTheUncompressedTar() throws {
        try populate()
        let out = scratch.path + "/layer.tar.gz"
        let layer = try LayerDiff().write(upperDirectory: upper, to: out)
        let blob = try [UInt8](Data(contentsOf: URL(fileURLWithPath: out)))
        #expect(layer.digest == "sha256:" + sha256Hex(blob))
        #expect(layer.size == Int64(blob.count))
        #expect(blob.prefix(2) == [0x1f, 0x8b])
        #expect(Array(blob[4..<8]) == [0, 0, 0, 0], "gzip header carries no timestamp")
        let plain = try run("/bin/sh", ["-c", "gzip -dc '\(out)' | sha256sum; gzip -dc '\(out)' | wc -c"]).stdout.split(separator: "\n")
        #expect(layer.diffID == "sha256:" + (plain.first?.split(separator: " ").first.map(String.init) ?? ""))
        #expect(layer.uncompressedSize == Int64(plain.last ?? "") ?? -1)
        #expect(layer.mediaType == "application/vnd.oci.image.layer.v1.tar+gzip")
    }

    @Test func theSameTreeGivesTheSameDigests() throws {
        try populate()
        let first = try LayerDiff().write(upperDirectory: upper, to: scratch.path + "/one.tar.gz")
        let second = try LayerDiff().write(upperDirectory: upper, to: scratch.path + "/two.tar.gz")
        #expect(first == second)
        try write("changed\n", to: upper + "/b")
        let third = try LayerDiff().write(upperDirectory: upper, to: scratch.path + "/three.tar.gz")
        #expect(third.digest != first.digest && third.diffID != first.diffID)
    }

    @Test(.enabled(if: geteuid() == 0)) func overlayWhiteoutsAndOpaqueDirectoriesBecomeOCIWhiteouts() throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: upper + "/etc", withIntermediateDirectories: true)
        #expect(mknod(upper + "/etc/removed", S_IFCHR | 0o000, 0) == 0)
        try fm.createDirectory(atPath: upper + "/var/cache", withIntermediateDirectories: true)
        #expect(setxattr(upper + "/var/cache", "trusted.overlay.opaque", "y", 1, 0) == 0)
        try write("new\n", to: upper + "/var/cache/fresh")
        try fm.createDirectory(atPath: upper + "/opt", withIntermediateDirectories: true)
        #expect(setxattr(upper + "/opt", "user.overlay.opaque", "y", 1, 0) == 0)
        #expect(setxattr(upper + "/etc", "trusted.overlay.impure", "y", 1, 0) == 0)
        // A real device (not 0/0) stays a device.
        #expect(mknod(upper + "/etc/null", S_IFCHR | 0o666, makedev(1, 3)) == 0)
        chmod(upper + "/etc/null", 0o666)
        #expect(mkfifo(upper + "/etc/fifo", 0o644) == 0)

        let out = scratch.path + "/layer.tar.gz"
        _ = try LayerDiff().write(upperDirectory: upper, to: out)
        let entries = try readTar(out)
        #expect(entries.map(\.path) == ["etc/", "etc/fifo", "etc/null", "etc/.wh.removed", "opt/", "opt/.wh..wh..opq",
                                        "var/", "var/cache/", "var/cache/.wh..wh..opq", "var/cache/fresh"])
        let byPath = Dictionary(uniqueKeysWithValues: entries.map { ($0.path, $0) })
        #expect(byPath["etc/.wh.removed"]?.isRegular == true)
        #expect(byPath["etc/.wh.removed"]?.size == 0)
        #expect(byPath["etc/null"]?.mode == 0o20666)
        #expect(byPath["etc/fifo"]?.mode == 0o10644)
        // overlayfs bookkeeping xattrs never reach the layer.
        #expect(entries.allSatisfy { $0.xattrs.keys.allSatisfy { !$0.contains("overlay") } })
    }

    private func makedev(_ major: UInt32, _ minor: UInt32) -> dev_t {
        dev_t((UInt64(major & 0xfff) << 8) | UInt64(minor & 0xff))
    }

    @Test(.enabled(if: geteuid() == 0)) func ownersAreMappedBackToContainerIDs() throws {
        try write("x\n", to: upper + "/owned")
        #expect(chown(upper + "/owned", 101233, 104320) == 0)
        let mapping = OwnerMapping(uids: [.init(containerID: 0, hostID: 1000, count: 1), .init(containerID: 1, hostID: 100000, count: 65536)],
                                   gids: [.init(containerID: 0, hostID: 1000, count: 1), .init(containerID: 1, hostID: 100000, count: 65536)])
        #expect(chown(upper, 1000, 1000) == 0)
        let out = scratch.path + "/layer.tar.gz"
        _ = try LayerDiff(ownerMapping: mapping).write(upperDirectory: upper, to: out)
        let entry = try #require(try readTar(out).first)
        #expect(entry.uid == 1234 && entry.gid == 4321)

        #expect(chown(upper + "/owned", 5, 5) == 0)
        #expect(throws: LayerDiffError.unmappedOwner(path: upper + "/owned", hostID: 5, isGroup: false)) {
            _ = try LayerDiff(ownerMapping: mapping).write(upperDirectory: upper, to: out)
        }
        #expect(LayerDiffError.unmappedOwner(path: "/p", hostID: 5, isGroup: true).description.contains("gid 5"))
    }

    @Test(.enabled(if: geteuid() == 0)) func redirectDirectoriesAreRefusedClearly() throws {
        try FileManager.default.createDirectory(atPath: upper + "/moved", withIntermediateDirectories: true)
        #expect(setxattr(upper + "/moved", "trusted.overlay.redirect", "/old", 4, 0) == 0)
        #expect(throws: LayerDiffError.unsupportedOverlayFeature(path: upper + "/moved", attribute: "trusted.overlay.redirect")) {
            _ = try LayerDiff().write(upperDirectory: upper, to: scratch.path + "/l.tar.gz")
        }
        #expect(!scratch.contents().contains { $0.hasPrefix(".layer-") }, "no half-written file")
    }

    @Test func anEmptyUpperIsAnEmptyLayer() throws {
        let layer = try LayerDiff().write(upperDirectory: upper, to: scratch.path + "/empty.tar.gz")
        #expect(layer.isEmpty)
        #expect(try readTar(scratch.path + "/empty.tar.gz").isEmpty)
    }

    @Test func zstdAndUncompressedLayersAreReadable() throws {
        try populate()
        for compression in [LayerCompression.zstd, .none] {
            let out = scratch.path + "/layer-\(compression.rawValue)"
            let layer = try LayerDiff(compression: compression).write(upperDirectory: upper, to: out)
            #expect(try readTar(out).count == 10)
            #expect(layer.mediaType == compression.mediaType)
            if compression == .none { #expect(layer.digest == layer.diffID && layer.size == layer.uncompressedSize) }
        }
    }

    @Test func timestampsAreClampedToTheLimit() throws {
        try populate()
        let out = scratch.path + "/layer.tar.gz"
        _ = try LayerDiff(timestampLimit: 1_000_000).write(upperDirectory: upper, to: out)
        #expect(try readTar(out).allSatisfy { $0.mtime == 1_000_000 })
    }

    @Test func badInputIsAClearErrorAndLeavesNothingBehind() throws {
        let missing = scratch.path + "/no-upper"
        #expect(throws: LayerDiffError.missingUpperDirectory(path: missing)) {
            _ = try LayerDiff().write(upperDirectory: missing, to: scratch.path + "/out.tar.gz")
        }
        let noDirectory = scratch.path + "/no-such-dir/out.tar.gz"
        #expect(throws: LayerDiffError.self) { _ = try LayerDiff().write(upperDirectory: upper, to: noDirectory) }
        #expect(scratch.contents() == ["upper"])
        #expect(LayerDiffError.output(path: "/x", errno: ENOSPC).description.contains("free space"))
        #expect(LayerDiffError.unreadable(path: "/x", errno: EACCES).description.contains("user namespace"))
        #expect(LayerDiffError.archive(path: "/x", message: "m").description.contains("/x"))
        #expect(LayerDiffError.missingUpperDirectory(path: "/u").description.contains("/u"))
    }

    @Test(.enabled(if: geteuid() != 0)) func anUnreadableFileIsReported() throws {
        try write("secret\n", to: upper + "/private", mode: 0o000)
        #expect(throws: LayerDiffError.unreadable(path: upper + "/private", errno: EACCES)) {
            _ = try LayerDiff().write(upperDirectory: upper, to: scratch.path + "/l.tar.gz")
        }
    }
}
