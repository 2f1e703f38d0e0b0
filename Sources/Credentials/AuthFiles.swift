import Foundation
import Registry

/// Reads containers `auth.json` and docker `config.json` files (`auths`, `credHelpers`, `credsStore`).
public enum AuthFiles {
    struct File: Decodable {
        struct Entry: Decodable { var auth: String?; var username: String?; var password: String?; var identitytoken: String? }
        var auths: [String: Entry]?
        var credHelpers: [String: String]?
        var credsStore: String?
    }

    /// The keys a host may appear under (`host`, `https://host`, Docker Hub's legacy URL).
    static func candidateKeys(_ host: String) -> [String] {
        var keys = [host, "https://\(host)", "http://\(host)", "https://\(host)/v1/", "https://\(host)/v2/"]
        if host == "docker.io" || host == "registry-1.docker.io" || host == "index.docker.io" {
            keys += ["docker.io", "index.docker.io", "https://index.docker.io/v1/", "registry-1.docker.io"]
        }
        return keys
    }

    /// The credential for `host` in one file, or nil; `sourceLabel` names the file in messages.
    static func lookup(host: String, path: String, sourceLabel: String, allowHelpers: Bool,
                       runHelper: (String, String) throws -> RegistryCredential?) throws -> RegistryCredential? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let file: File
        do { file = try JSONDecoder().decode(File.self, from: data) } catch {
            throw CredentialsError.malformedFile(path: path, detail: "not valid JSON (\(error.localizedDescription))")
        }
        let keys = candidateKeys(host)
        if allowHelpers, let helpers = file.credHelpers, let helper = keys.lazy.compactMap({ helpers[$0] }).first {
            return try runHelper(helper, host)
        }
        if let auths = file.auths {
            // containers/image also allows "host/namespace" keys; the plain host key is what matters for a registry login.
            if let entry = keys.lazy.compactMap({ auths[$0] }).first {
                if let auth = entry.auth, !auth.isEmpty {
                    guard let decoded = Data(base64Encoded: auth).map({ String(decoding: $0, as: UTF8.self) }),
                          let colon = decoded.firstIndex(of: ":") else {
                        throw CredentialsError.malformedFile(path: path, detail: "the \"auth\" entry for \(host) is not base64 of user:password")
                    }
                    return RegistryCredential(username: String(decoded[..<colon]), password: String(decoded[decoded.index(after: colon)...]),
                                              source: sourceLabel, identityToken: entry.identitytoken)
                }
                if let username = entry.username, let password = entry.password {
                    return RegistryCredential(username: username, password: password, source: sourceLabel, identityToken: entry.identitytoken)
                }
            }
        }
        if allowHelpers, let store = file.credsStore, !store.isEmpty {
            return try runHelper(store, host)
        }
        return nil
    }

    /// Runs `docker-credential-HELPER get` with the host on stdin (docker's credential helper protocol).
    static func runCredentialHelper(_ helper: String, host: String, searchPath: String) throws -> RegistryCredential? {
        let name = "docker-credential-\(helper)"
        let candidates: [String] = searchPath.split(separator: ":").map { String($0) + "/" + name }
        guard let executable = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw CredentialsError.helperFailed(helper: helper, host: host, detail: "\(name) is not on PATH")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["get"]
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(Data(host.utf8))
        try? input.fileHandleForWriting.close()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        if process.terminationStatus != 0 {
            let message = String(decoding: out + err, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            // The protocol's "not found" answer means: no credential here, try the next source.
            if message.localizedCaseInsensitiveContains("credentials not found") { return nil }
            throw CredentialsError.helperFailed(helper: helper, host: host, detail: "exited \(process.terminationStatus): \(message.prefix(200))")
        }
        struct Answer: Decodable { var Username: String?; var Secret: String? }
        guard let answer = try? JSONDecoder().decode(Answer.self, from: out), let secret = answer.Secret else {
            throw CredentialsError.helperFailed(helper: helper, host: host, detail: "answer is not {\"Username\", \"Secret\"} JSON")
        }
        let username = answer.Username ?? ""
        // An identity token comes back with the user "<token>".
        if username == "<token>" {
            return RegistryCredential(username: "", password: "", source: "docker-credential-\(helper)", identityToken: secret)
        }
        return RegistryCredential(username: username, password: secret, source: "docker-credential-\(helper)")
    }
}
