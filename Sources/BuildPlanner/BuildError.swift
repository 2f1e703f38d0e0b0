import BuildEvents
import DockerfileSyntax

/// Why a build failed; each case says what failed, where, and what to try.
public enum BuildError: Error, Sendable, CustomStringConvertible {
    /// The Dockerfile could not be read.
    case dockerfileUnreadable(path: String, detail: String)
    /// The context directory is missing or not a directory.
    case contextMissing(path: String)
    /// The Dockerfile has error diagnostics (each `line:column: message`).
    case dockerfileErrors(path: String, errors: [String])
    /// `--target` names no stage.
    case unknownTarget(String, available: [String])
    /// An instruction cannot be executed as written (bad value, unsupported feature), at its range.
    case invalidInstruction(instruction: String, range: SourceRange?, detail: String)
    /// A COPY or ADD source is missing or outside the context.
    case sourceNotFound(instruction: String, range: SourceRange?, source: String, detail: String)
    /// The base image could not be found or pulled.
    case baseImage(instruction: String, range: SourceRange?, reference: String, detail: String)
    /// A RUN step exited non-zero.
    case runFailed(instruction: String, range: SourceRange?, exitCode: Int32, tail: [String])
    /// The sandbox or the layer writer failed (not the command itself).
    case stepFailed(instruction: String, range: SourceRange?, detail: String)
    /// Something this engine does not do.
    case unsupported(instruction: String, range: SourceRange?, detail: String)
    /// The instruction needs an entitlement the build was not started with.
    case entitlementRequired(instruction: String, range: SourceRange?, entitlement: BuildEntitlement)
    /// A file system operation failed.
    case io(path: String, operation: String, errno: Int32)

    /// The instruction's range, when the error is about one.
    public var range: SourceRange? {
        switch self {
        case .invalidInstruction(_, let range, _), .sourceNotFound(_, let range, _, _), .baseImage(_, let range, _, _),
             .runFailed(_, let range, _, _), .stepFailed(_, let range, _), .unsupported(_, let range, _),
             .entitlementRequired(_, let range, _):
            return range
        default:
            return nil
        }
    }

    /// `line N` for an instruction's range (1-based).
    static func at(_ range: SourceRange?) -> String { range.map { " (line \($0.start.line + 1))" } ?? "" }

    /// A sentence a person can act on.
    public var description: String {
        switch self {
        case let .dockerfileUnreadable(path, detail):
            return "cannot read the Dockerfile \(path): \(detail); give its path with -f"
        case .contextMissing(let path):
            return "the build context \(path) does not exist or is not a directory; pass an existing folder as CONTEXT"
        case let .dockerfileErrors(path, errors):
            return "\(path) has \(errors.count) error\(errors.count == 1 ? "" : "s") that block the build (see idpbuild check): " + errors.prefix(5).joined(separator: "; ")
        case let .unknownTarget(name, available):
            return "--target \(name) names no stage; stages: \(available.isEmpty ? "none named" : available.joined(separator: ", "))"
        case let .invalidInstruction(instruction, range, detail):
            return "\(instruction)\(Self.at(range)): \(detail)"
        case let .sourceNotFound(instruction, range, source, detail):
            return "\(instruction)\(Self.at(range)): source \"\(source)\" \(detail)"
        case let .baseImage(instruction, range, reference, detail):
            return "\(instruction)\(Self.at(range)): base image \(reference) is not available: \(detail)"
        case let .runFailed(instruction, range, exitCode, tail):
            var text = "\(instruction)\(Self.at(range)) failed with exit code \(exitCode)"
            if !tail.isEmpty { text += "; its last output:\n" + tail.map { "  " + $0 }.joined(separator: "\n") }
            return text
        case let .stepFailed(instruction, range, detail):
            return "\(instruction)\(Self.at(range)) could not run: \(detail)"
        case let .unsupported(instruction, range, detail):
            return "\(instruction)\(Self.at(range)): \(detail)"
        case let .entitlementRequired(instruction, range, entitlement):
            return "\(instruction)\(Self.at(range)): \(entitlement.rawValue) is not allowed: a RUN with --network=host reaches every " +
                "service on this machine's loopback; start the build with `idpbuild build --allow \(entitlement.rawValue)` " +
                "(editors: the setting allow: [\"\(entitlement.rawValue)\"]) if you trust this Dockerfile, or drop --network=host"
        case let .io(path, operation, code):
            let hint = code == ENOSPC ? "; the disk is full: free space (idpbuild prune) and build again" : ""
            return "\(operation) \(path) failed: \(String(cString: strerror(code)))\(hint)"
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
