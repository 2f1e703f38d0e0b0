import Foundation
import ImageStore
import Testing
import TestSupport

@Suite struct LayerUnpackerTests {
    @Test(arguments: ["none", "gzip", "zstd"])
    func unpacksFilesLinksModesOwnersAndXattrs(compression: String) throws {
        let dir = try TemporaryDirectory("unpack")
        defer { dir.remove() }
        try makeTar(dir.file("layer"), [
            directoryEntry("usr"), directoryEntry("usr/bin"), file("usr/bin/tool", "#!/bin/sh\n", mode: 0o4755),
            file("etc/secret", "s", mode: 0o600, uid: 1234, gid: 5678, xattrs: ["user.idpbuild": "hello"]),
            symlink("bin", to: "usr/bin"), hardlink("usr/bin/tool2", to: "usr/bin/tool"),
            directoryEntry("ro", mode: 0o555), file("ro/inside", "x"),
            ["name": "run/fifo", "type": "fifo", "mode": 0o644],
        ], compression: compression)
        let target = dir.file("root")
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        let report = try LayerUnpacker.unpack(archive: dir.file("layer"), into: target)
        #expect(report.entries == 9)
        #expect(read(target + "/usr/bin/tool") == "#!/bin/sh\n")
        // Without the right to restore owners, libarchive drops setuid/setgid bits rather than grant them to the caller.
        #expect(statOf(target + "/usr/bin/tool").st_mode & 0o7777 == (geteuid() == 0 ? 0o4755 : 0o755))
        #expect(statOf(target + "/etc/secret").st_mode & 0o777 == 0o600)
        #expect(statOf(target + "/usr/bin/tool").st_mtim.tv_sec == 1_700_000_000)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: target + "/bin") == "usr/bin")
        #expect(statOf(target + "/usr/bin/tool2").st_ino == statOf(target + "/usr/bin/tool").st_ino)
        #expect(statOf(target + "/ro").st_mode & 0o777 == 0o555)
        #expect(read(target + "/ro/inside") == "x")
        #expect(statOf(target + "/run/fifo").st_mode & S_IFMT == S_IFIFO)
        #expect(try xattr(target + "/etc/secret", "user.idpbuild") == "hello")
        if isInitialRoot() {
            #expect(statOf(target + "/etc/secret").st_uid == 1234)
            #expect(statOf(target + "/etc/secret").st_gid == 5678)
        }
    }

    @Test func appliesWhiteoutsAndOpaqueDirectories() throws {
        let dir = try TemporaryDirectory("whiteout")
        defer { dir.remove() }
        try makeTar(dir.file("l1"), [file("a/1", "1"), file("a/2", "2"), file("b/x", "x"), file("d/keep", "k"), file("d/gone", "g"),
                                     file("f", "file")])
        try makeTar(dir.file("l2"), [file("a/3", "3"), file("a/.wh..wh..opq"), file(".wh.b"), file("d/.wh.gone"),
                                     directoryEntry("f"), file("f/now-a-dir", "y")], compression: "gzip")
        let target = dir.file("root")
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        try LayerUnpacker.unpack(archive: dir.file("l1"), into: target)
        let report = try LayerUnpacker.unpack(archive: dir.file("l2"), into: target)
        #expect(report.whiteouts == 3)
        #expect(try FileManager.default.contentsOfDirectory(atPath: target + "/a") == ["3"])
        #expect(!exists(target + "/b"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: target + "/d") == ["keep"])
        #expect(read(target + "/f/now-a-dir") == "y")
    }

    @Test func overlayWhiteoutsForLowerDirs() throws {
        guard isInitialRoot() else { return }  // trusted.* xattrs need root in the initial namespace (a user namespace uses "user")
        let dir = try TemporaryDirectory("overlay")
        defer { dir.remove() }
        try makeTar(dir.file("l"), [file("a/.wh..wh..opq"), file("a/new", "n"), file(".wh.old")])
        let target = dir.file("root")
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        try LayerUnpacker.unpack(archive: dir.file("l"), into: target, options: UnpackOptions(whiteouts: .overlay(xattrPrefix: "trusted")))
        let st = statOf(target + "/old")
        #expect(st.st_mode & S_IFMT == S_IFCHR)
        #expect(st.st_rdev == 0)
        #expect(try xattr(target + "/a", "trusted.overlay.opaque") == "y")
        #expect(read(target + "/a/new") == "n")
    }

    @Test func refusesEntriesThatEscapeAndConfinesSymlinks() throws {
        let dir = try TemporaryDirectory("escape")
        defer { dir.remove() }
        let target = dir.file("root")
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        let outside = dir.file("outside-marker")
        for (name, entries, reason) in [
            ("abs", [file("/" + outside.dropFirst(), "evil")], "absolute"),
            ("dotdot", [file("../outside-marker", "evil")], "'..'"),
            ("deep", [file("a/../../outside-marker", "evil")], "'..'"),
            ("hard", [file("ok", "x"), hardlink("h", to: "../../etc/passwd")], "hard link"),
        ] as [(String, [[String: Any]], String)] {
            try makeTar(dir.file(name), entries)
            #expect {
                try LayerUnpacker.unpack(archive: dir.file(name), into: target)
            } throws: { "\($0)".contains(reason) && "\($0)".contains("refusing layer") }
            #expect(!exists(outside))
        }
        // Symlinks are followed as if the target were "/": they can never lead outside it.
        try makeTar(dir.file("links"), [symlink("escape", to: "/"), file("escape/" + String(outside.dropFirst()), "confined"),
                                         symlink("up", to: "../../../.."), file("up/top", "t"),
                                         directoryEntry("var"), symlink("var/run", to: "/run"), file("var/run/pid", "1")])
        try LayerUnpacker.unpack(archive: dir.file("links"), into: target)
        #expect(!exists(outside))
        #expect(read(target + outside) == "confined")
        #expect(read(target + "/top") == "t")
        #expect(read(target + "/run/pid") == "1")
    }

    @Test func damagedArchivesFailClearly() throws {
        let dir = try TemporaryDirectory("damaged")
        defer { dir.remove() }
        try makeTar(dir.file("l"), [file("big", String(repeating: "z", count: 200_000))], compression: "gzip")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: dir.file("l")))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: dir.file("half")))
        try FileManager.default.createDirectory(atPath: dir.file("root"), withIntermediateDirectories: true)
        #expect { try LayerUnpacker.unpack(archive: dir.file("half"), into: dir.file("root"), label: "sha256:half") } throws: {
            "\($0)".contains("cannot unpack layer sha256:half")
        }
        #expect(throws: ImageStoreError.self) { try LayerUnpacker.unpack(archive: dir.file("missing"), into: dir.file("root")) }
    }
}
