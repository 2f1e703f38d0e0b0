import Foundation

/// A privilege a build must be started with before a Dockerfile may use it (BuildKit's `--allow`).
public enum BuildEntitlement: String, Sendable, Codable, Hashable, CaseIterable {
    /// `RUN --network=host`: the step shares the host's network, and every service on its loopback.
    case networkHost = "network.host"

    /// Parses `--allow` values; throws a message naming the known ones.
    public static func parse(_ values: [String]) throws -> Set<BuildEntitlement> {
        var result = Set<BuildEntitlement>()
        for value in values.flatMap({ $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }) where !value.isEmpty {
            if value == "security.insecure" {
                throw BuildEntitlementError(message: "--allow security.insecure is not supported: idpbuild runs every RUN rootless and sandboxed")
            }
            guard let entitlement = BuildEntitlement(rawValue: value) else {
                throw BuildEntitlementError(message: "--allow \(value): unknown entitlement; known: \(allCases.map(\.rawValue).joined(separator: ", "))")
            }
            result.insert(entitlement)
        }
        return result
    }
}

/// An `--allow` value that is not an entitlement idpbuild grants.
public struct BuildEntitlementError: Error, Sendable, CustomStringConvertible {
    /// What was wrong and what is known.
    public let message: String
    /// The message.
    public var description: String { message }
}
