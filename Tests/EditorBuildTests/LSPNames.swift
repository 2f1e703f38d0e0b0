import LanguageServer

// The language server's LSP types, named apart from DockerfileSyntax's (the module and its main class share a name,
// so `LanguageServer.Position` cannot say it).
typealias LSPPosition = Position
typealias LSPDiagnostic = Diagnostic
