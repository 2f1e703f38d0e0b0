import Foundation
import HTTP
import Yams

/// How to reach a Kubernetes API server: its URL, TLS settings and a bearer token (or a client certificate in `tls`).
public struct KubernetesAccess: Sendable {
    /// The API server URL, e.g. `https://127.0.0.1:6443`.
    public var server: String
    /// Trust for the API server's CA, and a client certificate if the user has one.
    public var tls: TLSOptions
    /// A bearer token, if the user has one.
    public var bearerToken: String?
    /// Where these settings came from (for messages).
    public var source: String

    /// Makes access settings.
    public init(server: String, tls: TLSOptions, bearerToken: String?, source: String) {
        self.server = server
        self.tls = tls
        self.bearerToken = bearerToken
        self.source = source
    }

    /// In-cluster access: `KUBERNETES_SERVICE_HOST`/`PORT` and the service-account token and CA; nil outside a pod.
    public static func inCluster(environment: [String: String],
                                 serviceAccountDirectory: String = "/var/run/secrets/kubernetes.io/serviceaccount") -> KubernetesAccess? {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty,
              let token = try? String(contentsOfFile: serviceAccountDirectory + "/token", encoding: .utf8) else { return nil }
        let port = environment["KUBERNETES_SERVICE_PORT"] ?? "443"
        let ca = FileManager.default.contents(atPath: serviceAccountDirectory + "/ca.crt").map { Array($0) }
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return KubernetesAccess(server: "https://\(hostPart):\(port)", tls: TLSOptions(extraCAPEM: ca),
                                bearerToken: token.trimmingCharacters(in: .whitespacesAndNewlines), source: "in-cluster service account")
    }

    /// Access from kubeconfig (`KUBECONFIG`, `:`-separated, else `~/.kube/config`) using its current context; nil when there is none.
    public static func fromKubeconfig(environment: [String: String], home: String) throws -> KubernetesAccess? {
        let paths = environment["KUBECONFIG"].map { $0.split(separator: ":").map(String.init) } ?? [home + "/.kube/config"]
        var documents = [(String, [String: Any])]()
        for path in paths {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
            do {
                guard let yaml = try Yams.load(yaml: text) as? [String: Any] else {
                    throw CredentialsError.kubeconfig(path: path, detail: "not a YAML mapping")
                }
                documents.append((path, yaml))
            } catch let error as CredentialsError { throw error } catch {
                throw CredentialsError.kubeconfig(path: path, detail: "not valid YAML (\(error))")
            }
        }
        guard !documents.isEmpty else { return nil }
        // kubectl's merge rule: the first file that sets a value wins.
        guard let current = documents.lazy.compactMap({ $0.1["current-context"] as? String }).first(where: { !$0.isEmpty }) else {
            return nil
        }
        func named(_ key: String, _ name: String) -> (String, [String: Any])? {
            for (path, doc) in documents {
                for item in doc[key] as? [[String: Any]] ?? [] where item["name"] as? String == name {
                    return (path, item[String(key.dropLast())] as? [String: Any] ?? [:])
                }
            }
            return nil
        }
        guard let (contextPath, context) = named("contexts", current) else {
            throw CredentialsError.kubeconfig(path: documents[0].0, detail: "current-context \"\(current)\" is not defined")
        }
        guard let clusterName = context["cluster"] as? String, let (clusterPath, cluster) = named("clusters", clusterName),
              let server = cluster["server"] as? String else {
            throw CredentialsError.kubeconfig(path: contextPath, detail: "context \"\(current)\" names no cluster with a server")
        }
        func base(_ path: String, _ file: String) -> String {
            file.hasPrefix("/") ? file : (path as NSString).deletingLastPathComponent + "/" + file
        }
        func bytes(data: Any?, file: Any?, relativeTo path: String, what: String) throws -> [UInt8]? {
            if let data = data as? String {
                guard let decoded = Data(base64Encoded: data, options: .ignoreUnknownCharacters) else {
                    throw CredentialsError.kubeconfig(path: path, detail: "\(what) is not base64")
                }
                return Array(decoded)
            }
            if let file = file as? String {
                guard let contents = FileManager.default.contents(atPath: base(path, file)) else {
                    throw CredentialsError.kubeconfig(path: path, detail: "cannot read \(what) file \(base(path, file))")
                }
                return Array(contents)
            }
            return nil
        }
        var tls = TLSOptions()
        tls.extraCAPEM = try bytes(data: cluster["certificate-authority-data"], file: cluster["certificate-authority"],
                                   relativeTo: clusterPath, what: "certificate-authority")
        tls.insecureSkipVerify = cluster["insecure-skip-tls-verify"] as? Bool ?? false
        var token: String?
        if let userName = context["user"] as? String, let (userPath, user) = named("users", userName) {
            if user["exec"] != nil || user["auth-provider"] != nil,
               user["token"] == nil, user["tokenFile"] == nil, user["client-certificate-data"] == nil, user["client-certificate"] == nil {
                throw CredentialsError.kubeconfig(path: userPath, detail: "user \"\(userName)\" uses an exec or auth-provider plugin, which idpbuild does not run; use a token or client certificate, or set IDPBUILD_USERNAME/IDPBUILD_PASSWORD")
            }
            token = user["token"] as? String
            if token == nil, let file = user["tokenFile"] as? String {
                token = (try? String(contentsOfFile: base(userPath, file), encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            tls.clientCertificatePEM = try bytes(data: user["client-certificate-data"], file: user["client-certificate"],
                                                 relativeTo: userPath, what: "client-certificate")
            tls.clientKeyPEM = try bytes(data: user["client-key-data"], file: user["client-key"], relativeTo: userPath, what: "client-key")
        }
        return KubernetesAccess(server: server.hasSuffix("/") ? String(server.dropLast()) : server, tls: tls, bearerToken: token,
                                source: "kubeconfig \(contextPath) context \(current)")
    }
}

/// Reads Secrets from a Kubernetes API server.
public struct KubernetesClient: Sendable {
    /// How to reach the API server.
    public let access: KubernetesAccess
    private let http: HTTPClient

    /// Makes a client.
    public init(access: KubernetesAccess, http: HTTPClient = HTTPClient()) {
        self.access = access
        self.http = http
    }

    /// `GET /api/v1/namespaces/NS/secrets/NAME`, returning the decoded `data` map.
    public func secret(namespace: String, name: String) async throws -> [String: [UInt8]] {
        var headers = HTTPHeaders()
        if let token = access.bearerToken { headers.add("Authorization", "Bearer \(token)") }
        headers.add("Accept", "application/json")
        let request = HTTPRequest(url: "\(access.server)/api/v1/namespaces/\(namespace)/secrets/\(name)", headers: headers, tls: access.tls,
                                  timeouts: HTTPTimeouts(connect: 5, stall: 10, total: 30), maxCollectedBody: 4 << 20)
        let response: HTTPResponse
        do { response = try await http.send(request) } catch {
            throw CredentialsError.kubernetes(server: access.server, detail: "\(error) (from \(access.source))")
        }
        struct Answer: Decodable { var kind: String?; var data: [String: String]?; var reason: String?; var message: String?; var code: Int? }
        let answer = try? JSONDecoder().decode(Answer.self, from: Data(response.body))
        guard response.status == 200 else {
            // Errors are Status objects: report reason and message, never the token.
            let reason = answer?.reason ?? "HTTP \(response.status)"
            throw CredentialsError.kubernetes(server: access.server,
                                              detail: "reading secret \(namespace)/\(name) answered \(response.status) \(reason)\(answer?.message.map { ": \($0)" } ?? "") (using \(access.source))")
        }
        guard let answer, answer.kind == "Secret" else {
            throw CredentialsError.kubernetes(server: access.server, detail: "secret \(namespace)/\(name): the answer is not a Secret object")
        }
        var result = [String: [UInt8]]()
        for (key, value) in answer.data ?? [:] {
            guard let decoded = Data(base64Encoded: value) else {
                throw CredentialsError.kubernetes(server: access.server, detail: "secret \(namespace)/\(name) key \(key) is not base64")
            }
            result[key] = Array(decoded)
        }
        return result
    }
}
