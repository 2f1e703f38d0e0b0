import OCI

/// What an image name typed on the command line found in the store, and how.
public struct ImageResolution: Sendable, Hashable {
    /// Which rule found the image.
    public enum Match: String, Sendable, Hashable, Codable {
        /// A short name, as the Gitea reference `idpbuild build` tags it (`REGISTRY/NAMESPACE/NAME:TAG`).
        case gitea
        /// A short name, as Docker's normalisation (`docker.io/library/NAME:TAG`).
        case docker
        /// A name with a registry host, as typed (canonicalised).
        case exact
        /// A manifest digest or its hex prefix.
        case digestPrefix
    }

    /// The name as typed.
    public var name: String
    /// The rule that found the image.
    public var match: Match
    /// The reference (or, for a repository, `REGISTRY/REPOSITORY`; for a digest prefix, the first tag) the name stands for.
    public var reference: String
    /// The tags found: one for a reference, every tag of the image for a digest prefix, every tag of a repository.
    public var records: [ImageRecord]
    /// Tags a later candidate also names in the store, which lost to this one (Docker Hub's when the Gitea one won).
    public var shadowed: [String]

    /// One line naming the reference a short name or digest prefix resolved to (`hello:dev → REGISTRY/NAMESPACE/hello:dev`),
    /// saying when another candidate lost; nil for a name taken as typed.
    public var note: String? {
        switch match {
        case .exact: return nil
        case .digestPrefix: return "\(name) → \(reference) (\(records.first.map { $0.descriptor.digest.description } ?? ""))"
        case .gitea, .docker:
            guard !shadowed.isEmpty else { return "\(name) → \(reference)" }
            return "\(name) → \(reference) (also in the store: \(shadowed.joined(separator: ", ")); the Gitea reference wins, "
                + "as podman's localhost/ does; give the full reference for the other)"
        }
    }
}

/// Turns image names typed on the command line into store references, one rule for every command: a short name
/// (`hello`, `hello:dev`, `team/hello`) is first the Gitea reference `idpbuild build -t` and `idpbuild push` give it
/// (`REGISTRY/NAMESPACE/NAME:TAG`), then Docker's normalisation (`docker.io/library/NAME:TAG`), then a manifest digest prefix.
public struct ImageNameResolver: Sendable, Hashable {
    /// The Gitea registry host[:port] short names live under.
    public var registry: String
    /// The namespace (Gitea owner) short names live under.
    public var namespace: String

    /// Makes a resolver for short names under `registry/namespace`.
    public init(registry: String, namespace: String) {
        self.registry = registry
        self.namespace = namespace
    }

    /// The reference build and push give a name: a short name under `REGISTRY/NAMESPACE` (tag `latest` when none),
    /// anything else as Docker parses it.
    public func expand(_ name: String, defaultTag: Bool = true) throws -> Reference {
        guard Reference.isShortName(name) else { return try Reference(parsing: name, defaultTag: defaultTag) }
        return try Reference(parsing: "\(registry)/\(namespace)/\(name)", defaultTag: defaultTag)
    }

    /// The references a name may mean, in the order they are looked up: for a short name the Gitea reference, then
    /// Docker's; else the name itself. Empty when the name is not a valid reference.
    public func candidates(for name: String, defaultTag: Bool = true) -> [Reference] {
        guard let parsed = try? Reference(parsing: name, defaultTag: defaultTag) else { return [] }
        guard Reference.isShortName(name), let gitea = try? expand(name, defaultTag: defaultTag), gitea != parsed else { return [parsed] }
        return [gitea, parsed]
    }

    /// Finds `name` in the store: the first candidate reference tagged there (with `anyTag`, a name without a tag or
    /// digest matches every tag of its repository), else a manifest digest prefix. Throws `ImageStoreError.nameNotFound`
    /// listing what was tried, or the parse error of a name that is neither a reference nor a digest prefix.
    public func resolve(_ name: String, in store: ImageStore, anyTag: Bool = false) throws -> ImageResolution {
        let records = try store.list()
        let untagged = anyTag && (try? Reference(parsing: name, defaultTag: false)).map { $0.tag == nil && $0.digest == nil } == true
        let candidates = candidates(for: name, defaultTag: !untagged)
        let short = candidates.count > 1
        func found(_ candidate: Reference) -> [ImageRecord] {
            if untagged {
                return records.filter { (try? Reference(parsing: $0.reference, defaultTag: false))?.name == candidate.name }
            }
            return records.filter { $0.reference == candidate.description }
        }
        for (index, candidate) in candidates.enumerated() {
            let hits = found(candidate)
            guard !hits.isEmpty else { continue }
            let shadowed = candidates.dropFirst(index + 1).flatMap { found($0).map(\.reference) }
            return ImageResolution(name: name, match: short ? (index == 0 ? .gitea : .docker) : .exact,
                                   reference: untagged ? candidate.name : candidate.description, records: hits, shadowed: shadowed)
        }
        var tried = candidates.map { untagged ? $0.name : $0.description }
        if let hex = ImageStore.digestPrefix(name) {
            let hits = records.filter { $0.descriptor.digest.encoded.hasPrefix(hex) }
            let digests = Set(hits.map(\.descriptor.digest))
            if digests.count > 1 {
                throw ImageStoreError.invalidArgument("\"\(name)\" matches \(digests.count) different images; give more of the digest")
            }
            if let first = hits.first {
                return ImageResolution(name: name, match: .digestPrefix, reference: first.reference, records: hits, shadowed: [])
            }
            tried.append("a manifest digest starting \(hex)")
        }
        if candidates.isEmpty && tried.isEmpty { _ = try Reference(parsing: name) }  // throws the parse error
        throw ImageStoreError.nameNotFound(name, tried: tried)
    }
}
