import BuildEngine
import BuildEvents
import BuildPlanner
import DockerfileSyntax
import Foundation
import ImageStore

extension Builder {
    /// Whether each instruction of `request`'s Dockerfile would come from the build cache (`cached`), run
    /// (`willRun`) or only change the config (`metadata`), computed in this process from the store's cache records
    /// and the context's file metadata: nothing runs, nothing is pulled, no worker starts (editors show it as inlay
    /// hints). Every stage is planned, whatever the target. Throws `BuildError` for a Dockerfile with errors or
    /// a missing context, `BuildServiceError` for a malformed request.
    public func cacheStates(_ request: BuildRequest, dockerfile: BuildDefinition? = nil) throws -> [StepCacheState] {
        try plan(request, dockerfile: dockerfile).cacheStates
    }

    /// The plan of `request` (its Dockerfile parsed from `dockerfile` when given) against this builder's store: every
    /// step with its cache key, cached or why it will run. Nothing runs, nothing is pulled (`idpbuild build --dry-run`).
    public func plan(_ request: BuildRequest, dockerfile: BuildDefinition? = nil) throws -> BuildPlan {
        var request = request
        try request.validate()
        var config = self.config
        config.storeRoot = config.storeRoot.map(Self.absolute)
        return try Self.planHere(options(request), config: config, dockerfile: dockerfile)
    }
}
