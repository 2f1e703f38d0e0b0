import Foundation

/// `.dockerignore` patterns with Docker's rules (moby/patternmatcher): one pattern a line, `#` comments, `!` for
/// exceptions, `*` and `?` within a path component, `**` across components, `[...]` classes, `\` escapes; a path is
/// excluded when it or one of its parent directories matches, and the last matching pattern wins.
public struct DockerIgnore: Sendable {
    package struct Pattern: @unchecked Sendable {
        var text: String
        var exclusion: Bool
        var regex: NSRegularExpression
    }

    private let patterns: [Pattern]

    /// Whether any pattern starts with `!`, so an excluded directory may still hold included files.
    public let hasExceptions: Bool

    /// No patterns: nothing is excluded.
    public static let none = DockerIgnore(patterns: [])

    private init(patterns: [Pattern]) {
        self.patterns = patterns
        hasExceptions = patterns.contains { $0.exclusion }
    }

    /// Parses the text of a `.dockerignore` file; a pattern that cannot be compiled is reported with its line.
    public init(parsing text: String) throws {
        var patterns: [Pattern] = []
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasSuffix("\r") { line.removeLast() }
            if line.isEmpty || line.hasPrefix("#") { continue }
            var exclusion = false
            if line.hasPrefix("!") {
                exclusion = true
                line = String(line.dropFirst()).trimmingCharacters(in: .whitespaces)
            }
            var cleaned = Self.clean(line)
            if cleaned.count > 1 && cleaned.hasPrefix("/") { cleaned.removeFirst() }
            if cleaned.isEmpty || cleaned == "." || cleaned == "/" { continue }
            do {
                patterns.append(Pattern(text: cleaned, exclusion: exclusion, regex: try Self.compile(cleaned)))
            } catch {
                throw BuildError.invalidInstruction(instruction: ".dockerignore", range: nil,
                                                          detail: "line \(number + 1): pattern \"\(line)\" is not valid")
            }
        }
        self.init(patterns: patterns)
    }

    /// Loads `CONTEXT/.dockerignore` (or `DOCKERFILE.dockerignore` next to the Dockerfile, which wins, as in BuildKit).
    public static func load(context: String, dockerfile: String) throws -> DockerIgnore {
        for path in [dockerfile + ".dockerignore", context + "/.dockerignore"] {
            if let text = try? String(contentsOfFile: path, encoding: .utf8) { return try DockerIgnore(parsing: text) }
        }
        return .none
    }

    /// Whether `path` (relative to the context, `/`-separated, no leading slash) is excluded.
    public func excludes(_ path: String) -> Bool {
        if patterns.isEmpty { return false }
        let parents = path.split(separator: "/").map(String.init)
        var matched = false
        for pattern in patterns {
            // Only a pattern that could change the outcome needs testing.
            if pattern.exclusion != matched { continue }
            var match = Self.matches(pattern.regex, path)
            if !match && parents.count > 1 {
                for count in 1..<parents.count where Self.matches(pattern.regex, parents[0..<count].joined(separator: "/")) {
                    match = true
                    break
                }
            }
            if match { matched = !pattern.exclusion }
        }
        return matched
    }

    private static func matches(_ regex: NSRegularExpression, _ text: String) -> Bool {
        regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }

    /// Go's filepath.Clean for `/`-separated paths.
    package static func clean(_ path: String) -> String {
        let absolute = path.hasPrefix("/")
        var parts: [Substring] = []
        for part in path.split(separator: "/") {
            if part == "." { continue }
            if part == ".." {
                if let last = parts.last, last != ".." { parts.removeLast() } else if !absolute { parts.append(part) }
                continue
            }
            parts.append(part)
        }
        let joined = parts.joined(separator: "/")
        if absolute { return "/" + joined }
        return joined.isEmpty ? "." : joined
    }

    /// patternmatcher's translation of a pattern into an anchored regular expression.
    package static func compile(_ pattern: String) throws -> NSRegularExpression {
        var regex = "^"
        let characters = Array(pattern)
        var index = 0
        while index < characters.count {
            let character = characters[index]
            index += 1
            switch character {
            case "*":
                if index < characters.count && characters[index] == "*" {
                    index += 1
                    if index < characters.count && characters[index] == "/" { index += 1 }
                    regex += index >= characters.count ? ".*" : "(.*/)?"
                } else {
                    regex += "[^/]*"
                }
            case "?":
                regex += "[^/]"
            case "\\":
                if index < characters.count {
                    regex += NSRegularExpression.escapedPattern(for: String(characters[index]))
                    index += 1
                } else {
                    regex += "\\\\"
                }
            case "[":
                regex += "["
                if index < characters.count && characters[index] == "!" { regex += "^"; index += 1 }
                while index < characters.count && characters[index] != "]" {
                    if characters[index] == "\\" { regex += "\\\\" } else { regex.append(characters[index]) }
                    index += 1
                }
                if index < characters.count { regex += "]"; index += 1 }
            default:
                regex += NSRegularExpression.escapedPattern(for: String(character))
            }
        }
        regex += "$"
        return try NSRegularExpression(pattern: regex)
    }
}
