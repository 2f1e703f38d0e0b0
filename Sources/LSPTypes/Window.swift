import JSONRPC

/// The type of a message for people: error, warning, info, log.
public enum MessageType: Int, Codable, Sendable, Hashable {
    case error = 1, warning = 2, info = 3, log = 4
}

/// `window/showMessage`: a message the client shows.
public struct ShowMessageNotification: LSPNotification {
    /// `window/showMessage`.
    public static let method = "window/showMessage"
    /// Its type.
    public var type: MessageType
    /// The text.
    public var message: String

    /// Creates the notification.
    public init(type: MessageType, message: String) {
        self.type = type
        self.message = message
    }
}

/// `window/logMessage`: a line for the client's log.
public struct LogMessageNotification: LSPNotification {
    /// `window/logMessage`.
    public static let method = "window/logMessage"
    /// Its type.
    public var type: MessageType
    /// The text.
    public var message: String

    /// Creates the notification.
    public init(type: MessageType, message: String) {
        self.type = type
        self.message = message
    }
}

/// `window/workDoneProgress/create`: the server asks the client to show progress under a new token.
public struct CreateWorkDoneProgressRequest: LSPRequest {
    /// `window/workDoneProgress/create`.
    public static let method = "window/workDoneProgress/create"
    /// `null`.
    public typealias Response = VoidResponse
    /// The new token.
    public var token: ProgressToken

    /// Creates the request.
    public init(token: ProgressToken) { self.token = token }
}

/// `window/workDoneProgress/cancel`: the user cancelled the work behind a progress token.
public struct WorkDoneProgressCancelNotification: LSPNotification {
    /// `window/workDoneProgress/cancel`.
    public static let method = "window/workDoneProgress/cancel"
    /// The token.
    public var token: ProgressToken
}

/// `$/progress` with a work-done value: begin, report or end.
public struct WorkDoneProgressNotification: LSPNotification {
    /// `$/progress`.
    public static let method = "$/progress"
    /// The token.
    public var token: ProgressToken
    /// The value.
    public var value: WorkDoneProgress

    /// Creates the notification.
    public init(token: ProgressToken, value: WorkDoneProgress) {
        self.token = token
        self.value = value
    }
}

/// A work-done progress value.
public struct WorkDoneProgress: Codable, Sendable, Hashable {
    /// `begin`, `report` or `end`.
    public var kind: String
    /// The title (begin only).
    public var title: String?
    /// Whether the client may offer a cancel button (begin and report).
    public var cancellable: Bool?
    /// A line under the title.
    public var message: String?
    /// 0–100 (begin and report).
    public var percentage: Int?

    /// Starts progress.
    public static func begin(title: String, cancellable: Bool, message: String? = nil, percentage: Int? = nil) -> WorkDoneProgress {
        WorkDoneProgress(kind: "begin", title: title, cancellable: cancellable, message: message, percentage: percentage)
    }

    /// Reports progress.
    public static func report(message: String?, percentage: Int?) -> WorkDoneProgress {
        WorkDoneProgress(kind: "report", title: nil, cancellable: nil, message: message, percentage: percentage)
    }

    /// Ends progress.
    public static func end(message: String?) -> WorkDoneProgress {
        WorkDoneProgress(kind: "end", title: nil, cancellable: nil, message: message, percentage: nil)
    }
}
