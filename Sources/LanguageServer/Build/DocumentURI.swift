import Foundation

/// `file://` URIs and paths, as editors write them (percent-encoded, with or without `localhost`).
enum DocumentURI {
    /// The absolute path a `file://` URI names, or nil for another scheme.
    static func path(of uri: String) -> String? {
        guard uri.hasPrefix("file://") else { return nil }
        var rest = uri.dropFirst("file://".count)
        if rest.hasPrefix("localhost/") { rest = rest.dropFirst("localhost".count) }
        guard rest.hasPrefix("/"), let decoded = String(rest).removingPercentEncoding else { return nil }
        return URL(fileURLWithPath: decoded).standardizedFileURL.path
    }

    /// The `file://` URI of an absolute path.
    static func uri(forPath path: String) -> String {
        URL(fileURLWithPath: path).absoluteString
    }
}
