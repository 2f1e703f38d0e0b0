import Foundation
import HTTP
import OCI
@testable import Registry
import Testing

@Suite struct RegistryUnitTests {
    @Test func parsesChallenges() {
        let c = AuthChallenge.parse(#"Bearer realm="https://gitea.cnoe.localtest.me:8443/v2/token",service="container_registry",scope="*""#)
        #expect(c.count == 1)
        #expect(c[0].scheme == "bearer")
        #expect(c[0].parameters["realm"] == "https://gitea.cnoe.localtest.me:8443/v2/token")
        #expect(c[0].parameters["service"] == "container_registry")
        #expect(c[0].parameters["scope"] == "*")
        let two = AuthChallenge.parse(#"Basic realm="Gitea Package API", Bearer realm="https://h/t",error="insufficient_scope",scope="repository:a/b:pull,push""#)
        #expect(two.map(\.scheme) == ["basic", "bearer"])
        #expect(two[0].parameters["realm"] == "Gitea Package API")
        #expect(two[1].parameters["scope"] == "repository:a/b:pull,push")
        #expect(AuthChallenge.parse(#"Basic realm="a \"quoted\" realm""#)[0].parameters["realm"] == #"a "quoted" realm"#)
        #expect(AuthChallenge.parse("Negotiate").first?.parameters.isEmpty == true)
        #expect(AuthChallenge.parse("").isEmpty)
    }

    @Test func credentialPolicyComparesHostsAndDomains() {
        #expect(CredentialPolicy.sameSite("gitea.cnoe.localtest.me:8443", "https://gitea.cnoe.localtest.me:8443/v2/token"))
        #expect(CredentialPolicy.sameSite("registry-1.docker.io", "auth.docker.io"))
        #expect(!CredentialPolicy.sameSite("registry.example.com", "evil.com"))
        #expect(!CredentialPolicy.sameSite("127.0.0.1:5000", "127.0.0.2:5000"))
        #expect(!CredentialPolicy.sameSite("127.0.0.1:5000", "localhost:5000"))
        #expect(CredentialPolicy.hostname("[::1]:5000") == "::1")
        #expect(CredentialPolicy.authority("http://Host:5/v2/x?y") == "host:5")
    }

    @Test func giteaRulesRequireTheOwnerNamespace() throws {
        try GiteaRules.validate(repository: "giteaadmin/app", host: "g:8443", owner: "giteaAdmin")
        #expect { try GiteaRules.validate(repository: "library/app", host: "g:8443", owner: "giteaadmin") } throws: {
            "\($0)".contains("g:8443/giteaadmin/app")
        }
        #expect(throws: RegistryError.self) { try GiteaRules.validate(repository: "app", host: "g", owner: "giteaadmin") }
    }

    @Test func resolvesRelativeLocationsAndAppendsDigests() {
        #expect(RegistryClient.resolve("/v2/a/blobs/uploads/u1?_state=x", against: "https://h:1/v2/a/blobs/uploads/") == "https://h:1/v2/a/blobs/uploads/u1?_state=x")
        #expect(RegistryClient.resolve("http://other/x", against: "https://h/") == "http://other/x")
        let d = Digest.sha256(of: [1])
        #expect(RegistryClient.appendDigest(d, to: "http://h/u?_state=1") == "http://h/u?_state=1&digest=\(d)")
        #expect(RegistryClient.appendDigest(d, to: "http://h/u") == "http://h/u?digest=\(d)")
    }

    @Test func errorBodiesAndMessages() {
        #expect(RegistryClient.errorDetail(Array(#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#.utf8))
                == "DENIED: requested access to the resource is denied")
        #expect(RegistryClient.errorDetail(Array("plain text".utf8)) == "plain text")
        #expect(RegistryClient.errorDetail([0xff, 0x00]) == "")
        let c = RegistryCredential(username: "u", password: "hunter2", source: "flags")
        #expect(!"\(c)".contains("hunter2"))
        #expect(c.basicAuthorization == "Basic " + Data("u:hunter2".utf8).base64EncodedString())
        for e: RegistryError in [.denied(host: "h", repository: "r", credentialSource: "s", detail: ""), .notFound(host: "h", what: "w"),
                                 .sizeMismatch(host: "h", what: "b", expected: 1, actual: 2), .badResponse(host: "h", detail: "d"),
                                 .localFile(path: "/p", detail: "d"), .invalidTarget("t")] {
            #expect(!e.description.isEmpty)
        }
        #expect(RetryPolicy(attempts: 3, initialDelay: 1, maxDelay: 3).delay(afterAttempt: 3) == 3_000_000_000)
        #expect(RetryPolicy(attempts: 0).attempts == 1)
    }

    @Test func retryBudgetsCountFailuresUntilProgressAndStopAtTheDeadline() {
        let budget = RetryBudget(RetryPolicy(attempts: 3, initialDelay: 1, maxDelay: 4, deadline: 60, maxRetryAfter: 10))
        #expect(budget.timeouts() == HTTPTimeouts(connect: 10, stall: 20))
        budget.failed()
        #expect(budget.nextDelay() == 1_000_000_000)
        #expect(budget.nextDelay(retryAfter: 3) == 3_000_000_000)
        #expect(budget.nextDelay(retryAfter: 3600) == 10_000_000_000)  // capped
        budget.failed()
        #expect(budget.nextDelay() == 2_000_000_000)
        budget.failed()
        #expect(budget.nextDelay() == nil)  // three failures in a row
        budget.progress(to: 100)  // a resumed transfer got further: the count starts again
        #expect(budget.failures == 0)
        budget.failed(since: Date().addingTimeInterval(-58))
        #expect(budget.nextDelay() == 1_000_000_000)
        #expect(budget.timeouts() == HTTPTimeouts(connect: 2, stall: 2))  // no attempt runs past the deadline
        budget.progress(to: 100)  // not further than before: no forgiveness
        #expect(budget.failures == 1)
        budget.failed()
        #expect(budget.nextDelay() == nil)  // 58 s + 2 s of backoff reaches the deadline
    }

    @Test func parsesRangesAndRetryAfter() {
        #expect(RegistryClient.rangeEnd("0-262143") == 262143)
        #expect(RegistryClient.rangeEnd("bytes=0-9") == 9)
        #expect(RegistryClient.rangeEnd("0-0") == 0)
        #expect(RegistryClient.rangeEnd("5-9") == nil)
        #expect(RegistryClient.rangeEnd(nil) == nil)
        #expect(DigestingFileSink.rangeStart("bytes 300000-999999/1000000") == 300000)
        #expect(DigestingFileSink.rangeStart("bytes */1000") == nil)
        #expect(RegistryClient.retryAfter(["Retry-After": "7"]) == 7)
        #expect(RegistryClient.retryAfter(["Retry-After": "soon"]) == nil)
        #expect(RegistryClient.retryAfter([:]) == nil)
        let now = Date(timeIntervalSince1970: 1_700_000_000)  // Tue, 14 Nov 2023 22:13:20 GMT
        #expect(RegistryClient.retryAfter(["Retry-After": "Tue, 14 Nov 2023 22:13:50 GMT"], now: now) == 30)
        #expect(RegistryClient.isRetryable(503) && RegistryClient.isRetryable(429) && !RegistryClient.isRetryable(404))
    }
}
