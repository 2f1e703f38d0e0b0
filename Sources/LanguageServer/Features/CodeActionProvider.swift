import DockerfileCheck
import DockerfileSyntax
import LSPTypes

/// Quick fixes from the checks' fixes, a "fix all" source action, and "skip this check in this file".
enum CodeActionProvider {
    static let quickFix = "quickfix"
    static let fixAll = "source.fixAll"

    static func codeActions(_ request: CodeActionRequest, _ snapshot: DocumentSnapshot, _ context: RequestContext) -> [CodeAction] {
        let analysis = snapshot.analysis
        let converter = PositionConverter(source: analysis.dockerfile.source, encoding: context.encoding)
        let tags = Set(context.capabilities.diagnosticTags)
        let only = request.context.only
        func wanted(_ kind: String) -> Bool {
            guard let only else { return true }
            // A requested kind covers its sub-kinds: "source" covers "source.fixAll".
            return only.contains { kind == $0 || kind.hasPrefix($0 + ".") }
        }
        var actions: [CodeAction] = []
        let diagnostics = analysis.diagnostics
        if wanted(quickFix) {
            for diagnostic in diagnostics {
                let lspDiagnostic = DiagnosticConversion.lspDiagnostic(diagnostic, converter: converter, supportedTags: tags)
                guard lspDiagnostic.range.overlaps(request.range) else { continue }
                if let fix = diagnostic.fix {
                    let edits = fix.edits.map { LSPTypes.TextEdit(range: converter.range($0.range), newText: $0.newText) }
                    actions.append(CodeAction(title: fix.title, kind: quickFix, diagnostics: [lspDiagnostic],
                                              isPreferred: fix.isPreferred ? true : nil,
                                              edit: workspaceEdit(snapshot, edits, context), command: nil))
                }
                if diagnostic.severity != .error, diagnostic.rule?.isBuildKitRule == true,
                   let edit = skipEdit(for: diagnostic.code, analysis.dockerfile, converter) {
                    actions.append(CodeAction(title: "Skip \(diagnostic.code) in this file (# check=skip=\(diagnostic.code))",
                                              kind: quickFix, diagnostics: [lspDiagnostic], isPreferred: nil,
                                              edit: workspaceEdit(snapshot, [edit], context), command: nil))
                }
            }
        }
        if wanted(fixAll) {
            var accepted: [DockerfileSyntax.TextEdit] = []
            var resolved: [DockerfileCheck.Diagnostic] = []
            // Whole fixes only: a fix whose edits overlap an accepted edit waits for the next "fix all".
            for (diagnostic, fix) in diagnostics.compactMap({ d in d.fix.map { (d, $0) } }) where fix.isPreferred {
                let overlaps = fix.edits.contains { edit in accepted.contains { overlap(edit.range, $0.range) } }
                if overlaps { continue }
                accepted.append(contentsOf: fix.edits)
                resolved.append(diagnostic)
            }
            if !accepted.isEmpty {
                accepted.sort { $0.range.startOffset < $1.range.startOffset }
                let edits = accepted.map { LSPTypes.TextEdit(range: converter.range($0.range), newText: $0.newText) }
                let title = resolved.count == 1 ? "Fix 1 auto-fixable problem" : "Fix \(resolved.count) auto-fixable problems"
                actions.append(CodeAction(
                    title: title,
                    kind: fixAll,
                    diagnostics: resolved.map { DiagnosticConversion.lspDiagnostic($0, converter: converter, supportedTags: tags) },
                    isPreferred: nil, edit: workspaceEdit(snapshot, edits, context), command: nil))
            }
        }
        return actions
    }

    /// Whether two ranges overlap (an insertion at the boundary of a replacement counts, since their order would
    /// be ambiguous).
    static func overlap(_ a: SourceRange, _ b: SourceRange) -> Bool {
        if a.startOffset == a.endOffset || b.startOffset == b.endOffset {
            return a.startOffset <= b.endOffset && b.startOffset <= a.endOffset
        }
        return a.startOffset < b.endOffset && b.startOffset < a.endOffset
    }

    /// An edit to the file's `# check=` directive that adds `code` to `skip=`, or a new directive line at the top.
    static func skipEdit(for code: String, _ dockerfile: Dockerfile, _ converter: PositionConverter) -> LSPTypes.TextEdit? {
        if let check = dockerfile.directive("check") {
            let (parsed, problem) = CheckDirective.parse(check.value.text)
            guard problem == nil, !parsed.skipAll, !parsed.skipped.contains(code) else { return nil }
            var parts = check.value.text.split(separator: ";").map(String.init)
            if let index = parts.firstIndex(where: { $0.hasPrefix("skip=") }) {
                parts[index] += (parts[index] == "skip=" ? "" : ",") + code
            } else {
                parts.append("skip=\(code)")
            }
            return LSPTypes.TextEdit(range: converter.range(check.value.range), newText: parts.joined(separator: ";"))
        }
        // Directives must precede everything else: insert after the existing ones.
        let line = dockerfile.directives.last.map { $0.range.end.line + 1 } ?? 0
        let offset = line < dockerfile.source.lineCount ? dockerfile.source.contentStart(ofLine: line) : dockerfile.source.bytes.count
        let position = converter.position(ofOffset: offset)
        let newline = offset == dockerfile.source.bytes.count && offset > 0 && dockerfile.source.bytes.last != 0x0A ? "\n" : ""
        return LSPTypes.TextEdit(range: LSPRange(start: position, end: position), newText: newline + "# check=skip=\(code)\n")
    }

    static func workspaceEdit(_ snapshot: DocumentSnapshot, _ edits: [LSPTypes.TextEdit], _ context: RequestContext) -> WorkspaceEdit {
        if context.capabilities.workspaceEditDocumentChanges {
            return WorkspaceEdit(documentChanges: [TextDocumentEdit(
                textDocument: OptionalVersionedTextDocumentIdentifier(uri: snapshot.uri, version: snapshot.version), edits: edits)])
        }
        return WorkspaceEdit(changes: [snapshot.uri: edits])
    }
}
