import CSystemd
#if canImport(Glibc)
import Glibc
#endif

/// A listening socket systemd passed to this process.
public struct PassedSocket: Sendable, Hashable {
    /// The descriptor (from 3 on; close-on-exec is set).
    public var descriptor: Int32
    /// Its name from `FileDescriptorName=` (`LISTEN_FDNAMES`), or `unknown`.
    public var name: String

    /// Makes a record.
    public init(descriptor: Int32, name: String) {
        self.descriptor = descriptor
        self.name = name
    }
}

/// Socket activation (sd_listen_fds(3)): the sockets a `.socket` unit (or `systemd-socket-activate`) passed in
/// `LISTEN_FDS`, `LISTEN_PID` and `LISTEN_FDNAMES`.
public enum SocketActivation {
    /// Takes the passed sockets and removes the `LISTEN_*` variables, so child processes do not take them too.
    /// Empty when nothing was passed, or when `LISTEN_PID` names another process (the descriptors are then not ours:
    /// they are left alone).
    public static func takeSockets() throws(SystemdError) -> [PassedSocket] {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        let count = sd_listen_fds_with_names(1, &names)
        defer {
            if let names {
                var index = 0
                while let name = names[index] {
                    free(name)
                    index += 1
                }
                free(names)
            }
        }
        if count < 0 { throw .listenFDsInvalid(errno: -count) }
        return (0..<Int(count)).map { index in
            let name = names?[index].map { String(cString: $0) } ?? "unknown"
            return PassedSocket(descriptor: SD_LISTEN_FDS_START + Int32(index), name: name)
        }
    }

    /// Why sockets announced in `environment` are not for this process (`pid`), for the log; nil when none were
    /// announced or they are ours.
    public static func ignoredReason(environment: [String: String], pid: Int32 = getpid()) -> String? {
        guard let fds = environment["LISTEN_FDS"], !fds.isEmpty else { return nil }
        guard let listenPID = environment["LISTEN_PID"], !listenPID.isEmpty else {
            return "LISTEN_FDS is set without LISTEN_PID; the descriptors are ignored"
        }
        guard let target = Int32(listenPID) else {
            return "LISTEN_PID \"\(listenPID)\" is not a process id; the descriptors are ignored"
        }
        guard target == pid else {
            return "LISTEN_PID is \(target), not this process (\(pid)): the \(fds) passed descriptor(s) belong to another process and are ignored"
        }
        return nil
    }
}
