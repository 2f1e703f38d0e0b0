#!/usr/bin/env python3
"""Small real servers the Swift tests start on 127.0.0.1 (standard library + the openssl CLI only).

  testserver.py http   [--cert C --key K [--client-ca CA]]   endpoints for the HTTP client tests
  testserver.py token  --key K --cert C --issuer I --user U --password P [--field token|access_token] [--fail-first N]
                       a token server that answers like Gitea's /v2/token: Basic credentials in, an RS256 JWT
                       (x5c header) out, with the access the scope asks for so distribution accepts it; the first N
                       token requests get a 500
  testserver.py proxy  --upstream URL [--ca CA] [--upstream-auth HEADER] [--ignore-range]
                       [--fault F[,F2...] --match S [--method M] --count N --skip K --after B --retry-after SECONDS]
                       a forwarding proxy in front of docker-registry that injects faults into N requests whose path
                       contains S (and whose method is M), after letting the first K through; with a list, the i-th fault
                       goes to the i-th faulted request (the last one repeats): 500/502/503/504 (that status), 429 (with
                       Retry-After; a request that comes back sooner gets another 429, uncounted), drop (close without
                       answer), truncate (half the body), corrupt (one byte flipped), redirect (307 to the same proxy as
                       "localhost", served with --upstream-auth), reset-request (TCP reset after B bytes of the request
                       body), reset-response (TCP reset after B bytes of the response body; bodies no longer than B pass
                       and are not counted); --ignore-range drops every Range header (a server without resume);
                       GET /_log lists what arrived (host, method, path, whether an Authorization header came, its
                       Range, the fault, the status answered)
  testserver.py kube   --cert C --key K --config FILE [--client-ca CA]
                       answers GET /api/v1/namespaces/NS/secrets/NAME the way the Kubernetes API server does

Each prints "PORT <n>" on stdout once it listens (port 0 is chosen by the kernel), and exits when stdin closes.
"""
import argparse, base64, hashlib, http.server, json, os, socket, socketserver, ssl, struct, subprocess, sys, threading, time, urllib.parse

STATS = {"token_requests": 0, "anonymous_tokens": 0, "requests": 0}
LOCK = threading.Lock()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def reset(h):
    """Closes the connection with a TCP reset (RST, not FIN), the way a crashing proxy or a NAT timeout does."""
    h.close_connection = True
    h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    h.rfile.close()
    h.connection.close()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_json(self, status, obj, headers=None):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        h = hashlib.sha256()
        total = 0
        while total < n:
            chunk = self.rfile.read(min(1 << 20, n - total))
            if not chunk:
                break
            h.update(chunk)
            total += len(chunk)
        return total, h.hexdigest()

    def do_GET(self):
        with LOCK:
            STATS["requests"] += 1
        self.server.mode_handler(self)

    do_HEAD = do_GET
    do_PUT = do_GET
    do_POST = do_GET
    do_PATCH = do_GET
    do_DELETE = do_GET


def http_mode(h: Handler):
    url = urllib.parse.urlparse(h.path)
    q = urllib.parse.parse_qs(url.query)
    if url.path == "/echo":
        n, digest = h.read_body()
        h.send_json(200, {"method": h.command, "headers": {k.lower(): v for k, v in h.headers.items()},
                          "length": n, "sha256": digest, "client_port": h.client_address[1]})
    elif url.path == "/bytes":
        n = int(q.get("n", ["0"])[0])
        h.send_response(200)
        h.send_header("Content-Type", "application/octet-stream")
        h.send_header("Content-Length", str(n))
        h.end_headers()
        block = bytes(range(256)) * 4096
        sent = 0
        while sent < n and h.command != "HEAD":
            part = block[: min(len(block), n - sent)]
            h.wfile.write(part)
            sent += len(part)
    elif url.path == "/truncate":
        n = int(q.get("n", ["1000"])[0])
        h.send_response(200)
        h.send_header("Content-Length", str(n))
        h.end_headers()
        h.wfile.write(b"x" * (n // 2))
        h.wfile.flush()
        h.close_connection = True
        h.connection.shutdown(2)
    elif url.path == "/slow":
        h.send_response(200)
        h.send_header("Content-Length", "10")
        h.end_headers()
        h.wfile.flush()
        time.sleep(float(q.get("s", ["4"])[0]))
        try:
            h.wfile.write(b"1234567890")
        except OSError:
            pass
    elif url.path == "/reset-body":
        after = int(q.get("after", ["0"])[0])
        h.rfile.read(min(after, int(h.headers.get("Content-Length") or 0)))
        reset(h)
    elif url.path.startswith("/status/"):
        h.read_body()
        h.send_json(int(url.path.split("/")[2]), {"status": url.path})
    elif url.path == "/redirect":
        h.send_response(302)
        h.send_header("Location", q.get("to", ["/echo"])[0])
        h.send_header("Content-Length", "0")
        h.end_headers()
    else:
        h.send_json(404, {"error": "no such endpoint"})


def token_mode(h: Handler):
    a = h.server.args
    url = urllib.parse.urlparse(h.path)
    if url.path == "/stats":
        with LOCK:
            h.send_json(200, dict(STATS))
        return
    if url.path != "/v2/token":
        h.send_json(404, {"errors": [{"code": "NOT_FOUND"}]})
        return
    with LOCK:
        STATS["token_requests"] += 1
        failing = STATS["token_requests"] <= a.fail_first
    if failing:
        h.send_json(500, {"errors": [{"code": "UNKNOWN", "message": "injected token server fault"}]})
        return
    q = urllib.parse.parse_qs(url.query)
    auth = h.headers.get("Authorization", "")
    user = None
    if auth.startswith("Basic "):
        try:
            u, _, p = base64.b64decode(auth[6:]).decode().partition(":")
        except Exception:
            u, p = "", ""
        if u != a.user or p != a.password:
            h.send_json(401, {"errors": [{"code": "UNAUTHORIZED", "message": "invalid credentials"}]})
            return
        user = u
    access = []
    for scope in q.get("scope", []):
        parts = scope.split(":")
        if len(parts) < 3:
            continue
        actions = parts[-1].split(",")
        name = ":".join(parts[1:-1])
        if user is None:  # like Gitea: anonymous callers get a pull-only token
            actions = [x for x in actions if x == "pull"]
        access.append({"type": parts[0], "name": name, "actions": actions})
    if user is None:
        with LOCK:
            STATS["anonymous_tokens"] += 1
    now = int(time.time())
    header = {"alg": "RS256", "typ": "JWT", "x5c": [h.server.cert_der_b64]}
    claims = {"iss": a.issuer, "sub": user or "", "aud": q.get("service", [""])[0], "exp": now + 60, "nbf": now - 10,
              "iat": now, "jti": str(time.time_ns()), "access": access}
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", a.key], input=signing_input.encode(),
                         capture_output=True, check=True).stdout
    h.send_json(200, {a.field: signing_input + "." + b64url(sig)})


def kube_mode(h: Handler):
    config = h.server.kube
    url = urllib.parse.urlparse(h.path)
    parts = url.path.strip("/").split("/")
    def status(code, reason, message):
        h.send_json(code, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                           "message": message, "reason": reason, "code": code})
    authorised = h.headers.get("Authorization", "") == "Bearer " + config.get("token", "\0")
    cert = h.connection.getpeercert() if isinstance(h.connection, ssl.SSLSocket) else None
    if cert:
        authorised = True
    if not authorised:
        status(401, "Unauthorized", "Unauthorized")
        return
    if len(parts) == 6 and parts[:3] == ["api", "v1", "namespaces"] and parts[4] == "secrets" and h.command == "GET":
        ns, name = parts[3], parts[5]
        secret = config.get("secrets", {}).get(ns + "/" + name)
        if secret is None:
            status(404, "NotFound", 'secrets "%s" not found' % name)
            return
        data = {k: base64.b64encode(v.encode()).decode() for k, v in secret.items()}
        h.send_json(200, {"kind": "Secret", "apiVersion": "v1", "metadata": {"name": name, "namespace": ns},
                          "type": "Opaque", "data": data})
        return
    status(404, "NotFound", "the server could not find the requested resource")


LOG = []


def choose_fault(h: Handler):
    """The fault for this request, or None; counts it."""
    a = h.server.args
    if not a.fault or a.match not in h.path or (a.method and h.command != a.method.upper()):
        return None
    faults = a.fault.split(",")
    with LOCK:
        if "429" in faults and time.time() < STATS.get("retry_after_until", 0):
            return "429-early"
        STATS["matched"] = STATS.get("matched", 0) + 1
        if STATS["matched"] <= a.skip or STATS.get("faults", 0) >= a.count:
            return None
        index = STATS.get("faults", 0)
        STATS["faults"] = index + 1
        return faults[min(index, len(faults) - 1)]


def uncount_fault():
    with LOCK:
        STATS["faults"] -= 1
        STATS["matched"] -= 1


def proxy_mode(h: Handler):
    import http.client
    a = h.server.args
    if h.path == "/_log":
        with LOCK:
            h.send_json(200, list(LOG))
        return
    host_header = h.headers.get("Host", "")
    fault = choose_fault(h)
    entry = {"host": host_header, "method": h.command, "path": h.path, "auth": "Authorization" in h.headers,
             "range": h.headers.get("Range"), "fault": fault, "status": None}
    with LOCK:
        LOG.append(entry)
    n = int(h.headers.get("Content-Length") or 0)
    if fault == "reset-request":
        h.rfile.read(min(a.after, n))
        reset(h)
        return
    body = h.rfile.read(n) if n else b""
    redirected = host_header.startswith("localhost:")
    if fault in ("500", "502", "503", "504"):
        entry["status"] = int(fault)
        h.send_json(int(fault), {"errors": [{"code": "UNAVAILABLE", "message": "injected fault"}]})
        return
    if fault in ("429", "429-early"):
        if fault == "429":
            with LOCK:
                STATS["retry_after_until"] = time.time() + a.retry_after
        entry["status"] = 429
        h.send_json(429, {"errors": [{"code": "TOOMANYREQUESTS", "message": "injected rate limit"}]},
                    {"Retry-After": str(a.retry_after)})
        return
    if fault == "drop":
        h.close_connection = True
        h.connection.shutdown(2)
        return
    if fault == "redirect" and not redirected:
        entry["status"] = 307
        h.send_response(307)
        h.send_header("Location", "http://localhost:%d%s" % (h.server.server_address[1], h.path))
        h.send_header("Content-Length", "0")
        h.end_headers()
        return
    u = urllib.parse.urlparse(a.upstream)
    if u.scheme == "https":
        ctx = ssl.create_default_context(cafile=a.ca) if a.ca else ssl.create_default_context()
        conn = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=30)
    else:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    headers = {k: v for k, v in h.headers.items() if k.lower() not in ("connection", "keep-alive", "transfer-encoding")}
    if a.ignore_range:
        headers.pop("Range", None)
    if redirected:
        # The "storage backend": it never sees the client's credentials; it brings its own.
        headers.pop("Authorization", None)
        headers["Host"] = "127.0.0.1:%d" % h.server.server_address[1]
        if a.upstream_auth:
            headers["Authorization"] = a.upstream_auth
    conn.request(h.command, h.path, body=body if h.command not in ("GET", "HEAD") else None, headers=headers)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    if fault == "reset-response" and len(data) <= a.after:
        uncount_fault()
        fault = entry["fault"] = None
    if fault == "corrupt" and data:
        data = bytes([data[0] ^ 0xFF]) + data[1:]
    entry["status"] = r.status
    h.send_response(r.status)
    for k, v in r.getheaders():
        if k.lower() not in ("connection", "keep-alive", "transfer-encoding", "content-length"):
            h.send_header(k, v)
    h.send_header("Content-Length", str(len(data)))
    h.end_headers()
    if h.command == "HEAD":
        return
    if fault == "truncate":
        h.wfile.write(data[: len(data) // 2])
        h.wfile.flush()
        h.close_connection = True
        h.connection.shutdown(2)
        return
    if fault == "reset-response":
        h.wfile.write(data[: a.after])
        h.wfile.flush()
        time.sleep(0.2)  # let the client read what came before the reset
        reset(h)
        return
    h.wfile.write(data)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["http", "token", "kube", "proxy"])
    p.add_argument("--upstream"); p.add_argument("--ca"); p.add_argument("--upstream-auth")
    p.add_argument("--fault"); p.add_argument("--match", default=""); p.add_argument("--count", type=int, default=1)
    p.add_argument("--method"); p.add_argument("--skip", type=int, default=0); p.add_argument("--after", type=int, default=65536)
    p.add_argument("--retry-after", type=int, default=1); p.add_argument("--fail-first", type=int, default=0)
    p.add_argument("--ignore-range", action="store_true")
    p.add_argument("--cert"); p.add_argument("--key"); p.add_argument("--client-ca")
    p.add_argument("--issuer", default="gitea-test"); p.add_argument("--user"); p.add_argument("--password")
    p.add_argument("--field", default="token"); p.add_argument("--config")
    a = p.parse_args()
    server = Server(("127.0.0.1", 0), Handler)
    server.args = a
    server.mode_handler = {"http": http_mode, "token": token_mode, "kube": kube_mode, "proxy": proxy_mode}[a.mode]
    if a.mode == "token":
        der = subprocess.run(["openssl", "x509", "-in", a.cert, "-outform", "DER"], capture_output=True, check=True).stdout
        server.cert_der_b64 = base64.b64encode(der).decode()
    elif a.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
        if a.client_ca:
            ctx.load_verify_locations(a.client_ca)
            ctx.verify_mode = ssl.CERT_OPTIONAL if a.mode == "kube" else ssl.CERT_REQUIRED
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    if a.mode == "kube":
        with open(a.config) as f:
            server.kube = json.load(f)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("PORT", server.server_address[1], flush=True)
    sys.stdin.read()  # the test closes stdin (or dies) to stop us
    server.shutdown()


if __name__ == "__main__":
    main()
