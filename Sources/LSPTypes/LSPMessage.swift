import JSONRPC

/// An LSP request: its parameters are the struct's fields; it names its method and the type of its result.
public protocol LSPRequest: Codable, Sendable {
    /// The type of the `result`.
    associatedtype Response: Codable & Sendable
    /// The method name, as in the specification.
    static var method: String { get }
}

/// An LSP notification: its parameters are the struct's fields; it names its method.
public protocol LSPNotification: Codable, Sendable {
    /// The method name, as in the specification.
    static var method: String { get }
}

/// The result of a request that answers nothing (`null`), such as `shutdown`.
public struct VoidResponse: Codable, Sendable, Hashable {
    /// Creates the empty result.
    public init() {}

    /// Decodes `null` (or anything).
    public init(from decoder: any Decoder) throws {}

    /// Encodes `null`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encodeNil()
    }
}

/// A request or notification without parameters.
public struct NoParams: Codable, Sendable, Hashable {
    /// Creates it.
    public init() {}
}

/// A progress token: a number or a string chosen by whoever creates it.
public typealias ProgressToken = RequestID
