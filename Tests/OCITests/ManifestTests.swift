import Foundation
import Testing
@testable import OCI

@Suite struct ManifestTests {
    let d1 = Digest.sha256(of: Array("config".utf8))
    let d2 = Digest.sha256(of: Array("layer".utf8))

    @Test func decodesAllFourManifestTypes() throws {
        let image = """
        {"schemaVersion":2,"mediaType":"\(MediaType.dockerManifest)","config":{"mediaType":"\(MediaType.dockerConfig)","digest":"\(d1)","size":6},
         "layers":[{"mediaType":"\(MediaType.dockerLayerGzip)","digest":"\(d2)","size":5}]}
        """
        guard case .image(let m) = try ManifestDocument(decoding: Array(image.utf8), contentType: MediaType.dockerManifest) else {
            Issue.record("expected image"); return
        }
        #expect(m.layers.first?.digest == d2)
        #expect(LayerCompression(mediaType: m.layers[0].mediaType) == .gzip)

        let oci = """
        {"schemaVersion":2,"config":{"mediaType":"\(MediaType.ociConfig)","digest":"\(d1)","size":6},"layers":[]}
        """
        let ociDoc = try ManifestDocument(decoding: Array(oci.utf8), contentType: nil)
        #expect(ociDoc.mediaType == MediaType.ociManifest)

        for type in [MediaType.ociIndex, MediaType.dockerManifestList] {
            let index = """
            {"schemaVersion":2,"mediaType":"\(type)","manifests":[
              {"mediaType":"\(MediaType.ociManifest)","digest":"\(d1)","size":10,"platform":{"architecture":"arm64","os":"linux","variant":"v8"}},
              {"mediaType":"\(MediaType.ociManifest)","digest":"\(d2)","size":10,"platform":{"architecture":"amd64","os":"linux"}},
              {"mediaType":"\(MediaType.ociManifest)","digest":"\(d2)","size":10,"platform":{"architecture":"unknown","os":"unknown"}}]}
            """
            guard case .index(let i) = try ManifestDocument(decoding: Array(index.utf8), contentType: "\(type); charset=utf-8") else {
                Issue.record("expected index"); return
            }
            #expect(try i.manifest(for: Platform(architecture: "x86_64")).digest == d2)
            #expect(try i.manifest(for: Platform(parsing: "linux/arm64")).digest == d1)
            #expect(try i.manifest(for: Platform(parsing: "linux/arm64/v8")).digest == d1)
            #expect {
                try i.manifest(for: Platform(parsing: "linux/s390x"))
            } throws: { "\($0)".contains("linux/amd64") && "\($0)".contains("linux/s390x") }
        }
    }

    @Test func rejectsBadManifests() {
        func check(_ json: String, _ fragment: String) {
            #expect {
                _ = try ManifestDocument(decoding: Array(json.utf8), contentType: nil)
            } throws: { "\($0)".contains(fragment) }
        }
        check("{not json", "not valid JSON")
        check("{\"schemaVersion\":1,\"name\":\"x\",\"fsLayers\":[]}", "unsupported manifest media type")
        check("{\"schemaVersion\":2,\"mediaType\":\"\(MediaType.ociManifest)\",\"layers\":[]}", "missing field \"config\"")
        check("{\"schemaVersion\":2}", "neither a mediaType")
        check("{\"schemaVersion\":3,\"layers\":[]}", "schemaVersion must be 2")
        check("{\"schemaVersion\":2,\"mediaType\":\"text/plain\"}", "text/plain")
        check("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"sha256:12\",\"size\":1},\"layers\":[]}", "64 lowercase hex")
    }

    @Test func configDecodesHistoryAndComputesChainIDs() throws {
        let json = """
        {"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["/bin/sh"],"ExposedPorts":{"80/tcp":{}}},
         "rootfs":{"type":"layers","diff_ids":["\(d1)","\(d2)"]},
         "history":[{"created_by":"ADD file","created":"2024-01-01T00:00:00Z"},{"created_by":"CMD","empty_layer":true}]}
        """
        let config = try ImageConfig.decode(Array(json.utf8))
        #expect(config.config?.Cmd == ["/bin/sh"])
        #expect(config.config?.ExposedPorts?["80/tcp"] != nil)
        #expect(config.history?[1].emptyLayer == true)
        #expect(config.platform == Platform(architecture: "amd64"))
        let chain = config.rootfs.chainIDs
        #expect(chain[0] == d1)
        #expect(chain[1] == Digest.sha256(of: Array("\(d1) \(d2)".utf8)))
        let reencoded = try CanonicalJSON.encode(config)
        #expect(String(decoding: reencoded, as: UTF8.self).contains("\"diff_ids\""))
        #expect(try ImageConfig.decode(reencoded) == config)
        #expect { _ = try ImageConfig.decode(Array("{\"os\":\"linux\"}".utf8)) } throws: { "\($0)".contains("architecture") }
    }

    @Test func platformParsing() throws {
        #expect(try Platform(parsing: "linux/arm/v7").description == "linux/arm/v7")
        #expect(Platform(architecture: "armhf").description == "linux/arm/v7")
        #expect(throws: OCIError.self) { _ = try Platform(parsing: "linux") }
        #expect(throws: OCIError.self) { _ = try Platform(parsing: "linux//") }
        #expect(Platform.current.os == "linux")
    }

    @Test func canonicalEncodingIsStable() throws {
        let m = ImageManifest(config: Descriptor(mediaType: MediaType.ociConfig, digest: d1, size: 6),
                              layers: [Descriptor(mediaType: MediaType.ociLayerGzip, digest: d2, size: 5)])
        let a = try CanonicalJSON.encode(m)
        let b = try CanonicalJSON.encode(m)
        #expect(a == b)
        guard case .image(let back) = try ManifestDocument(decoding: a, contentType: nil) else { Issue.record("kind"); return }
        #expect(back == m)
        let idx = ImageIndex(manifests: [Descriptor(mediaType: MediaType.ociManifest, digest: d1, size: 1)])
        #expect(try ManifestDocument(decoding: CanonicalJSON.encode(idx), contentType: nil) == .index(idx))
    }
}
