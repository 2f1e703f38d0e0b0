import Foundation
import Testing
@testable import JSONRPC

@Suite struct FramingTests {
    private func events(_ chunks: [String], limit: Int = 1 << 20) -> [FrameDecoder.Event] {
        var decoder = FrameDecoder(maximumMessageSize: limit)
        var found: [FrameDecoder.Event] = []
        for chunk in chunks {
            decoder.append(Array(chunk.utf8))
            while let event = decoder.next() { found.append(event) }
        }
        return found
    }

    private func message(_ text: String) -> FrameDecoder.Event { .message(Data(text.utf8)) }

    @Test func messagesSplitAcrossReadsAndJoinedInOneRead() {
        let stream = "Content-Length: 2\r\n\r\n{}Content-Length: 4\r\n\r\nnull"
        #expect(events(stream.map { String($0) }) == [message("{}"), message("null")])
        #expect(events([stream]) == [message("{}"), message("null")])
    }

    @Test func headerNamesIgnoreCaseAndContentTypeUTF8IsAccepted() {
        let stream = "content-length: 2\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n{}"
            + "Content-Type: application/vscode-jsonrpc; charset=\"UTF8\"\r\nCONTENT-LENGTH:3\r\nX-Other: y\r\n\r\n[1]"
        #expect(events([stream]) == [message("{}"), message("[1]")])
    }

    @Test func bareNewlinesAndBlankLinesBetweenMessagesAreTolerated() {
        #expect(events(["Content-Length: 2\n\n{}\r\n\r\nContent-Length: 2\r\n\r\n[]"]) == [message("{}"), message("[]")])
    }

    @Test func garbageHeaderIsReportedOnceAndTheNextMessageIsRead() {
        let found = events(["hello there\r\n\r\n{\"jsonrpc\":\"2.0\"}Content-Length: 2\r\n\r\n{}"])
        #expect(found.count == 2)
        guard case .malformed(let problem) = found.first else { Issue.record("expected malformed, got \(found)"); return }
        #expect(problem.contains("not \"Name: value\""))
        #expect(found.last == message("{}"))
    }

    @Test func missingOrBadContentLengthIsMalformed() {
        for header in ["Content-Type: application/json\r\n\r\n", "Content-Length: -3\r\n\r\n", "Content-Length: 12abc\r\n\r\n",
                       "Content-Length: 2\r\nContent-Length: 3\r\n\r\n"] {
            let found = events([header + "Content-Length: 2\r\n\r\n{}"])
            guard case .malformed = found.first else { Issue.record("\(header): \(found)"); continue }
            #expect(found.last == message("{}"), "\(header)")
        }
    }

    @Test func oversizedBodyIsSkippedWithoutBufferingAndStillNamesItsRequest() {
        var decoder = FrameDecoder(maximumMessageSize: 100)
        // The id comes after a megabyte of params: it is still found.
        let body = #"{"jsonrpc":"2.0","params":{"id":1,"s":""# + String(repeating: "x", count: 1_000_000) + #"","a":[{"id":2}]},"method":"big","id":7}"#
        decoder.append(Array("Content-Length: \(body.utf8.count)\r\n\r\n".utf8))
        #expect(decoder.next() == nil)
        // Feed the body in chunks; nothing accumulates.
        let bytes = Array(body.utf8)
        var found: [FrameDecoder.Event] = []
        for start in stride(from: 0, to: bytes.count, by: 65_536) {
            decoder.append(Array(bytes[start..<min(start + 65_536, bytes.count)]))
            while let event = decoder.next() { found.append(event) }
        }
        decoder.append(Array("Content-Length: 2\r\n\r\n{}".utf8))
        while let event = decoder.next() { found.append(event) }
        #expect(found.count == 2)
        #expect(found.first == .oversized(length: bytes.count, id: .number(7), method: "big"))
        #expect(found.last == message("{}"))
    }

    @Test func otherCharsetsAreSkipped() {
        let found = events(["Content-Length: 2\r\nContent-Type: application/json; charset=utf-16\r\n\r\n{}Content-Length: 2\r\n\r\n[]"])
        #expect(found.first == .unsupportedCharset("utf-16", id: nil))
        #expect(found.last == message("[]"))
    }

    @Test func endlessHeaderIsReportedAndTheStreamRecovers() {
        let junk = String(repeating: "a", count: 20_000)
        let found = events([junk, "Content-Length: 2\r\n\r\n{}"])
        guard case .malformed(let problem) = found.first else { Issue.record("\(found)"); return }
        #expect(problem.contains("longer than 8192 bytes"))
        #expect(found.last == message("{}"))
    }

    @Test func betweenMessagesTracksPartialInput() {
        var decoder = FrameDecoder(maximumMessageSize: 100)
        #expect(decoder.isBetweenMessages)
        decoder.append(Array("Content-Length: 2\r\n\r\n{".utf8))
        #expect(decoder.next() == nil)
        #expect(!decoder.isBetweenMessages)
        decoder.append(Array("}\r\n".utf8))
        #expect(decoder.next() == message("{}"))
        #expect(decoder.isBetweenMessages)
    }

    @Test func frameWritesTheLengthInBytes() {
        let framed = Framing.frame(Data("\"é\"".utf8))
        #expect(String(decoding: framed, as: UTF8.self) == "Content-Length: 4\r\n\r\n\"é\"")
    }
}

@Suite struct MessageDecodingTests {
    private func decode(_ json: String) -> IncomingMessage { MessageDecoding.decode(Data(json.utf8)) }

    private func error(_ json: String) -> (RequestID?, ResponseError)? {
        if case .invalid(let id, let error) = decode(json) { return (id, error) }
        return nil
    }

    @Test func classifiesRequestsNotificationsAndResponses() throws {
        guard case .request(let request) = decode(#"{"jsonrpc":"2.0","id":"a","method":"m","params":{"x":1}}"#) else { Issue.record("not a request"); return }
        #expect(request.id == .string("a"))
        #expect(request.method == "m")
        struct X: Decodable { var x: Int }
        #expect(try request.params.decode(X.self).x == 1)
        guard case .notification(let notification) = decode(#"{"jsonrpc":"2.0","method":"n"}"#) else { Issue.record("not a notification"); return }
        #expect(!notification.params.isPresent)
        guard case .response(let response) = decode(#"{"jsonrpc":"2.0","id":3,"result":null}"#) else { Issue.record("not a response"); return }
        #expect(response.id == .number(3))
        guard case .response(let failed) = decode(#"{"jsonrpc":"2.0","id":4,"error":{"code":-32601,"message":"no"}}"#),
              case .failure(let failure) = failed.outcome else { Issue.record("not an error response"); return }
        #expect(failure.code == ErrorCode.methodNotFound)
    }

    @Test func invalidMessagesGetTheRightCodes() {
        #expect(error("{nope")?.1.code == ErrorCode.parseError)
        #expect(error("[1,2]")?.1.code == ErrorCode.invalidRequest)
        #expect(error("[1,2]")?.1.message.contains("batch") == true)
        #expect(error(#""text""#)?.1.code == ErrorCode.invalidRequest)
        #expect(error(#"{"id":1,"method":"m"}"#)?.0 == .number(1))
        #expect(error(#"{"id":1,"method":"m"}"#)?.1.message.contains("jsonrpc") == true)
        #expect(error(#"{"jsonrpc":"2.0","id":{"a":1},"method":"m"}"#)?.1.code == ErrorCode.invalidRequest)
        #expect(error(#"{"jsonrpc":"2.0","id":null,"method":"m"}"#)?.0 == nil)
        #expect(error(#"{"jsonrpc":"2.0","id":2,"method":5}"#)?.1.message.contains("method") == true)
        #expect(error(#"{"jsonrpc":"2.0","id":2}"#)?.1.code == ErrorCode.invalidRequest)
        #expect(error(#"{"jsonrpc":"2.0","id":2,"error":"bad"}"#)?.1.code == ErrorCode.invalidRequest)
    }

    @Test func wrongParameterTypesNameThePath() {
        struct Inner: Decodable { var uri: String }
        struct Params: Decodable { var textDocument: Inner; var items: [Int] }
        let payload = Payload(json: #"{"textDocument":{"uri":5},"items":[1]}"#)
        #expect(throws: ResponseError.invalidParams("params.textDocument.uri: expected a string")) { try payload.decode(Params.self) }
        let missing = Payload(json: #"{"items":[1]}"#)
        #expect(throws: ResponseError.invalidParams("params.textDocument is missing")) { try missing.decode(Params.self) }
        let element = Payload(json: #"{"textDocument":{"uri":"u"},"items":[1,"x"]}"#)
        #expect(throws: ResponseError.invalidParams("params.items[1]: expected a number")) { try element.decode(Params.self) }
        #expect(throws: ResponseError.self) { try Payload.absent.decode(Params.self) }
    }

    @Test func sniffingFindsTheIdAndMethodAtTheTopLevelOnly() {
        let head = Array(#"{"jsonrpc":"2.0","params":{"id":99,"method":"inner","x":[1,{"id":3}]},"method":"textDocument/didOpen","id":"req-1""#.utf8)
        let (id, method) = EnvelopeSniffer.sniff(head)
        #expect(id == .string("req-1"))
        #expect(method == "textDocument/didOpen")
        #expect(EnvelopeSniffer.sniff(Array(#"{"method":"a\"b","#.utf8)).method == "a\"b")
        #expect(EnvelopeSniffer.sniff(Array("not json".utf8)).id == nil)
    }

    @Test func jsonValueRoundTripsAndReadsPaths() throws {
        let text = #"{"a":[1,2.5,"s",true,null,{"b":{}}]}"#
        let value = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        #expect(value["a"]?.arrayValue?.count == 6)
        #expect(value["a"]?.arrayValue?[1] == .double(2.5))
        #expect(value["a"]?.arrayValue?[0].intValue == 1)
        #expect(value["a"]?.arrayValue?[2].stringValue == "s")
        #expect(value["a"]?.arrayValue?[3].boolValue == true)
        #expect(value["a"]?.arrayValue?[4].isNull == true)
        let again = try JSONDecoder().decode(JSONValue.self, from: JSONText.encoder().encode(value))
        #expect(again == value)
        #expect(JSONValue.string("x").typeDescription == "a string")
        #expect(JSONText.quoted("a\"b\\c\n\u{1}") == #""a\"b\\c\n\u0001""#)
        #expect(RequestID.string("x").description == "\"x\"")
    }
}
