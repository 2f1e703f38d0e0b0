import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes framed messages to a file descriptor from its own thread, so a client that stops reading blocks only
/// this thread, never the tasks that produce messages.
final class OutputWriter: @unchecked Sendable {
    private let descriptor: Int32
    private let condition = NSCondition()
    private var queue: [Data] = []
    private var writing = false
    private var stopped = false
    private var failure: String?
    private var flushWaiters: [CheckedContinuation<Void, Never>] = []
    private let onFailure: @Sendable (String) -> Void

    init(descriptor: Int32, onFailure: @escaping @Sendable (String) -> Void) {
        self.descriptor = descriptor
        self.onFailure = onFailure
        let thread = Thread { [self] in loop() }
        thread.name = "jsonrpc-writer"
        thread.start()
    }

    /// Queues one framed message; dropped when the output has failed or the writer stopped.
    func enqueue(_ data: Data) {
        condition.lock()
        if failure == nil && !stopped {
            queue.append(data)
            condition.signal()
        }
        condition.unlock()
    }

    /// Returns once everything queued so far is written (or the output failed).
    func flush() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            condition.lock()
            if (queue.isEmpty && !writing) || failure != nil || stopped {
                condition.unlock()
                continuation.resume()
                return
            }
            flushWaiters.append(continuation)
            condition.unlock()
        }
    }

    /// Stops the thread after the queue drains.
    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        // A client that closed its end makes write() fail with EPIPE; block SIGPIPE on this thread so that failure
        // is an error to handle rather than a signal that kills the process.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        while true {
            condition.lock()
            while queue.isEmpty && !stopped { condition.wait() }
            if queue.isEmpty && stopped {
                let waiters = flushWaiters
                flushWaiters = []
                condition.unlock()
                waiters.forEach { $0.resume() }
                return
            }
            let batch = queue
            queue = []
            writing = true
            condition.unlock()

            var problem: String?
            for data in batch where problem == nil {
                problem = write(data)
            }

            condition.lock()
            writing = false
            if let problem {
                failure = problem
                queue = []
            }
            var waiters: [CheckedContinuation<Void, Never>] = []
            if queue.isEmpty || failure != nil {
                waiters = flushWaiters
                flushWaiters = []
            }
            condition.unlock()
            waiters.forEach { $0.resume() }
            if let problem {
                onFailure(problem)
                return
            }
        }
    }

    /// Writes all of `data`; returns a description of the failure, if any.
    private func write(_ data: Data) -> String? {
        data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) -> String? in
            guard let base = buffer.baseAddress else { return nil }
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(descriptor, base + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    if errno == EAGAIN {
                        var descriptor = pollfd(fd: self.descriptor, events: Int16(POLLOUT), revents: 0)
                        _ = poll(&descriptor, 1, -1)
                        continue
                    }
                    return String(cString: strerror(errno))
                }
                offset += written
            }
            return nil
        }
    }
}
