// Shared by the Sandbox and LayerDiff tests: a busybox root filesystem from Debian's busybox-static, scratch
// directories that must end up empty, a libarchive tar reader, and a host process scan.
import CArchive
import Foundation
import Sandbox
#if canImport(Glibc)
import Glibc
#endif

/// A temporary directory removed (even when it holds subordinate-ID files) when the test is done.
public final class ScratchDirectory {
    /// Its absolute path.
    public let path: String

    /// Creates `/tmp/idpbuild-test-<label>-XXXXXX`.
    public init(_ label: String) throws {
        var template = Array(("/tmp/idpbuild-test-\(label)-XXXXXX").utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Makes (and returns) a subdirectory.
    public func subdirectory(_ name: String) throws -> String {
        let sub = path + "/" + name
        try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: true)
        return sub
    }

    /// Entries directly inside.
    public func contents() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
    }

    deinit { removeTreeAsNamespaceRoot(path) }
}

/// Removes a tree; an unprivileged caller does it inside a user namespace (files owned by subordinate IDs).
public func removeTreeAsNamespaceRoot(_ path: String) {
    if geteuid() == 0 {
        try? FileManager.default.removeItem(atPath: path)
        return
    }
    _ = try? UserNamespace.run(["rm", "-rf", path])
    try? FileManager.default.removeItem(atPath: path)
}

/// The repository's Fixtures directory.
public let fixturesDirectory: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.appendingPathComponent("Fixtures").path
}()

/// Builds a busybox root filesystem in `directory`: /bin/busybox, one symlink per applet, /etc/passwd and
/// /etc/group from Fixtures/sandbox, /tmp.
public func makeBusyboxRootfs(in directory: String) throws {
    let fm = FileManager.default
    try fm.createDirectory(atPath: directory + "/bin", withIntermediateDirectories: true)
    try fm.copyItem(atPath: "/bin/busybox", toPath: directory + "/bin/busybox")
    let listing = try run("/bin/busybox", ["--list-full"]).stdout
    for applet in listing.split(separator: "\n").map(String.init) where !applet.isEmpty {
        let target = directory + "/" + applet
        try fm.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        if !fm.fileExists(atPath: target) { try fm.createSymbolicLink(atPath: target, withDestinationPath: "/bin/busybox") }
    }
    try fm.createDirectory(atPath: directory + "/etc", withIntermediateDirectories: true)
    for name in ["passwd", "group"] {
        try fm.copyItem(atPath: fixturesDirectory + "/sandbox/etc/" + name, toPath: directory + "/etc/" + name)
    }
    try fm.createDirectory(atPath: directory + "/tmp", withIntermediateDirectories: true)
    chmod(directory + "/tmp", 0o1777)
}

/// Output of a helper process run by the tests.
public struct ProcessOutput {
    /// Exit status.
    public var status: Int32
    /// Standard output.
    public var stdout: String
    /// Standard error.
    public var stderr: String
}

/// Runs a program to completion (test plumbing only).
@discardableResult
public func run(_ path: String, _ arguments: [String], environment: [String: String] = [:]) throws -> ProcessOutput {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    env.merge(environment) { $1 }
    process.environment = env
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ProcessOutput(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                         stderr: String(decoding: stderr, as: UTF8.self))
}

/// Host processes whose command line starts with `needle`.
public func hostProcesses(containing needle: String) -> [Int32] {
    let me = getpid()
    return ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { name in
        guard let pid = Int32(name), pid != me,
              let data = FileManager.default.contents(atPath: "/proc/\(name)/cmdline") else { return nil }
        let cmdline = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
        return cmdline.hasPrefix(needle) ? pid : nil
    }
}

/// Polls `condition` until it holds or `seconds` pass; returns whether it held.
public func eventually(within seconds: Double = 10, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(20_000)
    }
    return condition()
}

/// The mount table of this process.
public func mountTable() -> String {
    (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
}

/// One entry of a tar stream as libarchive reads it.
public struct TarEntry: Equatable {
    /// Path inside the archive.
    public var path: String
    /// File type and permission bits.
    public var mode: UInt32
    /// Owner.
    public var uid: Int64
    /// Group.
    public var gid: Int64
    /// Size of the data.
    public var size: Int64
    /// Modification time (seconds).
    public var mtime: Int64
    /// Symlink target.
    public var symlink: String?
    /// Hard link target.
    public var hardlink: String?
    /// Extended attributes.
    public var xattrs: [String: [UInt8]]
    /// Data (for regular files).
    public var data: [UInt8]

    /// True for a regular file.
    public var isRegular: Bool { mode & 0o170000 == 0o100000 }
}

/// Reads every entry of a (possibly compressed) tar file.
public func readTar(_ path: String) throws -> [TarEntry] {
    guard let archive = archive_read_new() else { throw POSIXError(.ENOMEM) }
    defer { archive_read_free(archive) }
    archive_read_support_filter_all(archive)
    archive_read_support_format_tar(archive)
    guard archive_read_open_filename(archive, path, 65536) == ARCHIVE_OK else {
        throw NSError(domain: "tar", code: 1, userInfo: [NSLocalizedDescriptionKey: String(cString: archive_error_string(archive))])
    }
    var entries: [TarEntry] = []
    var entry: OpaquePointer?
    while true {
        let rc = archive_read_next_header(archive, &entry)
        if rc == ARCHIVE_EOF { break }
        guard rc == ARCHIVE_OK || rc == ARCHIVE_WARN, let entry else {
            throw NSError(domain: "tar", code: 2, userInfo: [NSLocalizedDescriptionKey: String(cString: archive_error_string(archive))])
        }
        var xattrs: [String: [UInt8]] = [:]
        archive_entry_xattr_reset(entry)
        var name: UnsafePointer<CChar>?
        var value: UnsafeRawPointer?
        var size = 0
        while archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK {
            if let name { xattrs[String(cString: name)] = value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? [] }
        }
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { archive_read_data(archive, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            data += buffer[0..<n]
        }
        entries.append(TarEntry(
            path: String(cString: archive_entry_pathname(entry)), mode: UInt32(archive_entry_mode(entry)),
            uid: archive_entry_uid(entry), gid: archive_entry_gid(entry), size: archive_entry_size(entry),
            mtime: Int64(archive_entry_mtime(entry)),
            symlink: archive_entry_symlink(entry).map { String(cString: $0) },
            hardlink: archive_entry_hardlink(entry).map { String(cString: $0) },
            xattrs: xattrs, data: data))
    }
    return entries
}
