import Foundation
@testable import ImageStore
import OCI
import Testing
import TestSupport

@Suite struct ImageStoreTests {
    func storedImage(_ store: ImageStore, dir: TemporaryDirectory, files: [[String: Any]], tag: String) throws -> (Descriptor, Descriptor) {
        let name = dir.file("layer-" + tag.replacingOccurrences(of: "/", with: "_"))
        try makeTar(name, files, compression: "gzip")
        let writer = try store.makeBlobWriter()
        try writer.write(Array(try Data(contentsOf: URL(fileURLWithPath: name))))
        let (layerDigest, layerSize) = try writer.commit()
        let layer = Descriptor(mediaType: MediaType.ociLayerGzip, digest: layerDigest, size: layerSize)
        let config = ImageConfig(architecture: "amd64", os: "linux", rootfs: RootFS(diffIDs: [Digest.sha256(of: Array(tag.utf8))]))
        let configDescriptor = try store.putBlob(try CanonicalJSON.encode(config), mediaType: MediaType.ociConfig)
        let manifest = try store.putBlob(try CanonicalJSON.encode(ImageManifest(config: configDescriptor, layers: [layer])),
                                         mediaType: MediaType.ociManifest)
        try store.tag(tag, descriptor: manifest)
        return (manifest, layer)
    }

    @Test func blobsAreWrittenAtomicallyAndVerified() throws {
        let dir = try TemporaryDirectory("store")
        defer { dir.remove() }
        let store = try ImageStore(root: dir.file("store"))
        #expect(FileManager.default.fileExists(atPath: dir.file("store/oci-layout")))
        let writer = try store.makeBlobWriter()
        try writer.write(Array("hello ".utf8))
        try writer.write(Array("world".utf8))
        #expect(writer.count == 11)
        let (digest, size) = try writer.commit(expected: Digest.sha256(of: Array("hello world".utf8)))
        #expect(size == 11)
        #expect(try store.readBlob(digest) == Array("hello world".utf8))
        #expect(try store.blobSize(digest) == 11)
        try store.verifyBlob(digest)

        let bad = try store.makeBlobWriter()
        try bad.write([1, 2, 3])
        #expect { try bad.commit(expected: Digest.sha256(of: [9])) } throws: { "\($0)".contains("nothing was stored") }
        #expect(!store.hasBlob(Digest.sha256(of: [1, 2, 3])))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("store/tmp")).isEmpty)

        // An abandoned writer leaves nothing behind.
        do { let w = try store.makeBlobWriter(); try w.write([7]) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("store/tmp")).isEmpty)
        #expect(throws: ImageStoreError.self) { try store.putBlob([1], mediaType: "x", expected: Digest.sha256(of: [2])) }

        // A blob damaged on disk is caught by verification.
        try Data("tampered".utf8).write(to: URL(fileURLWithPath: store.blobPath(digest)))
        #expect(throws: ImageStoreError.self) { try store.verifyBlob(digest) }
        #expect(throws: ImageStoreError.self) { try store.readBlob(Digest.sha256(of: [42])) }
    }

    @Test func tagsListsResolvesAndUntags() throws {
        let dir = try TemporaryDirectory("tags")
        defer { dir.remove() }
        let store = try ImageStore(root: dir.file("store"))
        let (m1, _) = try storedImage(store, dir: dir, files: [file("a", "1")], tag: "docker.io/library/one:1")
        let (m2, _) = try storedImage(store, dir: dir, files: [file("b", "2")], tag: "docker.io/library/two:1")
        try store.tag("docker.io/library/one:latest", descriptor: m1)
        #expect(try store.list().map(\.reference) == ["docker.io/library/one:1", "docker.io/library/one:latest", "docker.io/library/two:1"])
        #expect(try store.resolve("docker.io/library/two:1")?.digest == m2.digest)
        let image = try store.image("docker.io/library/one:1")
        #expect(image.manifest.layers.count == 1)
        #expect(image.config.os == "linux")
        #expect(image.size > 0)
        #expect { _ = try store.image("docker.io/library/nope:1") } throws: { "\($0)".contains("idpbuild pull docker.io/library/nope:1") }

        // Re-tagging moves the tag; untag by digest prefix removes every tag of that image.
        try store.tag("docker.io/library/two:1", descriptor: m1)
        #expect(try store.resolve("docker.io/library/two:1")?.digest == m1.digest)
        let removed = try store.untag(String(m1.digest.encoded.prefix(12)))
        #expect(removed.count == 3)
        #expect(try store.list().isEmpty)
        #expect(throws: ImageStoreError.self) { try store.untag("docker.io/library/one:1") }
        #expect(throws: ImageStoreError.self) { try store.tag("x", descriptor: Descriptor(mediaType: "m", digest: Digest.sha256(of: [5]), size: 1)) }
    }

    @Test func shortNamesResolveToTheGiteaReferenceFirst() throws {
        let dir = try TemporaryDirectory("names")
        defer { dir.remove() }
        let store = try ImageStore(root: dir.file("store"))
        let gitea = "gitea.example:8443"
        let (built, _) = try storedImage(store, dir: dir, files: [file("a", "1")], tag: "\(gitea)/giteaadmin/hello:dev")
        let (hub, _) = try storedImage(store, dir: dir, files: [file("b", "2")], tag: "docker.io/library/hello:dev")
        try store.tag("\(gitea)/giteaadmin/hello:v2", descriptor: built)
        let (other, _) = try storedImage(store, dir: dir, files: [file("c", "3")], tag: "docker.io/library/other:1")
        let names = ImageNameResolver(registry: gitea, namespace: "giteaadmin")

        // The same expansion as `idpbuild build -t`: REGISTRY/NAMESPACE/NAME:TAG, then Docker's normalisation.
        #expect(names.candidates(for: "hello:dev").map(\.description) == ["\(gitea)/giteaadmin/hello:dev", "docker.io/library/hello:dev"])
        #expect(names.candidates(for: "team/hello").map(\.description) == ["\(gitea)/giteaadmin/team/hello:latest", "docker.io/team/hello:latest"])
        #expect(names.candidates(for: "localhost/app").map(\.description) == ["localhost/app:latest"])
        #expect(try names.expand("hello:v3").description == "\(gitea)/giteaadmin/hello:v3")
        #expect(try names.expand("docker.io/library/hello:v3").description == "docker.io/library/hello:v3")

        // Both candidates exist: the Gitea one wins, and the note says so.
        let both = try names.resolve("hello:dev", in: store)
        #expect(both.match == .gitea)
        #expect(both.reference == "\(gitea)/giteaadmin/hello:dev")
        #expect(both.records.map(\.descriptor.digest) == [built.digest])
        #expect(both.shadowed == ["docker.io/library/hello:dev"])
        #expect(both.note?.hasPrefix("hello:dev → \(gitea)/giteaadmin/hello:dev") == true)
        #expect(both.note?.contains("docker.io/library/hello:dev") == true)

        // Only Docker's normalisation exists.
        let hubOnly = try names.resolve("other:1", in: store)
        #expect(hubOnly.match == .docker)
        #expect(hubOnly.records.map(\.descriptor.digest) == [other.digest])
        #expect(hubOnly.note == "other:1 → docker.io/library/other:1")

        // A full reference is taken as typed, with no note.
        let full = try names.resolve("docker.io/library/hello:dev", in: store)
        #expect(full.match == .exact)
        #expect(full.records.map(\.descriptor.digest) == [hub.digest])
        #expect(full.note == nil)

        // Then a manifest digest prefix; every tag of that image.
        let prefix = try names.resolve(String(built.digest.encoded.prefix(8)), in: store)
        #expect(prefix.match == .digestPrefix)
        #expect(prefix.records.map(\.reference) == ["\(gitea)/giteaadmin/hello:dev", "\(gitea)/giteaadmin/hello:v2"])
        #expect(try names.resolve("sha256:" + built.digest.encoded, in: store).match == .digestPrefix)
        #expect(try names.resolve(built.digest.encoded, in: store).match == .digestPrefix)

        // A name without a tag can stand for every tag of its repository.
        let repository = try names.resolve("hello", in: store, anyTag: true)
        #expect(repository.match == .gitea)
        #expect(repository.records.map(\.reference) == ["\(gitea)/giteaadmin/hello:dev", "\(gitea)/giteaadmin/hello:v2"])
        #expect(try names.resolve("other", in: store, anyTag: true).records.map(\.reference) == ["docker.io/library/other:1"])

        // Nothing matches: the error lists what was tried.
        #expect { _ = try names.resolve("nope:1", in: store) } throws: { error in
            let text = "\(error)"
            return text.contains("no image nope:1") && text.contains("\(gitea)/giteaadmin/nope:1") && text.contains("docker.io/library/nope:1")
        }
        #expect { _ = try names.resolve("hello", in: store) } throws: { "\($0)".contains("\(gitea)/giteaadmin/hello:latest") }
        #expect(throws: OCIError.self) { _ = try names.resolve("Bad:Ref", in: store) }
        // Another registry or namespace (build's --registry/--namespace) changes what a short name means.
        #expect(try ImageNameResolver(registry: "elsewhere:5000", namespace: "giteaadmin").resolve("hello:dev", in: store).match == .docker)
    }

    @Test func indexesPickThePlatform() throws {
        let dir = try TemporaryDirectory("platform")
        defer { dir.remove() }
        let store = try ImageStore(root: dir.file("store"))
        let (m, _) = try storedImage(store, dir: dir, files: [file("a")], tag: "single")
        var amd = m; amd.platform = Platform(architecture: "amd64")
        var arm = m; arm.platform = Platform(architecture: "arm64")
        let index = try store.putBlob(try CanonicalJSON.encode(ImageIndex(manifests: [arm, amd])), mediaType: MediaType.ociIndex)
        try store.tag("multi", descriptor: index)
        #expect(try store.image("multi", platform: Platform(architecture: "amd64")).descriptor.digest == m.digest)
        #expect(throws: OCIError.self) { _ = try store.image("multi", platform: Platform(architecture: "s390x")) }
        #expect(try store.referencedBlobs().contains(index.digest))
    }

    @Test func garbageCollectionKeepsWhatTagsReach() throws {
        let dir = try TemporaryDirectory("gc")
        defer { dir.remove() }
        let store = try ImageStore(root: dir.file("store"))
        let (m1, l1) = try storedImage(store, dir: dir, files: [file("a", "1")], tag: "one")
        let (m2, l2) = try storedImage(store, dir: dir, files: [file("b", "2")], tag: "two")
        let image = try store.image("one")
        let tree = try store.unpackLayer(l1, chainID: image.config.rootfs.chainIDs[0])
        #expect(read(tree + "/a") == "1")
        #expect(try store.unpackLayer(l1, chainID: image.config.rootfs.chainIDs[0]) == tree)
        try Data("junk".utf8).write(to: URL(fileURLWithPath: dir.file("store/tmp/stale")))

        try store.untag("one")
        let report = try store.collectGarbage()
        #expect(report.blobs == 3)  // manifest, config and layer of "one"
        #expect(report.layers == 1)
        #expect(report.temporaryFiles == 1)
        #expect(!store.hasBlob(m1.digest) && !store.hasBlob(l1.digest))
        #expect(store.hasBlob(m2.digest) && store.hasBlob(l2.digest))
        #expect(!store.hasLayer(image.config.rootfs.chainIDs[0]))
        let again = try store.collectGarbage()
        #expect(again == CollectionReport(blobs: 0, bytes: 0, layers: 0, temporaryFiles: 0))
        // A grace period spares fresh files.
        try Data("fresh".utf8).write(to: URL(fileURLWithPath: dir.file("store/tmp/fresh")))
        #expect(try store.collectGarbage(gracePeriod: 3600).temporaryFiles == 0)
    }

    @Test func failedUnpackLeavesNoTree() throws {
        let dir = try TemporaryDirectory("badlayer")
        defer { dir.remove() }
        let store = try ImageStore(root: dir.file("store"))
        try makeTar(dir.file("evil"), [file("ok", "1"), file("../evil", "x")])
        let d = try store.putBlob(Array(try Data(contentsOf: URL(fileURLWithPath: dir.file("evil")))), mediaType: MediaType.ociLayer)
        #expect(throws: ImageStoreError.self) { try store.unpackLayer(d, chainID: d.digest) }
        #expect(!store.hasLayer(d.digest))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("store/layers")).isEmpty)
    }

    @Test func defaultRootFollowsXDG() {
        #expect(ImageStore.defaultRoot(environment: ["XDG_DATA_HOME": "/x/data", "HOME": "/h"]) == "/x/data/idpbuild")
        #expect(ImageStore.defaultRoot(environment: ["HOME": "/h"]) == "/h/.local/share/idpbuild")
        #expect(ImageStore.defaultRoot(environment: ["XDG_DATA_HOME": "relative", "HOME": "/h"]) == "/h/.local/share/idpbuild")
    }

    @Test func errorsReadWell() {
        #expect(ImageStoreError.io(path: "/p", operation: "write", errno: ENOSPC).description.contains("idpbuild prune"))
        #expect(ImageStoreError.corrupt(path: "/i", detail: "d").description.contains("/i"))
        #expect(ImageStoreError.blobNotFound(Digest.sha256(of: [])).description.contains("pull"))
    }
}
