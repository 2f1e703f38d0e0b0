import Foundation
import TestSupport

/// Writes a layer tar from entry specs with Fixtures/layers/maketar.py.
func makeTar(_ path: String, _ entries: [[String: Any]], compression: String = "none") throws {
    let spec = path + ".json"
    try JSONSerialization.data(withJSONObject: entries).write(to: URL(fileURLWithPath: spec))
    try TestSupport.check(["python3", TestSupport.fixtures.path + "/layers/maketar.py", spec, path, compression])
    try FileManager.default.removeItem(atPath: spec)
}

func file(_ name: String, _ content: String = "", mode: Int = 0o644, uid: Int = 0, gid: Int = 0, xattrs: [String: String]? = nil) -> [String: Any] {
    var e: [String: Any] = ["name": name, "type": "file", "content": content, "mode": mode, "uid": uid, "gid": gid]
    if let xattrs { e["xattrs"] = xattrs }
    return e
}
func directoryEntry(_ name: String, mode: Int = 0o755) -> [String: Any] { ["name": name, "type": "dir", "mode": mode] }
func symlink(_ name: String, to target: String) -> [String: Any] { ["name": name, "type": "symlink", "linkname": target] }
func hardlink(_ name: String, to target: String) -> [String: Any] { ["name": name, "type": "hardlink", "linkname": target] }

func read(_ path: String) -> String? { (try? String(contentsOfFile: path, encoding: .utf8)) }
func exists(_ path: String) -> Bool { var st = stat(); return lstat(path, &st) == 0 }
func statOf(_ path: String) -> stat { var st = stat(); _ = lstat(path, &st); return st }
func xattr(_ path: String, _ name: String) throws -> String {
    try TestSupport.check(["python3", "-c", "import os,sys;sys.stdout.write(os.getxattr(sys.argv[1], sys.argv[2]).decode())", path, name])
}

/// Whether this process is root in the initial user namespace (full privileges: any owner, trusted.* xattrs, mknod).
func isInitialRoot() -> Bool {
    guard geteuid() == 0, let map = try? String(contentsOfFile: "/proc/self/uid_map", encoding: .utf8) else { return false }
    return map.split(whereSeparator: \.isWhitespace) == ["0", "0", "4294967295"]
}
