import Foundation
import OCI
import Registry
import TestSupport

/// Pushes a test image's blobs and manifest; returns how each blob got there.
@discardableResult
func push(_ image: TestImage, with client: RegistryClient, repository: String, tag: String) async throws -> [UploadOutcome] {
    let layer = try await client.uploadBlob(repository: repository, descriptor: image.layer, from: image.layerPath)
    let config = try await client.uploadBlob(repository: repository, descriptor: image.config, from: image.configPath)
    try await client.putManifest(repository: repository, reference: tag, bytes: image.manifest, mediaType: MediaType.ociManifest)
    return [layer, config]
}

/// Pulls an image back and checks every digest; returns the manifest.
func pullAndVerify(_ image: TestImage, with client: RegistryClient, repository: String, reference: String, into dir: String) async throws -> FetchedManifest {
    let fetched = try await client.manifest(repository: repository, reference: reference)
    guard case .image(let manifest) = fetched.document else { throw TestFailure("expected an image manifest") }
    try await client.downloadBlob(repository: repository, descriptor: manifest.config, to: dir + "/config.pulled")
    try await client.downloadBlob(repository: repository, descriptor: manifest.layers[0], to: dir + "/layer.pulled")
    guard try TestImage.digestOfFile(dir + "/layer.pulled") == image.layer.digest,
          try TestImage.digestOfFile(dir + "/config.pulled") == image.config.digest else {
        throw TestFailure("pulled blobs differ from pushed ones")
    }
    return fetched
}

/// `skopeo inspect` of an image, decoded.
func skopeoInspect(_ ref: String, _ options: [String]) throws -> [String: Any] {
    let out = try TestSupport.check(["skopeo", "inspect"] + options + ["docker://\(ref)"])
    return try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any] ?? [:]
}

/// Starts the fixture server in a mode; stop it in a defer.
func startTestServer(_ arguments: [String], dir: TemporaryDirectory, name: String) throws -> ServerProcess {
    try ServerProcess(["python3", TestSupport.fixtures.path + "/servers/testserver.py"] + arguments,
                      logPath: dir.file("\(name).log"), announcesPort: true)
}

/// What the fault-injecting proxy saw.
func proxyLog(_ port: Int) throws -> [[String: Any]] {
    let out = try TestSupport.check(["python3", "-c", "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:\(port)/_log').read().decode())"])
    return try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]] ?? []
}
