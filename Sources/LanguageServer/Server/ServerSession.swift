import JSONRPC
import LSPTypes

/// What a request works with: the negotiated encoding, the client's capabilities and the settings at the moment
/// the request arrived.
public struct RequestContext: Sendable {
    /// UTF-16 or UTF-8.
    public var encoding: PositionEncodingKind
    /// What the client supports.
    public var capabilities: ClientCapabilities
    /// The settings.
    public var settings: ServerSettings
    /// Increases with every settings change (analyses are per generation).
    var generation: Int
}

/// The lifecycle and the session-wide state: phase, capabilities, encoding, settings.
actor ServerSession {
    /// Where the session is in the LSP lifecycle.
    enum Phase: Sendable, Equatable {
        case uninitialized, initialized, shuttingDown
    }

    private(set) var phase = Phase.uninitialized
    /// The settings before the client's (from the command line and the environment).
    private let baseSettings: ServerSettings
    private var capabilities = ClientCapabilities()
    private var encoding = PositionEncodingKind.utf16
    private var initializationOptions: JSONValue?
    private(set) var settings: ServerSettings
    private var generation = 0
    /// Bumped by every configuration request, so a slow answer cannot overwrite a newer one.
    private var configurationRequests = 0
    private(set) var shutdownReceived = false

    init(baseSettings: ServerSettings = ServerSettings()) {
        self.baseSettings = baseSettings
        settings = baseSettings
    }

    /// Records `initialize`; returns the settings problems to report.
    func initialize(capabilities: ClientCapabilities, encoding: PositionEncodingKind, options: JSONValue?) -> [String] {
        phase = .initialized
        self.capabilities = capabilities
        self.encoding = encoding
        initializationOptions = options
        let (settings, problems) = baseSettings.applying(options)
        self.settings = settings
        return problems
    }

    /// Records `shutdown`.
    func shutdown() {
        phase = .shuttingDown
        shutdownReceived = true
    }

    /// The context for a request.
    func context() -> RequestContext {
        RequestContext(encoding: encoding, capabilities: capabilities, settings: settings, generation: generation)
    }

    /// Starts a configuration request; its ticket must still be current when the answer is applied.
    func nextConfigurationTicket() -> Int {
        configurationRequests += 1
        return configurationRequests
    }

    /// Applies client settings (on top of the defaults and `initializationOptions`); returns whether they changed and
    /// the problems found. A stale ticket is ignored.
    func applyClientSettings(_ json: JSONValue?, ticket: Int? = nil) -> (changed: Bool, problems: [String]) {
        if let ticket, ticket != configurationRequests { return (false, []) }
        let base = baseSettings.applying(initializationOptions).settings
        let (updated, problems) = base.applying(json)
        guard updated != settings else { return (false, problems) }
        settings = updated
        generation += 1
        return (true, problems)
    }

    /// The process exit status: 0 after `shutdown`, 1 otherwise (LSP: `exit` without `shutdown` is an error).
    func exitStatus() -> Int32 { shutdownReceived ? 0 : 1 }
}
