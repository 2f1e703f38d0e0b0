import JSONRPC

/// `workspace/didChangeConfiguration`: settings changed; `settings` holds them (push) or is null (pull them).
public struct DidChangeConfigurationNotification: LSPNotification {
    /// `workspace/didChangeConfiguration`.
    public static let method = "workspace/didChangeConfiguration"
    /// The settings, or null.
    public var settings: JSONValue?

    /// Creates the notification.
    public init(settings: JSONValue?) { self.settings = settings }
}

/// One section the server asks for in `workspace/configuration`.
public struct ConfigurationItem: Codable, Sendable, Hashable {
    /// The document the settings apply to.
    public var scopeUri: String?
    /// The section (`idpbuild`).
    public var section: String?

    /// Creates an item.
    public init(scopeUri: String?, section: String?) {
        self.scopeUri = scopeUri
        self.section = section
    }
}

/// `workspace/configuration`: the server asks the client for settings sections.
public struct ConfigurationRequest: LSPRequest {
    /// `workspace/configuration`.
    public static let method = "workspace/configuration"
    /// One value per item.
    public typealias Response = [JSONValue]
    /// The sections.
    public var items: [ConfigurationItem]

    /// Creates the request.
    public init(items: [ConfigurationItem]) { self.items = items }
}

/// `workspace/applyEdit`: the server asks the client to change documents.
public struct ApplyWorkspaceEditRequest: LSPRequest {
    /// `workspace/applyEdit`.
    public static let method = "workspace/applyEdit"
    /// Whether it was applied.
    public typealias Response = ApplyWorkspaceEditResult
    /// A label for the undo stack.
    public var label: String?
    /// The edit.
    public var edit: WorkspaceEdit

    /// Creates the request.
    public init(label: String?, edit: WorkspaceEdit) {
        self.label = label
        self.edit = edit
    }
}

/// The answer to `workspace/applyEdit`.
public struct ApplyWorkspaceEditResult: Codable, Sendable, Hashable {
    /// Whether the edit was applied.
    public var applied: Bool
    /// Why not, if the client says.
    public var failureReason: String?

    /// Creates a result.
    public init(applied: Bool, failureReason: String? = nil) {
        self.applied = applied
        self.failureReason = failureReason
    }
}

/// `workspace/executeCommand`: run one of the server's commands.
public struct ExecuteCommandRequest: LSPRequest {
    /// `workspace/executeCommand`.
    public static let method = "workspace/executeCommand"
    /// The command's result (its shape is the command's).
    public typealias Response = JSONValue
    /// The command's identifier.
    public var command: String
    /// Its arguments.
    public var arguments: [JSONValue]?
    /// A progress token chosen by the client, if it wants progress under it.
    public var workDoneToken: ProgressToken?

    /// Creates the request.
    public init(command: String, arguments: [JSONValue]? = nil, workDoneToken: ProgressToken? = nil) {
        self.command = command
        self.arguments = arguments
        self.workDoneToken = workDoneToken
    }
}
