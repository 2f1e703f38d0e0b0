import DockerfileCheck
import DockerfileSyntax
import Foundation
import JSONRPC
import LSPTypes

/// One version of a document and what the server derives from it, computed once, on first use, by whoever needs
/// it first (the diagnostics worker or a request), and shared by all.
public final class DocumentAnalysis: @unchecked Sendable {
    /// The text's bytes.
    public let bytes: [UInt8]
    /// The version.
    public let version: Int
    /// The settings generation the diagnostics follow.
    let generation: Int
    /// The checker's options (ignored codes, build arguments).
    public let options: CheckOptions
    private let lock = NSLock()
    private var cachedDefinition: BuildDefinition?
    private var cachedDiagnostics: [DockerfileCheck.Diagnostic]?

    init(bytes: [UInt8], version: Int, generation: Int, options: CheckOptions) {
        self.bytes = bytes
        self.version = version
        self.generation = generation
        self.options = options
    }

    /// The parsed and typed Dockerfile.
    public var definition: BuildDefinition {
        lock.withLock {
            if let cachedDefinition { return cachedDefinition }
            let definition = BuildDefinition(Dockerfile(bytes: bytes))
            cachedDefinition = definition
            return definition
        }
    }

    /// The syntax tree.
    public var dockerfile: Dockerfile { definition.dockerfile }

    /// The checks' findings.
    public var diagnostics: [DockerfileCheck.Diagnostic] {
        let definition = self.definition
        return lock.withLock {
            if let cachedDiagnostics { return cachedDiagnostics }
            let found = Checker.check(definition, options: options)
            cachedDiagnostics = found
            return found
        }
    }
}

/// A document at one version, handed to a request or the diagnostics worker.
public struct DocumentSnapshot: Sendable {
    /// The document's URI.
    public let uri: String
    /// The version.
    public var version: Int { analysis.version }
    /// The derived data.
    public let analysis: DocumentAnalysis
}

/// A diagnostic from another source than the checks (a failed build step), tied to an instruction by its text: it
/// follows the instruction when lines are added or removed elsewhere, and it is gone once that instruction is edited.
struct AnchoredDiagnostic: Sendable, Hashable {
    /// The instruction's bytes, exactly as they were when the diagnostic was made.
    var instructionText: [UInt8]
    /// Which of the instructions with that exact text it belongs to (0 for the first).
    var occurrence: Int
    /// The diagnostic; its range is replaced by the instruction's current range when published.
    var diagnostic: LSPTypes.Diagnostic

    /// The diagnostics placed on the instructions of `dockerfile` that still read as they did.
    static func locate(_ anchored: [AnchoredDiagnostic], in dockerfile: Dockerfile, converter: PositionConverter) -> [LSPTypes.Diagnostic] {
        guard !anchored.isEmpty else { return [] }
        let bytes = dockerfile.source.bytes
        return anchored.compactMap { anchor in
            let matches = dockerfile.instructions.filter { instruction in
                let range = instruction.range.bytes
                return range.count == anchor.instructionText.count && bytes[range].elementsEqual(anchor.instructionText)
            }
            guard anchor.occurrence < matches.count else { return nil }
            var diagnostic = anchor.diagnostic
            diagnostic.range = converter.range(matches[anchor.occurrence].range)
            return diagnostic
        }
    }

    /// The anchor of the instruction at `range` of `dockerfile` (nil when no instruction starts there).
    static func anchor(at range: SourceRange, in dockerfile: Dockerfile, diagnostic: LSPTypes.Diagnostic) -> AnchoredDiagnostic? {
        guard let instruction = dockerfile.instructions.first(where: { $0.range.startOffset == range.startOffset })
                ?? dockerfile.instructions.first(where: { $0.range.bytes.contains(range.startOffset) }) else { return nil }
        let bytes = dockerfile.source.bytes
        let text = Array(bytes[instruction.range.bytes])
        let occurrence = dockerfile.instructions.prefix { $0.range.startOffset < instruction.range.startOffset }
            .filter { $0.range.bytes.count == text.count && bytes[$0.range.bytes].elementsEqual(text) }.count
        return AnchoredDiagnostic(instructionText: text, occurrence: occurrence, diagnostic: diagnostic)
    }
}

/// The open documents: the one owner of their text, versions and published diagnostics.
actor DocumentStore {
    private struct Document {
        var languageId: String
        var version: Int
        var bytes: [UInt8]
        var analysis: DocumentAnalysis?
        /// The version, settings generation and anchored-diagnostics revision last published.
        var published: (version: Int, generation: Int, revision: Int)?
    }

    private var documents: [String: Document] = [:]
    /// Diagnostics from other sources (`idpbuild build`) by document and source; kept while a document is closed, so
    /// a failure shows again if the file is reopened unchanged.
    private var anchored: [String: [String: [AnchoredDiagnostic]]] = [:]
    /// Bumped whenever a document's anchored diagnostics change, so they are published even at the same version.
    private var anchoredRevisions: [String: Int] = [:]
    /// Documents changed since the message queue last drained.
    private var changed: [String] = []
    private let publish: @Sendable (PublishDiagnosticsNotification) -> Void

    init(publish: @escaping @Sendable (PublishDiagnosticsNotification) -> Void) {
        self.publish = publish
    }

    /// Opens (or reopens) a document.
    func open(_ item: TextDocumentItem) {
        documents[item.uri] = Document(languageId: item.languageId, version: item.version, bytes: Array(item.text.utf8))
        markChanged(item.uri)
    }

    /// Applies changes in order.
    func change(_ notification: DidChangeTextDocumentNotification, encoding: PositionEncodingKind) throws(LanguageServerError) {
        let uri = notification.textDocument.uri
        guard var document = documents[uri] else { throw .documentNotOpen(uri: uri) }
        for change in notification.contentChanges {
            guard let range = change.range else {
                document.bytes = Array(change.text.utf8)
                continue
            }
            let converter = PositionConverter(source: SourceText(bytes: document.bytes), encoding: encoding)
            let start = converter.offset(of: range.start)
            let end = converter.offset(of: range.end)
            guard start <= end else {
                documents[uri]?.analysis = nil
                throw .invalidChange(uri: uri, detail: "the range ends at \(range.end.line):\(range.end.character), before it starts at \(range.start.line):\(range.start.character)")
            }
            document.bytes.replaceSubrange(start..<end, with: change.text.utf8)
        }
        document.version = notification.textDocument.version
        document.analysis = nil
        documents[uri] = document
        markChanged(uri)
    }

    /// Closes a document and clears its diagnostics; false when it was not open.
    func close(_ uri: String) -> Bool {
        guard documents.removeValue(forKey: uri) != nil else { return false }
        changed.removeAll { $0 == uri }
        publish(PublishDiagnosticsNotification(uri: uri, version: nil, diagnostics: []))
        return true
    }

    /// The current version of a document, with its analysis for the given settings.
    func snapshot(_ uri: String, settings: ServerSettings, generation: Int) -> DocumentSnapshot? {
        guard var document = documents[uri] else { return nil }
        if let analysis = document.analysis, analysis.generation == generation {
            return DocumentSnapshot(uri: uri, analysis: analysis)
        }
        let analysis = DocumentAnalysis(bytes: document.bytes, version: document.version, generation: generation,
                                        options: settings.checkOptions)
        document.analysis = analysis
        documents[uri] = document
        return DocumentSnapshot(uri: uri, analysis: analysis)
    }

    /// Whether diagnostics for this version, generation and anchored-diagnostics revision were already published.
    func isPublished(_ snapshot: DocumentSnapshot) -> Bool {
        guard let published = documents[snapshot.uri]?.published else { return false }
        return published.version == snapshot.version && published.generation == snapshot.analysis.generation
            && published.revision == anchoredRevisions[snapshot.uri, default: 0]
    }

    /// Replaces the anchored diagnostics of one source for a document (an empty list clears them); returns whether
    /// the document is open (its diagnostics then need publishing again).
    func setAnchored(_ uri: String, source: String, _ diagnostics: [AnchoredDiagnostic]) -> Bool {
        let old = anchored[uri]?[source] ?? []
        guard old != diagnostics else { return false }
        anchored[uri, default: [:]][source] = diagnostics.isEmpty ? nil : diagnostics
        if anchored[uri]?.isEmpty == true { anchored[uri] = nil }
        anchoredRevisions[uri, default: 0] += 1
        return documents[uri] != nil
    }

    /// A document's anchored diagnostics of every source, with their revision.
    func anchoredDiagnostics(_ uri: String) -> (revision: Int, diagnostics: [AnchoredDiagnostic]) {
        let sources = anchored[uri] ?? [:]
        return (anchoredRevisions[uri, default: 0], sources.keys.sorted().flatMap { sources[$0]! })
    }

    /// Publishes diagnostics if the document is still open at that version and the anchored diagnostics are still
    /// at `revision` (checked and sent in one step, so a close, a newer version or a newer build result wins).
    func publishIfCurrent(_ snapshot: DocumentSnapshot, diagnostics: [LSPTypes.Diagnostic], revision: Int = 0) -> Bool {
        guard var document = documents[snapshot.uri], document.version == snapshot.version,
              document.analysis === snapshot.analysis, anchoredRevisions[snapshot.uri, default: 0] == revision else { return false }
        document.published = (snapshot.version, snapshot.analysis.generation, revision)
        documents[snapshot.uri] = document
        publish(PublishDiagnosticsNotification(uri: snapshot.uri, version: snapshot.version, diagnostics: diagnostics))
        return true
    }

    /// The URI of the open document whose file is `path`, if any.
    func openURI(forPath path: String) -> String? {
        documents.keys.sorted().first { DocumentURI.path(of: $0) == path }
    }

    /// The documents changed since the last call.
    func takeChanged() -> [String] {
        defer { changed = [] }
        return changed
    }

    /// Every open document's URI.
    func openURIs() -> [String] { documents.keys.sorted() }

    private func markChanged(_ uri: String) {
        if !changed.contains(uri) { changed.append(uri) }
    }
}

/// Runs checks for changed documents one at a time, always on the newest version, off the message reader.
actor DiagnosticsScheduler {
    private var dirty: [String] = []
    private var running = false
    private let work: @Sendable (String) async -> Void

    init(work: @escaping @Sendable (String) async -> Void) {
        self.work = work
    }

    /// Queues documents to check and starts the worker if it is idle.
    func schedule(_ uris: [String]) {
        for uri in uris where !dirty.contains(uri) { dirty.append(uri) }
        guard !running, !dirty.isEmpty else { return }
        running = true
        Task.detached { [self] in await drain() }
    }

    private func next() -> String? {
        guard !dirty.isEmpty else {
            running = false
            return nil
        }
        return dirty.removeFirst()
    }

    private nonisolated func drain() async {
        while let uri = await next() { await work(uri) }
    }
}
