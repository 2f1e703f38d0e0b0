import CCurl
import Foundation
import Locking
#if canImport(Glibc)
import Glibc
#endif

/// One transfer's state, touched by libcurl's callbacks on the transfer thread (and `cancel` from anywhere).
final class CurlTransfer: @unchecked Sendable {
    let request: HTTPRequest
    let sink: (any HTTPBodySink)?
    private let cancelled = LockedValue(false)

    // State below is only touched on the transfer thread.
    private var status = 0
    private var headers = HTTPHeaders()
    private var headersComplete = false
    private var streaming = false
    private var collected = [UInt8]()
    private var failure: (any Error)?
    private var fileDescriptor: Int32 = -1
    private var bodyOffset: Int64 = 0
    private var bodyRemaining: Int64 = 0
    private var bytesBody: [UInt8] = []

    init(request: HTTPRequest, sink: (any HTTPBodySink)?) {
        self.request = request
        self.sink = sink
    }

    func cancel() { cancelled.withLock { $0 = true } }

    var isCancelled: Bool { cancelled.withLock { $0 } }

    /// Runs the transfer to completion on the calling thread.
    func perform(on handle: UnsafeMutableRawPointer) -> Result<HTTPResponse, any Error> {
        let host = request.host
        var headerList: UnsafeMutablePointer<curl_slist>?
        defer {
            curl_slist_free_all(headerList)
            if fileDescriptor >= 0 { close(fileDescriptor) }
        }
        let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        defer { errorBuffer.deallocate() }

        let me = Unmanaged.passUnretained(self).toOpaque()
        _ = idp_setopt_string(handle, CURLOPT_URL, request.url)
        _ = idp_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https")
        _ = idp_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0)  // redirects are the caller's decision (credentials)
        _ = idp_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
        _ = idp_setopt_long(handle, CURLOPT_TCP_KEEPALIVE, 1)
        _ = idp_setopt_long(handle, CURLOPT_BUFFERSIZE, 512 * 1024)
        _ = idp_setopt_long(handle, CURLOPT_UPLOAD_BUFFERSIZE, 2 * 1024 * 1024)
        _ = idp_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer)
        _ = idp_setopt_long(handle, CURLOPT_CONNECTTIMEOUT, request.timeouts.connect)
        _ = idp_setopt_long(handle, CURLOPT_LOW_SPEED_LIMIT, 1)
        _ = idp_setopt_long(handle, CURLOPT_LOW_SPEED_TIME, request.timeouts.stall)
        if let total = request.timeouts.total { _ = idp_setopt_long(handle, CURLOPT_TIMEOUT, total) }
        _ = idp_setopt_data_callback(handle, CURLOPT_HEADERFUNCTION, curlHeaderCallback)
        _ = idp_setopt_pointer(handle, CURLOPT_HEADERDATA, me)
        _ = idp_setopt_data_callback(handle, CURLOPT_WRITEFUNCTION, curlWriteCallback)
        _ = idp_setopt_pointer(handle, CURLOPT_WRITEDATA, me)
        _ = idp_setopt_long(handle, CURLOPT_NOPROGRESS, 0)
        _ = idp_setopt_xferinfo_callback(handle, curlProgressCallback)
        _ = idp_setopt_pointer(handle, CURLOPT_XFERINFODATA, me)
        applyTLS(handle)

        let method = request.method.uppercased()
        switch method {
        case "GET": break
        case "HEAD": _ = idp_setopt_long(handle, CURLOPT_NOBODY, 1)
        default:
            if method == "DELETE" && request.body == .none {
                _ = idp_setopt_string(handle, CURLOPT_CUSTOMREQUEST, method)
            } else {
                // Every body-carrying method is an "upload" with a custom verb and a known length.
                switch request.body {
                case .none: break
                case .bytes(let bytes): bytesBody = bytes
                case let .file(path, offset, length):
                    fileDescriptor = open(path, O_RDONLY | O_CLOEXEC)
                    guard fileDescriptor >= 0 else { return .failure(HTTPError.unreadableFile(path)) }
                    bodyOffset = offset
                    bodyRemaining = length
                }
                if case .bytes = request.body { bodyRemaining = Int64(bytesBody.count) }
                _ = idp_setopt_long(handle, CURLOPT_UPLOAD, 1)
                _ = idp_setopt_off(handle, CURLOPT_INFILESIZE_LARGE, curl_off_t(request.body.length))
                _ = idp_setopt_data_callback(handle, CURLOPT_READFUNCTION, curlReadCallback)
                _ = idp_setopt_pointer(handle, CURLOPT_READDATA, me)
                _ = idp_setopt_string(handle, CURLOPT_CUSTOMREQUEST, method)
            }
        }
        var headers = request.headers
        if headers["Expect"] == nil { headers.add("Expect", "") }  // no 100-continue round trip
        if request.body != .none && headers["Content-Type"] == nil { headers.add("Content-Type", "application/octet-stream") }
        for field in headers {
            // "Name;" is libcurl's way to send a header with an empty value, "Name:" removes one.
            let line = field.value.isEmpty ? (field.name.caseInsensitiveCompare("Expect") == .orderedSame ? "\(field.name):" : "\(field.name);")
                                           : "\(field.name): \(field.value)"
            headerList = curl_slist_append(headerList, line)
        }
        _ = idp_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList)

        let code = curl_easy_perform(handle)
        if let failure { return .failure(failure) }
        if isCancelled { return .failure(CancellationError()) }
        guard code == CURLE_OK else {
            var detail = String(cString: errorBuffer)
            if detail.isEmpty { detail = String(cString: curl_easy_strerror(code)) }
            return .failure(Self.error(for: code, host: host, detail: detail))
        }
        var connects = 0
        _ = idp_getinfo_long(handle, CURLINFO_NUM_CONNECTS, &connects)
        if !headersComplete { finishHeaders() }
        if streaming, let sink {
            do { try sink.complete() } catch {
                return .failure((error as? HTTPError) ?? HTTPError.sink("\(error)"))
            }
        }
        return .success(HTTPResponse(status: status, headers: self.headers, body: collected, streamed: streaming,
                                     newConnections: connects, url: request.url))
    }

    private func applyTLS(_ handle: UnsafeMutableRawPointer) {
        let tls = request.tls
        if tls.insecureSkipVerify {
            _ = idp_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 0)
            _ = idp_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 0)
        }
        if !tls.useSystemCAs {
            _ = idp_setopt_pointer(handle, CURLOPT_CAINFO, nil)
            _ = idp_setopt_pointer(handle, CURLOPT_CAPATH, nil)
        }
        // With OpenSSL, CAINFO_BLOB is loaded in addition to the default CA file and path.
        if var pem = tls.extraCAPEM {
            pem.withUnsafeMutableBytes { _ = idp_setopt_blob(handle, CURLOPT_CAINFO_BLOB, $0.baseAddress, $0.count) }
        }
        if var cert = tls.clientCertificatePEM {
            _ = idp_setopt_string(handle, CURLOPT_SSLCERTTYPE, "PEM")
            cert.withUnsafeMutableBytes { _ = idp_setopt_blob(handle, CURLOPT_SSLCERT_BLOB, $0.baseAddress, $0.count) }
        }
        if var key = tls.clientKeyPEM {
            _ = idp_setopt_string(handle, CURLOPT_SSLKEYTYPE, "PEM")
            key.withUnsafeMutableBytes { _ = idp_setopt_blob(handle, CURLOPT_SSLKEY_BLOB, $0.baseAddress, $0.count) }
        }
    }

    static func error(for code: CURLcode, host: String, detail: String) -> HTTPError {
        switch code {
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL: return .invalidURL(detail)
        case CURLE_COULDNT_RESOLVE_HOST: return .unresolvableHost(host)
        case CURLE_COULDNT_CONNECT: return .connectionFailed(host: host, detail: detail)
        case CURLE_OPERATION_TIMEDOUT: return .timedOut(host: host, detail: detail)
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CERTPROBLEM,
             CURLE_SSL_CIPHER, CURLE_SSL_ENGINE_NOTFOUND, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH:
            return .tls(host: host, detail: detail)
        case CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_PARTIAL_FILE, CURLE_GOT_NOTHING, CURLE_HTTP2, CURLE_HTTP2_STREAM:
            return .interrupted(host: host, detail: detail)
        case CURLE_SEND_FAIL_REWIND:
            // A reused connection died before any answer and libcurl wanted to send the body again, which a streamed
            // body does not allow (there is deliberately no seek callback: how much of it arrived is the caller's to ask).
            return .interrupted(host: host, detail: "the connection closed before the request body was sent in full (\(detail))")
        default: return .other(host: host, code: Int(code.rawValue), detail: detail)
        }
    }

    // MARK: callbacks (transfer thread)

    fileprivate func onHeader(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
        var end = line.count
        while end > 0 && (line[end - 1] == 0x0a || line[end - 1] == 0x0d) { end -= 1 }
        let text = String(decoding: UnsafeBufferPointer(rebasing: line[0..<end]), as: UTF8.self)
        if text.hasPrefix("HTTP/") {
            // A new status line: an interim 1xx answer is superseded by the next one.
            let parts = text.split(separator: " ", maxSplits: 2)
            status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
            headers = HTTPHeaders()
            headersComplete = false
            return true
        }
        if text.isEmpty {
            if status >= 200 && !headersComplete { finishHeaders() }
            return true
        }
        if let colon = text.firstIndex(of: ":") {
            let name = String(text[..<colon])
            let value = text[text.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            headers.add(name, value)
        }
        return true
    }

    private func finishHeaders() {
        headersComplete = true
        if let sink, (200..<300).contains(status), request.method.uppercased() != "HEAD" {
            streaming = sink.accept(status: status, headers: headers)
        }
    }

    fileprivate func onBody(_ chunk: UnsafeRawBufferPointer) -> Bool {
        if isCancelled { return false }
        if !headersComplete { finishHeaders() }
        if streaming, let sink {
            do { try sink.write(chunk) } catch {
                failure = (error as? HTTPError) ?? HTTPError.sink("\(error)")
                return false
            }
            return true
        }
        guard collected.count + chunk.count <= request.maxCollectedBody else {
            failure = HTTPError.responseTooLarge(host: request.host, limit: request.maxCollectedBody)
            return false
        }
        collected.append(contentsOf: chunk)
        return true
    }

    fileprivate func onRead(_ buffer: UnsafeMutableRawBufferPointer) -> Int? {
        if isCancelled { return nil }
        let wanted = Int(min(Int64(buffer.count), bodyRemaining))
        if wanted == 0 { return 0 }
        if fileDescriptor >= 0 {
            let n = pread(fileDescriptor, buffer.baseAddress, wanted, off_t(bodyOffset))
            guard n > 0 else {
                failure = HTTPError.unreadableFile("request body file (read failed: errno \(errno))")
                return nil
            }
            bodyOffset += Int64(n)
            bodyRemaining -= Int64(n)
            return n
        }
        let start = bytesBody.count - Int(bodyRemaining)
        bytesBody.withUnsafeBytes { source in
            buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[start..<(start + wanted)]))
        }
        bodyRemaining -= Int64(wanted)
        return wanted
    }

    fileprivate func onProgress(dlTotal: Int64, dlNow: Int64, ulTotal: Int64, ulNow: Int64) -> Bool {
        if isCancelled { return false }
        request.progress?(HTTPProgress(sent: ulNow, sendTotal: ulTotal, received: dlNow, receiveTotal: dlTotal))
        return true
    }
}

private func transfer(_ userdata: UnsafeMutableRawPointer?) -> CurlTransfer {
    Unmanaged<CurlTransfer>.fromOpaque(userdata!).takeUnretainedValue()
}

private let curlHeaderCallback: idp_data_callback = { buffer, size, count, userdata in
    let length = size * count
    let line = UnsafeBufferPointer(start: UnsafeRawPointer(buffer!).assumingMemoryBound(to: UInt8.self), count: length)
    return transfer(userdata).onHeader(line) ? length : 0
}

private let curlWriteCallback: idp_data_callback = { buffer, size, count, userdata in
    let length = size * count
    return transfer(userdata).onBody(UnsafeRawBufferPointer(start: buffer, count: length)) ? length : 0
}

private let curlReadCallback: idp_data_callback = { buffer, size, count, userdata in
    let length = size * count
    guard let n = transfer(userdata).onRead(UnsafeMutableRawBufferPointer(start: buffer, count: length)) else {
        return idp_readfunc_abort()
    }
    return n
}

private let curlProgressCallback: idp_xferinfo_callback = { userdata, dlTotal, dlNow, ulTotal, ulNow in
    transfer(userdata).onProgress(dlTotal: Int64(dlTotal), dlNow: Int64(dlNow), ulTotal: Int64(ulTotal), ulNow: Int64(ulNow)) ? 0 : 1
}
