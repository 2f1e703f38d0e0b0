import BuildEngine
import Foundation
import ImageStore

extension Builder {
    /// Whether each instruction of `request`'s Dockerfile would come from the build cache (`cached`), run
    /// (`willRun`) or only change the config (`metadata`), computed in this process from the store's cache records
    /// and the context's file metadata: nothing runs, nothing is pulled, no worker starts (editors show it as inlay
    /// hints). Every stage is planned, whatever the target. Throws `BuildEngineError` for a Dockerfile with errors or
    /// a missing context, `BuildServiceError` for a malformed request.
    public func cacheStates(_ request: BuildRequest) async throws -> [StepCacheState] {
        var request = request
        try request.validate()
        let options = BuildOptions(dockerfilePath: request.absoluteDockerfilePath, contextDirectory: request.absoluteContextDir,
                                   tags: [request.fullTag(config: config)], buildArguments: request.buildArgs, target: request.target,
                                   platform: request.platform, noCache: request.noCache)
        let store = try ImageStore(root: config.storeRoot.map(Self.absolute) ?? ImageStore.defaultRoot())
        return try await BuildEngine(store: store, transfer: nil).cacheStates(options)
    }
}
