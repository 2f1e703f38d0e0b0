import DockerfileCheck
import DockerfileSyntax
import LSPTypes

/// Turns the checker's findings into LSP diagnostics.
enum DiagnosticConversion {
    static func lspDiagnostics(_ diagnostics: [DockerfileCheck.Diagnostic], converter: PositionConverter,
                               capabilities: ClientCapabilities) -> [LSPTypes.Diagnostic] {
        let supportedTags = Set(capabilities.diagnosticTags)
        return diagnostics.map { lspDiagnostic($0, converter: converter, supportedTags: supportedTags) }
    }

    static func lspDiagnostic(_ diagnostic: DockerfileCheck.Diagnostic, converter: PositionConverter,
                              supportedTags: Set<Int>) -> LSPTypes.Diagnostic {
        let tags = diagnostic.tags.map(\.rawValue).filter(supportedTags.contains)
        return LSPTypes.Diagnostic(range: converter.range(diagnostic.range), severity: severity(diagnostic.severity),
                                   code: diagnostic.code, codeDescription: diagnostic.rule?.url.map { CodeDescription(href: $0) },
                                   source: "idpbuild", message: diagnostic.message, tags: tags.isEmpty ? nil : tags)
    }

    static func severity(_ severity: Severity) -> DiagnosticSeverity {
        switch severity {
        case .error: return .error
        case .warning: return .warning
        case .information: return .information
        case .hint: return .hint
        }
    }
}
