import CCurl
import Foundation
import Locking

/// A small async HTTP client on libcurl: each request runs on its own thread with a pooled easy handle,
/// so kept-alive connections are reused and a blocking transfer never holds a Swift concurrency thread.
public final class HTTPClient: Sendable {
    private let pool: LockedValue<[UnsafeMutableRawPointer]>
    private let maxIdleHandles: Int

    /// Makes a client; `maxIdleHandles` bounds how many idle handles (and their connections) are kept.
    public init(maxIdleHandles: Int = 8) {
        _ = HTTPClient.globalInit
        self.pool = LockedValue([])
        self.maxIdleHandles = maxIdleHandles
    }

    deinit {
        pool.withLock { handles in
            for handle in handles { curl_easy_cleanup(handle) }
            handles.removeAll()
        }
    }

    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    /// Sends a request and waits for the answer; the body streams to `sink` when it accepts it.
    /// Cancelling the task aborts the transfer.
    public func send(_ request: HTTPRequest, sink: (any HTTPBodySink)? = nil) async throws -> HTTPResponse {
        guard request.url.hasPrefix("http://") || request.url.hasPrefix("https://") else {
            throw HTTPError.invalidURL(request.url)
        }
        let transfer = CurlTransfer(request: request, sink: sink)
        return try await withTaskCancellationHandler {
            // The one place where libcurl's blocking world meets async/await.
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<HTTPResponse, any Error>) in
                let thread = Thread { [self] in
                    let handle = self.checkOut()
                    let result = transfer.perform(on: handle)
                    self.checkIn(handle)
                    continuation.resume(with: result)
                }
                thread.name = "idpbuild-http"
                thread.start()
            }
        } onCancel: {
            transfer.cancel()
        }
    }

    private func checkOut() -> UnsafeMutableRawPointer {
        if let handle = pool.withLock({ $0.popLast() }) { return handle }
        guard let handle = curl_easy_init() else { fatalError("curl_easy_init failed: out of memory") }
        return handle
    }

    private func checkIn(_ handle: UnsafeMutableRawPointer) {
        // curl_easy_reset keeps the handle's live connections, so the next request can reuse them.
        curl_easy_reset(handle)
        let kept = pool.withLock { handles -> Bool in
            guard handles.count < maxIdleHandles else { return false }
            handles.append(handle)
            return true
        }
        if !kept { curl_easy_cleanup(handle) }
    }
}
