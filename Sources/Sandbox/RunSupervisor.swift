import CSandbox
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The caller side of one run: spawns the re-executed supervisor, answers the user namespace handshake,
/// streams output lines, enforces the timeout, turns cancellation into closing the lifeline socket (the
/// supervisor then kills PID 1 of the sandbox, which takes every process in it), and reports the result.
/// All blocking I/O happens on one dedicated thread.
final class RunSupervisor: @unchecked Sendable {
    private let run: PreparedRun
    private let continuation: AsyncThrowingStream<SandboxEvent, any Error>.Continuation
    private let lock = NSLock()
    private var wakeWrite: Int32 = -1
    private var cancelled = false
    private var finished = false
    private var done = false
    private var doneWaiters: [CheckedContinuation<Void, Never>] = []

    init(run: PreparedRun, continuation: AsyncThrowingStream<SandboxEvent, any Error>.Continuation) {
        self.run = run
        self.continuation = continuation
    }

    func cancel() {
        lock.lock()
        defer { lock.unlock() }
        guard !cancelled else { return }
        cancelled = true
        if wakeWrite >= 0 && !finished { _ = Plumbing.writeAll(wakeWrite, [1]) }
    }

    private var isCancelled: Bool {
        lock.lock()
        defer { lock.unlock() }
        return cancelled
    }

    /// Returns once the supervisor thread has reaped the supervisor process and cleaned up.
    func waitUntilDone() async {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            lock.lock()
            if done {
                lock.unlock()
                waiter.resume()
            } else {
                doneWaiters.append(waiter)
                lock.unlock()
            }
        }
    }

    func start() {
        let thread = Thread { [self] in self.supervise() }
        thread.name = "idpbuild-sandbox"
        thread.start()
    }

    private func supervise() {
        var fds: [Int32] = []
        func closeAll() { fds.forEach { close($0) }; fds.removeAll() }
        do {
            let (control, controlChild) = try Plumbing.socketPair()
            fds += [control, controlChild]
            let (resultRead, resultWrite) = try Plumbing.pipe()
            fds += [resultRead, resultWrite]
            let (outRead, outWrite) = try Plumbing.pipe()
            fds += [outRead, outWrite]
            let (errRead, errWrite) = try Plumbing.pipe()
            fds += [errRead, errWrite]
            let (wakeRead, wake) = try Plumbing.pipe()
            fds += [wakeRead]
            lock.lock()
            wakeWrite = wake
            let alreadyCancelled = cancelled
            lock.unlock()
            if alreadyCancelled { throw CancellationError() }
            let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
            fds.append(devNull)

            let environment = Plumbing.currentEnvironment().filter { !$0.hasPrefix(CSANDBOX_MARKER + "=") }
                + [CSANDBOX_MARKER + "=container"]
            let pid = try Plumbing.spawn(run.helper, arguments: [run.helper, "sandbox-supervisor"],
                                         environment: environment,
                                         fds: [devNull, outWrite, errWrite, controlChild, resultWrite],
                                         newProcessGroup: true)
            for fd in [controlChild, resultWrite, outWrite, errWrite] { close(fd) }
            fds = [control, resultRead, outRead, errRead, wakeRead, devNull]

            let outcome = supervise(pid: pid, control: control, result: resultRead, out: outRead, err: errRead,
                                    wake: wakeRead)
            closeAll()
            finish(outcome)
        } catch {
            closeAll()
            finish(.failure(error))
        }
    }

    private func finish(_ outcome: Result<Termination, any Error>) {
        lock.lock()
        finished = true
        if wakeWrite >= 0 { close(wakeWrite); wakeWrite = -1 }
        let wasCancelled = cancelled
        lock.unlock()
        // The supervisor removes the run's directories (it can, inside the user namespace); this catches the
        // cases where it never got that far.
        run.cleanup.filter(Plumbing.exists).forEach(Plumbing.removeTree)
        switch outcome {
        case .success(let termination) where !wasCancelled:
            continuation.yield(.finished(termination))
            continuation.finish()
        case .success:
            continuation.finish(throwing: CancellationError())
        case .failure(let error):
            continuation.finish(throwing: wasCancelled ? CancellationError() : error)
        }
        lock.lock()
        done = true
        let waiters = doneWaiters
        doneWaiters = []
        lock.unlock()
        waiters.forEach { $0.resume() }
    }

    private func supervise(pid: pid_t, control: Int32, result: Int32, out: Int32, err: Int32,
                           wake: Int32) -> Result<Termination, any Error> {
        var lifeline = control
        func cutLifeline() {
            if lifeline >= 0 { shutdown(lifeline, Int32(SHUT_RDWR)); lifeline = -1 }
        }
        // Hand over the configuration, then answer the user namespace handshake.
        var length = UInt32(run.payload.count)
        let header = withUnsafeBytes(of: &length) { Array($0) }
        guard Plumbing.writeAll(control, header + run.payload) else {
            _ = Plumbing.wait(pid)
            return .failure(SandboxError.supervisorFailed(detail: "it did not accept its configuration"))
        }
        var setupError: (any Error)?
        if !run.mapping.uids.isEmpty {
            if Plumbing.read(control, max: 1) == [UInt8(ascii: "U")] {
                do {
                    try IDMapWriter.write(run.mapping, to: pid)
                    _ = Plumbing.writeAll(control, [UInt8(ascii: "M")])
                } catch {
                    setupError = error
                    cutLifeline()
                }
            }
        }
        // A private network: the supervisor says 'N' once its namespace exists; slirp4netns joins it, and 'R' lets
        // the command start.
        var network: UserModeNetwork?
        if setupError == nil, let helper = run.networkHelper, Plumbing.read(control, max: 1) == [UInt8(ascii: "N")] {
            do {
                network = try UserModeNetwork.start(executable: helper, targetPID: pid, log: run.networkLog, wake: wake)
                _ = Plumbing.writeAll(control, [UInt8(ascii: "R")])
            } catch {
                setupError = error
                cutLifeline()
            }
        }
        // slirp4netns takes ~10 ms to go (its tap device is torn down): the run does not wait for that.
        defer { if let network { Thread { network.reap() }.start() } }
        for warning in run.warnings { continuation.yield(.warning(warning)) }

        let deadline = run.timeout.map { Date().addingTimeInterval($0) }
        var timedOut = false
        var resultBytes: [UInt8] = []
        var open: [Int32: OutputLine.Stream?] = [out: .stdout, err: .stderr, result: nil, wake: nil]
        var buffers: [Int32: [UInt8]] = [out: [], err: []]
        while open.keys.contains(where: { $0 != wake }) {
            let watched = Array(open.keys)
            var ready = [Int16](repeating: 0, count: watched.count)
            var timeoutMs: Int32 = -1
            if let deadline, !timedOut {
                timeoutMs = Int32(max(0, min(Double(Int32.max), deadline.timeIntervalSinceNow * 1000)))
            }
            let n = csandbox_poll_read(watched, &ready, Int32(watched.count), timeoutMs)
            if n == 0 {
                timedOut = true
                cutLifeline()
                continue
            }
            guard n > 0 else { break }
            for (index, fd) in watched.enumerated() where ready[index] != 0 {
                if fd == wake {
                    open[wake] = nil
                    cutLifeline()
                    continue
                }
                let chunk = Plumbing.read(fd)
                if fd == result {
                    if chunk.isEmpty { open[fd] = nil } else { resultBytes += chunk }
                    continue
                }
                guard let stream = open[fd] ?? nil else { continue }
                if chunk.isEmpty {
                    if let rest = buffers[fd], !rest.isEmpty { emit(rest, stream) }
                    buffers[fd] = []
                    open[fd] = nil
                    continue
                }
                var buffer = buffers[fd, default: []] + chunk
                while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    emit(Array(buffer[..<newline]), stream)
                    buffer.removeSubrange(...newline)
                }
                if buffer.count > 65536 { emit(buffer, stream); buffer = [] }
                buffers[fd] = buffer
            }
        }
        cutLifeline()
        // The command is done: slirp4netns may go while the supervisor cleans up.
        network?.requestStop()
        let supervisorStatus = Plumbing.wait(pid)
        if let setupError { return .failure(setupError) }
        if timedOut { return .failure(SandboxError.timedOut(seconds: run.timeout ?? 0)) }
        return Self.parse(result: resultBytes, supervisorStatus: supervisorStatus)
    }

    private func emit(_ bytes: [UInt8], _ stream: OutputLine.Stream) {
        var line = bytes
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        continuation.yield(.output(OutputLine(text: String(decoding: line, as: UTF8.self), stream: stream)))
    }

    /// Decodes the supervisor's result line: `X code`, `S signal`, or `E kind errno detail`.
    static func parse(result: [UInt8], supervisorStatus: Termination) -> Result<Termination, any Error> {
        let text = String(decoding: result, as: UTF8.self)
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
            if fields.first == "E", fields.count >= 3 {
                return .failure(error(kind: fields[1], errno: Int32(fields[2]) ?? 0, detail: fields.count > 3 ? fields[3] : ""))
            }
        }
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 2, let value = Int32(fields[1]) {
                if fields[0] == "X" { return .success(.exited(value)) }
                if fields[0] == "S" { return .success(.signaled(value)) }
            }
        }
        return .failure(SandboxError.supervisorFailed(detail: "it ended with \(supervisorStatus) and reported nothing"))
    }

    static func error(kind: String, errno err: Int32, detail: String) -> SandboxError {
        switch kind {
        case "userns": return .userNamespacesRefused(errno: err)
        case "overlay": return .overlayUnsupported(errno: err, detail: detail)
        case "unshare": return .namespaceFailed(what: detail, errno: err)
        case "network": return .mountFailed(what: "the loopback interface (\(detail))", errno: err)
        default: return .mountFailed(what: detail.isEmpty ? kind : detail, errno: err)
        }
    }
}
