import JSONRPC

/// `initialize`: the first request; the client says what it supports, the server what it offers.
public struct InitializeRequest: LSPRequest {
    /// `initialize`.
    public static let method = "initialize"
    /// The result.
    public typealias Response = InitializeResult

    /// Who the client is.
    public struct ClientInfo: Codable, Sendable, Hashable {
        /// The client's name.
        public var name: String
        /// The client's version.
        public var version: String?
    }

    /// The client's process id (the server does not watch it).
    public var processId: Int?
    /// Who the client is.
    public var clientInfo: ClientInfo?
    /// The workspace root (deprecated in favour of workspace folders; informational).
    public var rootUri: String?
    /// idpbuild's settings, as in `workspace/didChangeConfiguration` (see protocol/README.md).
    public var initializationOptions: JSONValue?
    /// What the client supports.
    public var capabilities: ClientCapabilities
    /// `off`, `messages` or `verbose`.
    public var trace: String?

    /// Creates the parameters.
    public init(processId: Int? = nil, rootUri: String? = nil, initializationOptions: JSONValue? = nil,
                capabilities: ClientCapabilities = ClientCapabilities()) {
        self.processId = processId
        self.rootUri = rootUri
        self.initializationOptions = initializationOptions
        self.capabilities = capabilities
    }
}

/// The answer to `initialize`.
public struct InitializeResult: Codable, Sendable, Hashable {
    /// Who the server is.
    public struct ServerInfo: Codable, Sendable, Hashable {
        /// `idpbuild`.
        public var name: String
        /// The server's version.
        public var version: String?

        /// Creates it from its fields.
        public init(name: String, version: String? = nil) {
            self.name = name
            self.version = version
        }
    }

    /// What the server offers.
    public var capabilities: ServerCapabilities
    /// Who the server is.
    public var serverInfo: ServerInfo

    /// Creates it from its fields.
    public init(capabilities: ServerCapabilities, serverInfo: ServerInfo) {
        self.capabilities = capabilities
        self.serverInfo = serverInfo
    }
}

/// `initialized`: the client has read the `initialize` result.
public struct InitializedNotification: LSPNotification {
    /// `initialized`.
    public static let method = "initialized"
}

/// `shutdown`: stop working and answer `null`; `exit` follows.
public struct ShutdownRequest: LSPRequest {
    /// `shutdown`.
    public static let method = "shutdown"
    /// `null`.
    public typealias Response = VoidResponse
}

/// `exit`: end the process (status 0 after `shutdown`, 1 otherwise).
public struct ExitNotification: LSPNotification {
    /// `exit`.
    public static let method = "exit"
}

/// What the server offers, in `initialize`'s result.
public struct ServerCapabilities: Codable, Sendable, Hashable {
    /// How document changes are sent.
    public struct TextDocumentSyncOptions: Codable, Sendable, Hashable {
        /// Whether open and close are sent.
        public var openClose: Bool
        /// 2: incremental changes.
        public var change: Int

        /// Creates it from its fields.
        public init(openClose: Bool, change: Int) {
            self.openClose = openClose
            self.change = change
        }
    }

    /// Code action options.
    public struct CodeActionOptions: Codable, Sendable, Hashable {
        /// The kinds offered.
        public var codeActionKinds: [String]

        /// Creates it from its fields.
        public init(codeActionKinds: [String]) {
            self.codeActionKinds = codeActionKinds
        }
    }

    /// Completion options.
    public struct CompletionOptions: Codable, Sendable, Hashable {
        /// Characters that open completion as they are typed.
        public var triggerCharacters: [String]

        /// Creates it from its fields.
        public init(triggerCharacters: [String]) {
            self.triggerCharacters = triggerCharacters
        }
    }

    /// Code lens options.
    public struct CodeLensOptions: Codable, Sendable, Hashable {
        /// Whether `codeLens/resolve` is served (it is not: lenses come complete).
        public var resolveProvider: Bool

        /// Creates it from its fields.
        public init(resolveProvider: Bool) {
            self.resolveProvider = resolveProvider
        }
    }

    /// Commands the server runs through `workspace/executeCommand`.
    public struct ExecuteCommandOptions: Codable, Sendable, Hashable {
        /// Their identifiers.
        public var commands: [String]

        /// Creates it from its fields.
        public init(commands: [String]) {
            self.commands = commands
        }
    }

    /// The token types and modifiers of semantic tokens.
    public struct SemanticTokensLegend: Codable, Sendable, Hashable {
        /// Token types, by index.
        public var tokenTypes: [String]
        /// Token modifiers, by bit.
        public var tokenModifiers: [String]

        /// Creates it from its fields.
        public init(tokenTypes: [String], tokenModifiers: [String]) {
            self.tokenTypes = tokenTypes
            self.tokenModifiers = tokenModifiers
        }
    }

    /// Semantic token options.
    public struct SemanticTokensOptions: Codable, Sendable, Hashable {
        /// The legend.
        public var legend: SemanticTokensLegend
        /// Whether `textDocument/semanticTokens/full` is served.
        public var full: Bool

        /// Creates it from its fields.
        public init(legend: SemanticTokensLegend, full: Bool) {
            self.legend = legend
            self.full = full
        }
    }

    /// The negotiated position encoding.
    public var positionEncoding: PositionEncodingKind
    /// Document sync.
    public var textDocumentSync: TextDocumentSyncOptions
    /// Hover.
    public var hoverProvider: Bool
    /// Completion.
    public var completionProvider: CompletionOptions
    /// Code actions.
    public var codeActionProvider: CodeActionOptions
    /// Document symbols.
    public var documentSymbolProvider: Bool
    /// Folding ranges.
    public var foldingRangeProvider: Bool
    /// Whole-document formatting.
    public var documentFormattingProvider: Bool
    /// Semantic tokens.
    public var semanticTokensProvider: SemanticTokensOptions
    /// Commands (absent when the server has none).
    public var executeCommandProvider: ExecuteCommandOptions?
    /// Code lenses (present when the server builds images).
    public var codeLensProvider: CodeLensOptions?
    /// Inlay hints (present when the server builds images).
    public var inlayHintProvider: Bool?

    /// Creates it from its fields.
    public init(positionEncoding: PositionEncodingKind, textDocumentSync: TextDocumentSyncOptions,
                hoverProvider: Bool, completionProvider: CompletionOptions, codeActionProvider: CodeActionOptions,
                documentSymbolProvider: Bool, foldingRangeProvider: Bool, documentFormattingProvider: Bool,
                semanticTokensProvider: SemanticTokensOptions, executeCommandProvider: ExecuteCommandOptions? = nil,
                codeLensProvider: CodeLensOptions? = nil, inlayHintProvider: Bool? = nil) {
        self.positionEncoding = positionEncoding
        self.textDocumentSync = textDocumentSync
        self.hoverProvider = hoverProvider
        self.completionProvider = completionProvider
        self.codeActionProvider = codeActionProvider
        self.documentSymbolProvider = documentSymbolProvider
        self.foldingRangeProvider = foldingRangeProvider
        self.documentFormattingProvider = documentFormattingProvider
        self.semanticTokensProvider = semanticTokensProvider
        self.executeCommandProvider = executeCommandProvider
        self.codeLensProvider = codeLensProvider
        self.inlayHintProvider = inlayHintProvider
    }
}
