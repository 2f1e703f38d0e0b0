/// A piece of source text with its range: a keyword, a word, a flag name or value.
public struct Token: Sendable, Hashable {
    /// The text as written (continuations removed, quotes and escapes kept).
    public var text: String
    /// Where it is.
    public var range: SourceRange

    /// Creates a token.
    public init(text: String, range: SourceRange) {
        self.text = text
        self.range = range
    }
}

/// A parser directive (`# syntax=…`, `# escape=…`, `# check=…`) from the top of the file.
public struct Directive: Sendable, Hashable {
    /// The directive's name, lowercased (`syntax`, `escape` or `check`).
    public var name: String
    /// The name as written.
    public var nameToken: Token
    /// The value, trimmed.
    public var value: Token
    /// The whole line.
    public var range: SourceRange
}

/// A comment line (`# …`), outside or inside an instruction's continuation lines.
public struct Comment: Sendable, Hashable {
    /// The text after `#`, trimmed.
    public var text: String
    /// The whole line's content.
    public var range: SourceRange
}

/// A `--name[=value]` flag between an instruction's keyword and its arguments.
public struct Flag: Sendable, Hashable {
    /// The name without the leading `--`.
    public var name: String
    /// The `--name` part.
    public var nameRange: SourceRange
    /// The value with quotes removed and escapes resolved, or nil when there is no `=`.
    public var value: String?
    /// The value as written, after the `=`.
    public var rawValue: Token?
    /// The whole flag.
    public var range: SourceRange
}

/// One argument of an instruction: a JSON array element, a whitespace-separated word, or the whole text.
public struct Argument: Sendable, Hashable {
    /// The value: JSON-unescaped for exec form, as written otherwise (quotes and escapes kept for later expansion).
    public var value: String
    /// Where it is (for a JSON element, the quoted string).
    public var range: SourceRange
}

/// How an instruction's arguments were written.
public enum ArgumentForm: Sendable, Hashable {
    /// No arguments.
    case none
    /// A JSON array of strings (`["a", "b"]`).
    case exec
    /// Shell form: one text (RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK CMD) or a word list (COPY, ADD, VOLUME, …).
    case shell
}

/// A heredoc (`<<EOF`, `<<-EOF`, `<<"EOF"`) attached to a RUN, COPY or ADD instruction.
public struct Heredoc: Sendable, Hashable {
    /// The terminator word, quotes removed.
    public var name: String
    /// Whether variables in the body are expanded (the word was not quoted).
    public var expand: Bool
    /// Whether leading tabs are stripped (`<<-`).
    public var chomp: Bool
    /// The file descriptor prefix (`3<<EOF`), if any.
    public var fileDescriptor: Int?
    /// The `<<EOF` word on the instruction line.
    public var marker: SourceRange
    /// The body as written, each line with its terminator (tabs not yet stripped for `<<-`).
    public var content: String
    /// The body lines.
    public var bodyRange: SourceRange
    /// The terminator line, or nil when the heredoc is unterminated.
    public var terminatorRange: SourceRange?

    /// The body as the build sees it: leading tabs stripped from every line when `chomp` is set.
    public var effectiveContent: String {
        guard chomp else { return content }
        var result = ""
        result.reserveCapacity(content.utf8.count)
        var atLineStart = true
        for character in content.unicodeScalars {
            if atLineStart && character == "\t" { continue }
            atLineStart = character == "\n"
            result.unicodeScalars.append(character)
        }
        return result
    }
}

/// The instructions of the Dockerfile reference.
public enum InstructionKind: String, Sendable, Hashable, CaseIterable, Codable {
    case add = "ADD", arg = "ARG", cmd = "CMD", copy = "COPY", entrypoint = "ENTRYPOINT", env = "ENV"
    case expose = "EXPOSE", from = "FROM", healthcheck = "HEALTHCHECK", label = "LABEL"
    case maintainer = "MAINTAINER", onbuild = "ONBUILD", run = "RUN", shell = "SHELL"
    case stopsignal = "STOPSIGNAL", user = "USER", volume = "VOLUME", workdir = "WORKDIR"

    /// The kind for a keyword in any case, or nil for an unknown instruction.
    public init?(keyword: String) {
        let utf8 = keyword.utf8
        guard let first = utf8.first, utf8.count >= 3 && utf8.count <= 11 else { return nil }
        let candidates: [InstructionKind]
        switch first | 0x20 {
        case UInt8(ascii: "a"): candidates = [.add, .arg]
        case UInt8(ascii: "c"): candidates = [.cmd, .copy]
        case UInt8(ascii: "e"): candidates = [.entrypoint, .env, .expose]
        case UInt8(ascii: "f"): candidates = [.from]
        case UInt8(ascii: "h"): candidates = [.healthcheck]
        case UInt8(ascii: "l"): candidates = [.label]
        case UInt8(ascii: "m"): candidates = [.maintainer]
        case UInt8(ascii: "o"): candidates = [.onbuild]
        case UInt8(ascii: "r"): candidates = [.run]
        case UInt8(ascii: "s"): candidates = [.shell, .stopsignal]
        case UInt8(ascii: "u"): candidates = [.user]
        case UInt8(ascii: "v"): candidates = [.volume]
        case UInt8(ascii: "w"): candidates = [.workdir]
        default: return nil
        }
        guard let kind = candidates.first(where: { keyword.equalsIgnoringASCIICase($0.rawValue) }) else { return nil }
        self = kind
    }

    /// Whether the instruction may carry heredocs.
    public var allowsHeredocs: Bool { self == .run || self == .copy || self == .add }
}

/// One instruction: its keyword, flags, arguments, heredocs and every range.
///
/// A value type whose fields live in one copy-on-write box, so passing instructions around costs one retain
/// rather than one per field.
public struct Instruction: Sendable, Hashable {
    /// The fields; mutated only through `unique()`, that is when this value is the box's only owner.
    private final class Storage: @unchecked Sendable {
        var keyword: Token
        var kind: InstructionKind?
        var flags: [Flag]
        var arguments: [Argument]
        var argumentText: Token?
        var form: ArgumentForm
        var heredocs: [Heredoc]
        var trigger: [Instruction]
        var range: SourceRange
        var lines: ClosedRange<Int>
        var emptyContinuationLines: [Int]
        var innerComments: [Comment]
        var leadingComments: [Comment]
        var logicalText: String

        init(keyword: Token, kind: InstructionKind?, flags: [Flag], arguments: [Argument], argumentText: Token?, form: ArgumentForm, heredocs: [Heredoc], trigger: [Instruction], range: SourceRange, lines: ClosedRange<Int>, emptyContinuationLines: [Int], innerComments: [Comment], leadingComments: [Comment], logicalText: String) {
            self.keyword = keyword
            self.kind = kind
            self.flags = flags
            self.arguments = arguments
            self.argumentText = argumentText
            self.form = form
            self.heredocs = heredocs
            self.trigger = trigger
            self.range = range
            self.lines = lines
            self.emptyContinuationLines = emptyContinuationLines
            self.innerComments = innerComments
            self.leadingComments = leadingComments
            self.logicalText = logicalText
        }

        func copy() -> Storage {
            Storage(keyword: keyword, kind: kind, flags: flags, arguments: arguments, argumentText: argumentText, form: form, heredocs: heredocs, trigger: trigger, range: range, lines: lines, emptyContinuationLines: emptyContinuationLines, innerComments: innerComments, leadingComments: leadingComments, logicalText: logicalText)
        }
    }

    private var storage: Storage

    /// Creates an instruction.
    public init(keyword: Token, kind: InstructionKind?, flags: [Flag], arguments: [Argument], argumentText: Token?, form: ArgumentForm, heredocs: [Heredoc], trigger: [Instruction], range: SourceRange, lines: ClosedRange<Int>, emptyContinuationLines: [Int], innerComments: [Comment], leadingComments: [Comment], logicalText: String) {
        storage = Storage(keyword: keyword, kind: kind, flags: flags, arguments: arguments, argumentText: argumentText, form: form, heredocs: heredocs, trigger: trigger, range: range, lines: lines, emptyContinuationLines: emptyContinuationLines, innerComments: innerComments, leadingComments: leadingComments, logicalText: logicalText)
    }

    private mutating func unique() {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
    }

    /// The keyword as written (`RUN`, `run`, `Run`).
    public var keyword: Token {
        get { storage.keyword }
        set { unique(); storage.keyword = newValue }
    }

    /// The instruction, or nil when the keyword is unknown.
    public var kind: InstructionKind? {
        get { storage.kind }
        set { unique(); storage.kind = newValue }
    }

    /// The flags, in order.
    public var flags: [Flag] {
        get { storage.flags }
        set { unique(); storage.flags = newValue }
    }

    /// The arguments, in the form the instruction's grammar gives them.
    public var arguments: [Argument] {
        get { storage.arguments }
        set { unique(); storage.arguments = newValue }
    }

    /// The text after the flags, trimmed, continuations joined (what shell form runs).
    public var argumentText: Token? {
        get { storage.argumentText }
        set { unique(); storage.argumentText = newValue }
    }

    /// Whether the arguments were a JSON array, a shell text / word list, or absent.
    public var form: ArgumentForm {
        get { storage.form }
        set { unique(); storage.form = newValue }
    }

    /// Heredocs in the order their bodies follow the instruction.
    public var heredocs: [Heredoc] {
        get { storage.heredocs }
        set { unique(); storage.heredocs = newValue }
    }

    /// For `ONBUILD`, the trigger instruction (zero or one element).
    public var trigger: [Instruction] {
        get { storage.trigger }
        set { unique(); storage.trigger = newValue }
    }

    /// The whole instruction, from the keyword to the end of its last continuation or heredoc terminator.
    public var range: SourceRange {
        get { storage.range }
        set { unique(); storage.range = newValue }
    }

    /// The lines of the instruction itself, without heredoc bodies (zero-based, inclusive).
    public var lines: ClosedRange<Int> {
        get { storage.lines }
        set { unique(); storage.lines = newValue }
    }

    /// Lines inside the continuation that were empty (BuildKit's NoEmptyContinuation).
    public var emptyContinuationLines: [Int] {
        get { storage.emptyContinuationLines }
        set { unique(); storage.emptyContinuationLines = newValue }
    }

    /// Comment lines inside the continuation (dropped by Docker).
    public var innerComments: [Comment] {
        get { storage.innerComments }
        set { unique(); storage.innerComments = newValue }
    }

    /// The comment lines right above the instruction (BuildKit's "previous comments").
    public var leadingComments: [Comment] {
        get { storage.leadingComments }
        set { unique(); storage.leadingComments = newValue }
    }

    /// The logical line: continuations joined, comment lines removed, as Docker sees it.
    public var logicalText: String {
        get { storage.logicalText }
        set { unique(); storage.logicalText = newValue }
    }

    public static func == (lhs: Instruction, rhs: Instruction) -> Bool {
        if lhs.storage === rhs.storage { return true }
        return lhs.keyword == rhs.keyword
            && lhs.kind == rhs.kind
            && lhs.flags == rhs.flags
            && lhs.arguments == rhs.arguments
            && lhs.argumentText == rhs.argumentText
            && lhs.form == rhs.form
            && lhs.heredocs == rhs.heredocs
            && lhs.trigger == rhs.trigger
            && lhs.range == rhs.range
            && lhs.lines == rhs.lines
            && lhs.emptyContinuationLines == rhs.emptyContinuationLines
            && lhs.innerComments == rhs.innerComments
            && lhs.leadingComments == rhs.leadingComments
            && lhs.logicalText == rhs.logicalText
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(range)
        hasher.combine(logicalText)
    }

    /// The keyword in upper case (`RUN`), for messages.
    public var name: String { kind?.rawValue ?? keyword.text.uppercased() }

    /// The first flag with `name`, if any.
    public func flag(_ name: String) -> Flag? { storage.flags.first { $0.name == name } }

    /// All flags with `name` (for repeatable ones such as `--mount` and `--exclude`).
    public func flags(named name: String) -> [Flag] { storage.flags.filter { $0.name == name } }
}

/// One line-oriented element of the file, in order; together they cover every byte.
public enum Element: Sendable, Hashable {
    /// A parser directive line.
    case directive(Directive)
    /// A comment line outside instructions.
    case comment(Comment)
    /// An empty or whitespace-only line outside instructions.
    case blank(SourceRange)
    /// An instruction with its continuation lines and heredoc bodies: its index in `Dockerfile.instructions`
    /// and its range.
    case instruction(index: Int, range: SourceRange)

    /// The range the element covers.
    public var range: SourceRange {
        switch self {
        case .directive(let directive): return directive.range
        case .comment(let comment): return comment.range
        case .blank(let range): return range
        case .instruction(_, let range): return range
        }
    }
}
