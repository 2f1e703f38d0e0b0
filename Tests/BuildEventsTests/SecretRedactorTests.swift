import BuildEvents
import Testing

@Suite struct SecretRedactorTests {
    @Test func givenValuesAreMaskedWhereverTheyAppear() {
        let redactor = SecretRedactor(secrets: ["hunter2-long", "multi\nline-secret\n"])
        #expect(redactor.redact("login with hunter2-long now") == "login with [redacted] now")
        #expect(redactor.redact("hunter2-longhunter2-long") == "[redacted][redacted]")
        #expect(redactor.redact("cat: line-secret") == "cat: [redacted]")
        #expect(redactor.redact("nothing here") == "nothing here")
    }

    @Test func shortValuesAreNotSearchedFor() {
        #expect(SecretRedactor(secrets: ["abc", "  "]).redact("abc abc") == "abc abc")
    }

    @Test func credentialShapedTextIsMasked() {
        let redactor = SecretRedactor()
        #expect(redactor.redact("Authorization: Basic Z2l0ZWE6cGFzcw==") == "Authorization: [redacted]")
        #expect(redactor.redact("curl -H 'authorization: Bearer abc.def'") == "curl -H 'authorization: [redacted]")
        #expect(redactor.redact("token is Bearer eyJhbGciOi.x.y ok") == "token is Bearer [redacted] ok")
        #expect(redactor.redact("PASSWORD=s3cr3t ./run") == "PASSWORD=[redacted] ./run")
        #expect(redactor.redact(#"{"password": "pa ss", "user":"x"}"#) == #"{"password": "[redacted] ss", "user":"x"}"#)
        #expect(redactor.redact("export GITEA_TOKEN=abcdef123") == "export GITEA_TOKEN=[redacted]")
        #expect(redactor.redact("secret_key: 42") == "secret_key: [redacted]")
        #expect(redactor.redact("api_key=k1,next") == "api_key=[redacted],next")
    }

    @Test func wordsThatOnlyMentionSecretsAreKept() {
        let redactor = SecretRedactor()
        for text in ["the token expired", "passwords differ", "Bearer", "authorization failed", "no secrets here", ""] {
            #expect(redactor.redact(text) == text)
        }
    }

    // The language server's rules (its build output, progress and errors), merged into the one redactor.
    @Test func secretsAreRedacted() {
        #expect(SecretRedactor().redact("Authorization: Bearer abc.def") == "Authorization: [redacted]")
        #expect(SecretRedactor().redact("GET https://user:hunter2@registry.example/v2/") == "GET https://user:[redacted]@registry.example/v2/")
        #expect(SecretRedactor().redact("export PASSWORD=hunter2 next") == "export PASSWORD=[redacted] next")
        #expect(SecretRedactor().redact("token: \"abc def\"") == "token: [redacted]")
        #expect(SecretRedactor().redact("#3 RUN echo hello") == "#3 RUN echo hello")
        #expect(SecretRedactor().redact("pushed 127.0.0.1:5000/giteaadmin/seed:latest@sha256:abc") == "pushed 127.0.0.1:5000/giteaadmin/seed:latest@sha256:abc")
    }

    @Test func bothFormerRuleSetsApplyToAllText() {
        let redactor = SecretRedactor(secrets: ["s3cr3t-value"])
        #expect(redactor.redact("git clone https://ci:s3cr3t-value@git.example/x") == "git clone https://ci:[redacted]@git.example/x")
        #expect(redactor.redact("curl https://u:p%40ss@h/ -H 'Bearer abc'") == "curl https://u:[redacted]@h/ -H 'Bearer [redacted]'")
        #expect(redactor.redact(#"access_token = 'a b' next"#) == "access_token = [redacted] next")
        #expect(redactor.redact("X-Api-Key: k-1") == "X-Api-Key: [redacted]")
        #expect(redactor.redact("password:\n  hunter22") == "password:\n  [redacted]")
        #expect(redactor.redact(#"{"token":"t1"}"#) == #"{"token":"[redacted]"}"#)
        #expect(redactor.redact(#"Authorization: """#) == "Authorization: [redacted]")
        #expect(redactor.redact("see https://git.example/x and ftp://host/") == "see https://git.example/x and ftp://host/")
    }
}
