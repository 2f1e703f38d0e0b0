import BuildService
import DockerfileSyntax
import Foundation
import JSONRPC

/// The argument of `idpbuild.build` and `idpbuild.buildAndPush`: the seed's `BuildRequest` fields, all optional,
/// plus the document's `uri`; what is missing comes from the document and the settings.
struct BuildArguments: Decodable, Sendable, Hashable {
    /// The Dockerfile as the editor names it (`file://…`).
    var uri: String?
    /// The Dockerfile's path (absolute, or relative to the server's working directory).
    var dockerfilePath: String?
    /// The build context (default: the Dockerfile's folder).
    var contextDir: String?
    /// The repository name under the namespace (default: the context folder's name), or a full reference.
    var imageName: String?
    /// The tag (default `latest`).
    var imageTag: String?
    /// The registry (default: the `registry` setting).
    var registry: String?
    /// The namespace (default: the `namespace` setting).
    var namespace: String?
    /// Build arguments, over the `buildArgs` setting.
    var buildArgs: [String: String]?
    /// The stage to build.
    var target: String?
    /// `linux/ARCH` (this machine's only).
    var platform: String?
    /// Run every step.
    var noCache: Bool?

    static let fields = ["uri", "dockerfilePath", "contextDir", "imageName", "imageTag", "registry", "namespace", "buildArgs",
                         "target", "platform", "noCache"]

    /// Decodes `arguments[0]`; a missing argument, a field of the wrong type or an unknown field is -32602 naming it.
    static func decode(_ arguments: [JSONValue], context: CommandContext) throws(ResponseError) -> BuildArguments {
        guard let first = arguments.first, !first.isNull else {
            throw LanguageServerError.invalidArgument(command: context.command,
                detail: "argument 1 is missing: give an object such as {\"uri\": \"file:///path/Dockerfile\"} (see protocol/README.md, Commands)").responseError
        }
        guard let object = first.objectValue else {
            throw LanguageServerError.invalidArgument(command: context.command,
                detail: "arguments[0] must be an object such as {\"uri\": \"file:///path/Dockerfile\"}, not \(first.typeDescription)").responseError
        }
        for key in object.keys.sorted() where !fields.contains(key) {
            let hint = Suggest.closest(to: key, in: fields).map { " (did you mean \($0)?)" } ?? ""
            throw LanguageServerError.invalidArgument(command: context.command,
                detail: "arguments[0].\(key) is not a build field\(hint); the fields are \(fields.joined(separator: ", "))").responseError
        }
        let decoded = try context.argument(arguments, 0, as: BuildArguments.self)
        if decoded.uri == nil && decoded.dockerfilePath == nil {
            throw LanguageServerError.invalidArgument(command: context.command,
                detail: "arguments[0] needs uri (the document, file://…) or dockerfilePath").responseError
        }
        if decoded.uri == nil, let path = decoded.dockerfilePath, !path.hasPrefix("/"), decoded.contextDir == nil {
            throw LanguageServerError.invalidArgument(command: context.command,
                detail: "arguments[0].dockerfilePath \(JSONText.quoted(path)) is relative to contextDir, which is missing: give contextDir, an absolute dockerfilePath, or uri").responseError
        }
        if let uri = decoded.uri, DocumentURI.path(of: uri) == nil {
            throw LanguageServerError.invalidArgument(command: context.command,
                detail: "arguments[0].uri \(JSONText.quoted(uri)) is not a file:// URI; only files on this machine can be built").responseError
        }
        return decoded
    }
}

/// `idpbuild.build` and `idpbuild.buildAndPush`: build the Dockerfile (and push it), with progress, build output in
/// the log, failures as diagnostics; the result is the seed's `BuildResponse`.
struct ImageBuildCommand: ServerCommand {
    /// `idpbuild.build` or `idpbuild.buildAndPush`.
    let name: String
    let push: Bool
    let features: BuildFeatures

    static let buildAndPush = "idpbuild.buildAndPush"
    static let build = "idpbuild.build"

    func run(_ arguments: [JSONValue], context: CommandContext) async throws -> JSONValue {
        let decoded = try BuildArguments.decode(arguments, context: context)
        let resolved = try await features.resolve(decoded, context: context)
        let response = try await features.build(resolved, push: push, context: context)
        return try JSONValue(encoding: response)
    }
}

/// `idpbuild.cancelBuild`: cancels the build of a Dockerfile (argument: its URI or path) or, without an argument,
/// every build this server runs. The result is `{"cancelled": N}`; the builds' own requests answer with their results.
struct CancelBuildCommand: ServerCommand {
    let name = "idpbuild.cancelBuild"
    let features: BuildFeatures

    func run(_ arguments: [JSONValue], context: CommandContext) async throws -> JSONValue {
        guard let first = arguments.first, !first.isNull else {
            return ["cancelled": .integer(await features.coordinator.cancelAll())]
        }
        let target: String
        switch first {
        case .string(let text): target = text
        case .object(let object) where object["uri"]?.stringValue != nil: target = object["uri"]!.stringValue!
        default:
            throw LanguageServerError.invalidArgument(command: name,
                detail: "arguments[0] must be the Dockerfile's URI (a string such as \"file:///path/Dockerfile\"), not \(first.typeDescription); give no argument to cancel every build").responseError
        }
        let path: String
        if target.hasPrefix("file://") {
            guard let decoded = DocumentURI.path(of: target) else {
                throw LanguageServerError.invalidArgument(command: name, detail: "arguments[0] \(JSONText.quoted(target)) is not a valid file:// URI").responseError
            }
            path = decoded
        } else if target.contains("://") {
            throw LanguageServerError.invalidArgument(command: name, detail: "arguments[0] \(JSONText.quoted(target)) is not a file:// URI").responseError
        } else {
            path = BuildFeatures.absolutePath(target)
        }
        let cancelled = await features.coordinator.cancel(dockerfilePath: path)
        return ["cancelled": .integer(cancelled ? 1 : 0)]
    }
}

extension JSONValue {
    /// The JSON of an encodable value.
    init<Value: Encodable>(encoding value: Value) throws {
        self = try JSONDecoder().decode(JSONValue.self, from: JSONText.encoder().encode(value))
    }
}
