import Foundation

/// A throwaway CA made with the openssl CLI, issuing server and client certificates for 127.0.0.1/localhost.
public struct CertificateAuthority: Sendable {
    /// The directory holding the files.
    public let directory: String
    /// The CA certificate (PEM).
    public var caCertificate: String { directory + "/ca.crt" }
    /// The CA key (PEM).
    public var caKey: String { directory + "/ca.key" }

    /// Creates a CA under `directory`.
    public init(directory: String, name: String = "idpbuild test CA") throws {
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try TestSupport.check(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                               "-keyout", directory + "/ca.key", "-out", directory + "/ca.crt", "-subj", "/CN=\(name)",
                               "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    }

    /// Issues a certificate; returns (certificate path, key path).
    public func issue(_ name: String, hosts: [String] = ["127.0.0.1", "localhost"], client: Bool = false) throws -> (cert: String, key: String) {
        let key = directory + "/\(name).key", csr = directory + "/\(name).csr", cert = directory + "/\(name).crt"
        let ext = directory + "/\(name).ext"
        let san = hosts.map { $0.first!.isNumber || $0.contains(":") ? "IP:\($0)" : "DNS:\($0)" }.joined(separator: ",")
        try Data("""
        basicConstraints=CA:FALSE
        keyUsage=digitalSignature,keyEncipherment
        extendedKeyUsage=\(client ? "clientAuth" : "serverAuth")
        \(client ? "" : "subjectAltName=\(san)")
        """.utf8).write(to: URL(fileURLWithPath: ext))
        try TestSupport.check(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=\(name)"])
        try TestSupport.check(["openssl", "x509", "-req", "-in", csr, "-CA", caCertificate, "-CAkey", caKey, "-CAcreateserial",
                               "-days", "2", "-out", cert, "-extfile", ext])
        return (cert, key)
    }

    /// Makes a self-signed certificate and key (for signing tokens); returns (certificate path, key path).
    public static func selfSigned(directory: String, name: String) throws -> (cert: String, key: String) {
        let key = directory + "/\(name).key", cert = directory + "/\(name).crt"
        try TestSupport.check(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                               "-keyout", key, "-out", cert, "-subj", "/CN=\(name)"])
        return (cert, key)
    }
}
