import DockerfileSyntax
import Foundation

/// One checked file with its findings, ready to print.
public struct CheckedFile: Sendable {
    /// The path as the user gave it (`<stdin>` for standard input).
    public var path: String
    /// The file's text, to turn ranges into line and column numbers.
    public var source: SourceText
    /// The findings.
    public var diagnostics: [Diagnostic]

    /// Creates a checked file.
    public init(path: String, source: SourceText, diagnostics: [Diagnostic]) {
        self.path = path
        self.source = source
        self.diagnostics = diagnostics
    }
}

/// Renders diagnostics as GNU lines, JSON, or SARIF 2.1.0.
public enum DiagnosticFormatter {
    /// 1-based line and column in Unicode characters, as compile modes and CI annotations count them.
    public static func lineColumn(_ offset: Int, in source: SourceText) -> (Int, Int) {
        let line = source.line(containing: offset)
        let start = source.contentStart(ofLine: line)
        var characters = 0
        var index = start
        while index < offset && index < source.bytes.count {
            if source.bytes[index] & 0xC0 != 0x80 { characters += 1 }
            index += 1
        }
        return (line + 1, characters + 1)
    }

    private static func gnuSeverity(_ severity: Severity) -> String {
        switch severity {
        case .error: return "error"
        case .warning: return "warning"
        case .information, .hint: return "note"
        }
    }

    /// `file:line:column: severity: message [CODE]` lines.
    public static func gnu(_ files: [CheckedFile]) -> String {
        var output = ""
        for file in files {
            for diagnostic in file.diagnostics {
                let (line, column) = lineColumn(diagnostic.range.startOffset, in: file.source)
                output += "\(file.path):\(line):\(column): \(gnuSeverity(diagnostic.severity)): \(diagnostic.message) [\(diagnostic.code)]\n"
            }
        }
        return output
    }

    struct JSONPosition: Encodable {
        var line: Int
        var character: Int
    }

    struct JSONRange: Encodable {
        var start: JSONPosition
        var end: JSONPosition

        init(_ range: SourceRange) {
            start = JSONPosition(line: range.start.line, character: range.start.character)
            end = JSONPosition(line: range.end.line, character: range.end.character)
        }
    }

    struct JSONEdit: Encodable {
        var range: JSONRange
        var newText: String
    }

    struct JSONFix: Encodable {
        var title: String
        var edits: [JSONEdit]
    }

    struct JSONDiagnostic: Encodable {
        var file: String
        var line: Int
        var column: Int
        var endLine: Int
        var endColumn: Int
        var severity: String
        var code: String
        var message: String
        var range: JSONRange
        var url: String?
        var fix: JSONFix?
    }

    private static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// A JSON array of findings: 1-based `line`/`column` (characters) and an LSP `range` (0-based, UTF-16).
    public static func json(_ files: [CheckedFile]) -> String {
        var items: [JSONDiagnostic] = []
        for file in files {
            for diagnostic in file.diagnostics {
                let (line, column) = lineColumn(diagnostic.range.startOffset, in: file.source)
                let (endLine, endColumn) = lineColumn(diagnostic.range.endOffset, in: file.source)
                items.append(JSONDiagnostic(
                    file: file.path, line: line, column: column, endLine: endLine, endColumn: endColumn,
                    severity: diagnostic.severity.rawValue, code: diagnostic.code, message: diagnostic.message,
                    range: JSONRange(diagnostic.range), url: diagnostic.rule?.url,
                    fix: diagnostic.fix.map { fix in
                        JSONFix(title: fix.title, edits: fix.edits.map { JSONEdit(range: JSONRange($0.range), newText: $0.newText) })
                    }))
            }
        }
        let data = (try? encoder().encode(items)) ?? Data("[]".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    // SARIF 2.1.0 (OASIS): one run, the rules that occur, results with 1-based UTF-16 columns (SARIF's default).
    struct SARIFLog: Encodable {
        var schema = "https://json.schemastore.org/sarif-2.1.0.json"
        var version = "2.1.0"
        var runs: [SARIFRun]

        enum CodingKeys: String, CodingKey {
            case schema = "$schema", version, runs
        }
    }

    struct SARIFRun: Encodable {
        var tool: SARIFTool
        var results: [SARIFResult]
    }

    struct SARIFTool: Encodable {
        var driver: SARIFDriver
    }

    struct SARIFDriver: Encodable {
        var name = "idpbuild"
        var informationUri = "https://github.com/cnoe-io/idpbuilder"
        var version: String
        var rules: [SARIFRule]
    }

    struct SARIFText: Encodable {
        var text: String
    }

    struct SARIFRule: Encodable {
        var id: String
        var shortDescription: SARIFText
        var help: SARIFText
        var helpUri: String?
        var defaultConfiguration: SARIFConfiguration
    }

    struct SARIFConfiguration: Encodable {
        var level: String
    }

    struct SARIFResult: Encodable {
        var ruleId: String
        var ruleIndex: Int
        var level: String
        var message: SARIFText
        var locations: [SARIFLocation]
        var fixes: [SARIFFix]?
    }

    struct SARIFLocation: Encodable {
        var physicalLocation: SARIFPhysicalLocation
    }

    struct SARIFPhysicalLocation: Encodable {
        var artifactLocation: SARIFArtifact
        var region: SARIFRegion
    }

    struct SARIFArtifact: Encodable {
        var uri: String
    }

    struct SARIFRegion: Encodable {
        var startLine: Int
        var startColumn: Int
        var endLine: Int
        var endColumn: Int
    }

    struct SARIFFix: Encodable {
        var description: SARIFText
        var artifactChanges: [SARIFArtifactChange]
    }

    struct SARIFArtifactChange: Encodable {
        var artifactLocation: SARIFArtifact
        var replacements: [SARIFReplacement]
    }

    struct SARIFReplacement: Encodable {
        var deletedRegion: SARIFRegion
        var insertedContent: SARIFText
    }

    private static func sarifLevel(_ severity: Severity) -> String {
        switch severity {
        case .error: return "error"
        case .warning: return "warning"
        case .information, .hint: return "note"
        }
    }

    private static func region(_ range: SourceRange) -> SARIFRegion {
        SARIFRegion(startLine: range.start.line + 1, startColumn: range.start.character + 1,
                    endLine: range.end.line + 1, endColumn: range.end.character + 1)
    }

    /// A SARIF 2.1.0 log with one run.
    public static func sarif(_ files: [CheckedFile], version: String) -> String {
        var ruleIndex: [String: Int] = [:]
        var rules: [SARIFRule] = []
        var results: [SARIFResult] = []
        for file in files {
            let uri = file.path == "<stdin>" ? "stdin" : file.path
            for diagnostic in file.diagnostics {
                if ruleIndex[diagnostic.code] == nil {
                    ruleIndex[diagnostic.code] = rules.count
                    let rule = diagnostic.rule
                    rules.append(SARIFRule(id: diagnostic.code, shortDescription: SARIFText(text: rule?.summary ?? diagnostic.code),
                                           help: SARIFText(text: rule?.fix ?? ""), helpUri: rule?.url,
                                           defaultConfiguration: SARIFConfiguration(level: sarifLevel(rule?.severity ?? diagnostic.severity))))
                }
                let fixes = diagnostic.fix.map { fix in
                    [SARIFFix(description: SARIFText(text: fix.title),
                              artifactChanges: [SARIFArtifactChange(
                                artifactLocation: SARIFArtifact(uri: uri),
                                replacements: fix.edits.map { SARIFReplacement(deletedRegion: region($0.range), insertedContent: SARIFText(text: $0.newText)) })])]
                }
                results.append(SARIFResult(
                    ruleId: diagnostic.code, ruleIndex: ruleIndex[diagnostic.code]!, level: sarifLevel(diagnostic.severity),
                    message: SARIFText(text: diagnostic.message),
                    locations: [SARIFLocation(physicalLocation: SARIFPhysicalLocation(artifactLocation: SARIFArtifact(uri: uri),
                                                                                     region: region(diagnostic.range)))],
                    fixes: fixes))
            }
        }
        let log = SARIFLog(runs: [SARIFRun(tool: SARIFTool(driver: SARIFDriver(version: version, rules: rules)), results: results)])
        let data = (try? encoder().encode(log)) ?? Data()
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
