import Foundation

/// A username and password for a registry, and where they came from (for error messages, never the secret).
public struct RegistryCredential: Sendable, Hashable, CustomStringConvertible {
    /// The user name.
    public var username: String
    /// The password or token.
    public var password: String
    /// A description of the source, e.g. `IDPBUILD_USERNAME/IDPBUILD_PASSWORD` or `auth.json (/run/user/0/containers/auth.json)`.
    public var source: String
    /// An identity token (docker's `identitytoken`), used as a refresh token in the token flow.
    public var identityToken: String?

    /// Makes a credential.
    public init(username: String, password: String, source: String, identityToken: String? = nil) {
        self.username = username
        self.password = password
        self.source = source
        self.identityToken = identityToken
    }

    /// The value of a Basic `Authorization` header.
    public var basicAuthorization: String {
        "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
    }

    /// Never prints the password.
    public var description: String { "\(username) (from \(source))" }
}
