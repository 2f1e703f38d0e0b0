import Foundation

/// What the sessions of one server process share. Over standard input and output there is one session; a shared
/// server (`idpbuild lsp --listen`) hands the same object to the `LanguageServer` of every connection, so what one
/// editor starts another sees. Today it holds the session directory; process-wide state such as running builds
/// belongs here too.
public final class SharedServerState: Sendable {
    /// The sessions of this process.
    public let sessions = SessionDirectory()

    /// Makes the state of one server process.
    public init() {}
}

/// The live sessions of a server process: which clients are connected, since when.
public actor SessionDirectory {
    /// One connected session.
    public struct Session: Sendable, Codable, Hashable {
        /// Numbered from 1 in connection order.
        public var id: Int
        /// `clientInfo` from `initialize` ("Neovim 0.9.5"), nil before it.
        public var client: String?
        /// When it connected.
        public var connected: Date

        /// Makes a record.
        public init(id: Int, client: String?, connected: Date) {
            self.id = id
            self.client = client
            self.connected = connected
        }
    }

    private var sessions: [Int: Session] = [:]
    private var nextID = 0
    private var observers: [@Sendable ([Session]) -> Void] = []

    /// Registers a session; returns its number.
    public func open() -> Int {
        nextID += 1
        sessions[nextID] = Session(id: nextID, client: nil, connected: Date())
        changed()
        return nextID
    }

    /// Records the client's name from `initialize`.
    public func initialized(_ id: Int, client: String) {
        sessions[id]?.client = client
        changed()
    }

    /// Forgets a session that ended.
    public func close(_ id: Int) {
        sessions[id] = nil
        changed()
    }

    /// The sessions, oldest first.
    public func list() -> [Session] { sessions.values.sorted { $0.id < $1.id } }

    /// Calls `observer` with the sessions after every change (the shared server's status line).
    public func observe(_ observer: @escaping @Sendable ([Session]) -> Void) {
        observers.append(observer)
    }

    private func changed() {
        let current = list()
        for observer in observers { observer(current) }
    }
}
