import DockerfileSyntax

/// Validates image references per the distribution reference grammar (`[host[:port]/]path[:tag][@digest]`),
/// enough to tell a person why `FROM` will fail before anything is pulled.
enum ImageReferenceCheck {
    private static func isLowerAlphanumeric(_ byte: UInt8) -> Bool { (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) }
    private static func isAlphanumeric(_ byte: UInt8) -> Bool { isLowerAlphanumeric(byte) || (byte >= 0x41 && byte <= 0x5A) }
    private static func isHex(_ byte: UInt8) -> Bool { (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x66) }
    private static func text(_ bytes: ArraySlice<UInt8>) -> String { shown(String(decoding: bytes, as: UTF8.self)) }

    /// nil when `reference` is valid, otherwise what is wrong with it.
    static func problem(_ reference: String) -> String? {
        let bytes = Array(reference.utf8)
        guard !bytes.isEmpty else { return "the image name is empty" }
        var name = bytes[...]
        if let at = name.firstIndex(of: UInt8(ascii: "@")) {
            if let problem = digestProblem(name[(at + 1)...]) { return problem }
            name = name[..<at]
        }
        // A tag is after the last ':' that comes after the last '/'.
        let lastSlash = name.lastIndex(of: UInt8(ascii: "/")) ?? name.startIndex - 1
        if let colon = name.lastIndex(of: UInt8(ascii: ":")), colon > lastSlash {
            if let problem = tagProblem(name[(colon + 1)...]) { return problem }
            name = name[..<colon]
        }
        guard !name.isEmpty else { return "the repository name is empty" }
        guard name.count <= 255 else { return "the repository name is longer than 255 characters" }
        var components = name.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        if components.count > 1, let first = components.first,
           first.contains(UInt8(ascii: ".")) || first.contains(UInt8(ascii: ":")) || first.elementsEqual("localhost".utf8)
            || first.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) {
            if let problem = domainProblem(first) { return problem }
            components.removeFirst()
        }
        for component in components {
            guard !component.isEmpty else { return "the repository name has an empty path component" }
            if component.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) {
                return "repository name (\(text(name))) must be lowercase"
            }
            if let problem = pathComponentProblem(component) { return problem }
        }
        return nil
    }

    /// alpha-numeric (separator alpha-numeric)*, separator = [_.] | __ | -+
    private static func pathComponentProblem(_ component: ArraySlice<UInt8>) -> String? {
        guard isLowerAlphanumeric(component.first!), isLowerAlphanumeric(component.last!) else {
            return "path component \"\(text(component))\" must start and end with a lowercase letter or digit"
        }
        var index = component.startIndex
        while index < component.endIndex {
            if isLowerAlphanumeric(component[index]) { index += 1; continue }
            var end = index
            while end < component.endIndex && !isLowerAlphanumeric(component[end]) { end += 1 }
            let separator = component[index..<end]
            let valid = separator.elementsEqual(".".utf8) || separator.elementsEqual("_".utf8)
                || separator.elementsEqual("__".utf8) || separator.allSatisfy { $0 == UInt8(ascii: "-") }
            if !valid { return "path component \"\(text(component))\" has an invalid character sequence \"\(text(separator))\"" }
            index = end
        }
        return nil
    }

    private static func domainProblem(_ domain: ArraySlice<UInt8>) -> String? {
        var host = domain
        if domain.last != UInt8(ascii: "]"), let colon = domain.lastIndex(of: UInt8(ascii: ":")) {
            let port = domain[(colon + 1)...]
            guard !port.isEmpty, port.allSatisfy(Bytes.isDigit) else { return "registry port \"\(text(port))\" is not a number" }
            host = domain[..<colon]
        }
        if host.first == UInt8(ascii: "[") && host.last == UInt8(ascii: "]") { return nil }
        for label in host.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
            guard let first = label.first, let last = label.last, isAlphanumeric(first), isAlphanumeric(last),
                  label.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: "-") }) else {
                return "registry host \"\(text(host))\" is not a valid host name"
            }
        }
        return nil
    }

    private static func tagProblem(_ tag: ArraySlice<UInt8>) -> String? {
        guard let first = tag.first, isAlphanumeric(first) || first == UInt8(ascii: "_") else {
            return "tag \"\(text(tag))\" must start with a letter, digit or _"
        }
        guard tag.count <= 128, tag.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }) else {
            return "tag \"\(text(tag))\" may only hold letters, digits, _ . - and at most 128 characters"
        }
        return nil
    }

    private static func digestProblem(_ digest: ArraySlice<UInt8>) -> String? {
        let parts = digest.split(separator: UInt8(ascii: ":"), maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, let algorithm = parts.first, let first = algorithm.first, Bytes.isLetter(first),
              parts[1].count >= 32, parts[1].allSatisfy(isHex) else {
            return "digest \"\(text(digest))\" is not of the form algorithm:hex (e.g. sha256: and 64 hex digits)"
        }
        if algorithm.elementsEqual("sha256".utf8) && parts[1].count != 64 { return "a sha256 digest has 64 hex digits" }
        return nil
    }
}
