#!/usr/bin/env python3
"""Build (and push) a Dockerfile through `idpbuild lsp`, the way an editor does, from a script or a CI job.

usage: idpbuild_build.py [options] DOCKERFILE

Starts the language server, opens the Dockerfile (so its checks run and errors stop the build early), runs
`idpbuild.buildAndPush` (or `idpbuild.build` with --no-push) with a progress token, prints the progress lines and
the build output on standard error, the result on standard output (`REFERENCE DIGEST`, or the whole BuildResponse
with --json), shuts the server down and exits:

  0  built (and pushed)
  1  the build or the push failed, or it was cancelled (Ctrl-C cancels it cleanly)
  2  bad arguments, or the server could not be started or broke the protocol

Standard library only (Python 3.7+). It is also a small module: `Session` speaks LSP framing over a child's pipes
(Benchmarks/editor-build.sh uses it).
"""
import argparse
import json
import os
import select
import shlex
import signal
import subprocess
import sys
import time
from urllib.parse import quote


class ProtocolError(Exception):
    """The server broke the protocol, went away, or did not answer in time."""


class Session:
    """One `idpbuild lsp` child process and the JSON-RPC conversation with it."""

    def __init__(self, command, trace=None, stderr=None):
        try:
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)
        except OSError as error:
            raise ProtocolError("cannot start %s: %s" % (" ".join(command), error))
        self.buffer = b""
        self.next_id = 0
        self.backlog = []
        self.trace = trace
        self.on_request = lambda message: None  # answers server requests: returns the result

    # -- writing
    def _write(self, message):
        body = json.dumps(message, separators=(",", ":")).encode()
        if self.trace:
            self.trace.write("--> " + body.decode() + "\n")
        try:
            self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            self.process.stdin.flush()
        except (BrokenPipeError, ValueError):
            raise ProtocolError("the server closed its input (it exited with %s)" % self.process.poll())

    def notify(self, method, params=None):
        message = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self._write(message)

    def request(self, method, params=None):
        self.next_id += 1
        message = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            message["params"] = params
        self._write(message)
        return self.next_id

    def respond(self, request_id, result):
        self._write({"jsonrpc": "2.0", "id": request_id, "result": result})

    # -- reading
    def _read_message(self, deadline):
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end >= 0:
                length = None
                for line in self.buffer[:end].split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                if length is None:
                    raise ProtocolError("a message without Content-Length: %r" % self.buffer[:end])
                if len(self.buffer) >= end + 4 + length:
                    body = self.buffer[end + 4:end + 4 + length]
                    self.buffer = self.buffer[end + 4 + length:]
                    if self.trace:
                        self.trace.write("<-- " + body.decode() + "\n")
                    return json.loads(body)
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None
            ready, _, _ = select.select([self.process.stdout], [], [], remaining)
            if not ready:
                return None
            data = os.read(self.process.stdout.fileno(), 65536)
            if not data:
                raise ProtocolError("the server closed its output (it exited with %s)" % self.process.poll())
            self.buffer += data

    def next_message(self, timeout=None):
        """The next message (server requests are answered through on_request first); None after `timeout` s."""
        if self.backlog:
            return self.backlog.pop(0)
        deadline = None if timeout is None else time.monotonic() + timeout
        message = self._read_message(deadline)
        if message is not None and "method" in message and "id" in message:
            self.respond(message["id"], self.on_request(message))
        return message

    def wait_for(self, predicate, timeout=60, handle=None):
        """Reads until `predicate(message)`; other messages go to `handle` (or stay for later)."""
        for index, message in enumerate(self.backlog):
            if predicate(message):
                return self.backlog.pop(index)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProtocolError("no answer from the server within %d s" % timeout)
            message = self._read_message(time.monotonic() + remaining)
            if message is None:
                continue
            if "method" in message and "id" in message:
                self.respond(message["id"], self.on_request(message))
            if predicate(message):
                return message
            if handle:
                handle(message)
            else:
                self.backlog.append(message)

    def call(self, method, params=None, timeout=60, handle=None):
        request_id = self.request(method, params)
        response = self.wait_for(lambda m: m.get("id") == request_id and "method" not in m, timeout, handle)
        if "error" in response:
            raise ProtocolError("%s failed: %s (%s)" % (method, response["error"].get("message"), response["error"].get("code")))
        return response.get("result")

    def close(self, timeout=10):
        """shutdown, exit, and the server's exit status."""
        try:
            self.call("shutdown", timeout=timeout)
            self.notify("exit")
        except ProtocolError:
            pass
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def file_uri(path):
    return "file://" + quote(os.path.abspath(path))


def main(argv=None):
    parser = argparse.ArgumentParser(description="Build (and push) a Dockerfile through idpbuild lsp.",
                                     epilog="Exit status: 0 built (and pushed), 1 failed or cancelled, 2 bad arguments or server trouble.")
    parser.add_argument("dockerfile", help="the Dockerfile")
    parser.add_argument("--server", default=os.environ.get("IDPBUILD_LSP", "idpbuild lsp"),
                        help="how to start the server (default: $IDPBUILD_LSP or 'idpbuild lsp')")
    parser.add_argument("--context", help="the build context (default: the Dockerfile's folder)")
    parser.add_argument("--name", help="image name (default: the context folder's name)")
    parser.add_argument("--tag", help="image tag (default: latest)")
    parser.add_argument("--registry", help="registry host[:port] (default: the server's)")
    parser.add_argument("--namespace", help="namespace (default: the server's, giteaadmin)")
    parser.add_argument("--insecure-registry", action="append", default=[], help="host[:port] without TLS verification (repeat)")
    parser.add_argument("--build-arg", action="append", default=[], help="KEY=VALUE (repeat)")
    parser.add_argument("--target", help="the stage to build")
    parser.add_argument("--no-cache", action="store_true", help="run every step")
    parser.add_argument("--no-push", action="store_true", help="build only (idpbuild.build)")
    parser.add_argument("--json", action="store_true", help="print the whole BuildResponse as JSON on standard output")
    parser.add_argument("--quiet", action="store_true", help="no progress lines or build output on standard error")
    parser.add_argument("--trace", metavar="FILE", help="write every message (--> sent, <-- received) to FILE")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the build (default 3600)")
    args = parser.parse_args(argv)

    path = os.path.abspath(args.dockerfile)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as error:
        print("idpbuild_build: cannot read %s: %s" % (args.dockerfile, error.strerror), file=sys.stderr)
        return 2
    build_args = {}
    for item in args.build_arg:
        key, sep, value = item.partition("=")
        if not sep:
            value = os.environ.get(key)
            if value is None:
                print("idpbuild_build: --build-arg %s: no =VALUE and no such environment variable" % key, file=sys.stderr)
                return 2
        build_args[key] = value

    say = (lambda text: None) if args.quiet else (lambda text: print(text, file=sys.stderr, flush=True))
    settings = {}
    if args.registry:
        settings["registry"] = args.registry
    if args.namespace:
        settings["namespace"] = args.namespace
    if args.insecure_registry:
        settings["insecureRegistries"] = args.insecure_registry
    trace = open(args.trace, "w") if args.trace else None
    # Ctrl-C and SIGTERM cancel the build: a parent may have blocked them (CI runners, test harnesses do).
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT, signal.SIGTERM])
    try:
        session = Session(shlex.split(args.server), trace=trace, stderr=subprocess.DEVNULL if args.quiet else None)
    except ProtocolError as error:
        print("idpbuild_build: %s" % error, file=sys.stderr)
        return 2
    session.on_request = lambda message: [settings] if message["method"] == "workspace/configuration" else None
    uri = file_uri(path)
    token = "idpbuild-script-1"
    status = {"last": None}

    def show(message):
        method = message.get("method")
        params = message.get("params") or {}
        if method == "$/progress" and params.get("token") == token:
            value = params.get("value", {})
            line = value.get("title") if value.get("kind") == "begin" else value.get("message")
            if value.get("kind") == "end":
                say("[done] %s" % line)
            elif line and line != status["last"]:
                percentage = value.get("percentage")
                say("[%3s%%] %s" % (percentage if percentage is not None else "", line))
            status["last"] = line
        elif method == "window/logMessage":
            for line in params.get("message", "").splitlines():
                say("  | " + line)
        elif method == "window/showMessage" and params.get("type", 3) <= 2:
            say("idpbuild: " + params.get("message", ""))
        elif method == "textDocument/publishDiagnostics" and params.get("uri") == uri:
            for d in params.get("diagnostics", []):
                if d.get("severity") == 1:
                    say("%s:%d:%d: error: %s [%s]" % (args.dockerfile, d["range"]["start"]["line"] + 1,
                                                       d["range"]["start"]["character"] + 1, d["message"], d.get("code") or d.get("source")))

    exit_status = 2
    try:
        session.call("initialize", {"processId": os.getpid(), "rootUri": file_uri(os.getcwd()),
                                    "clientInfo": {"name": "idpbuild_build.py", "version": "1"},
                                    "capabilities": {"window": {"workDoneProgress": True}, "workspace": {"configuration": True}},
                                    "initializationOptions": settings or None}, timeout=30)
        session.notify("initialized", {})
        session.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "dockerfile", "version": 1, "text": text}})
        # The checks first: their errors are what refuses a build, so show them before it.
        show(session.wait_for(lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"].get("uri") == uri,
                              30, show))
        argument = {"uri": uri}
        for key, value in [("contextDir", args.context and os.path.abspath(args.context)), ("imageName", args.name),
                           ("imageTag", args.tag), ("target", args.target)]:
            if value:
                argument[key] = value
        if build_args:
            argument["buildArgs"] = build_args
        if args.no_cache:
            argument["noCache"] = True
        command = "idpbuild.build" if args.no_push else "idpbuild.buildAndPush"
        request_id = session.request("workspace/executeCommand", {"command": command, "arguments": [argument], "workDoneToken": token})
        cancelled = []

        def interrupt(number, frame):
            if not cancelled:
                say("idpbuild_build: cancelling the build (Ctrl-C again to leave at once)")
                cancelled.append(True)
                session.notify("window/workDoneProgress/cancel", {"token": token})
            else:
                raise KeyboardInterrupt()
        previous = signal.signal(signal.SIGINT, interrupt)
        signal.signal(signal.SIGTERM, interrupt)
        try:
            response = session.wait_for(lambda m: m.get("id") == request_id and "method" not in m, args.timeout, show)
        finally:
            signal.signal(signal.SIGINT, previous)
        # Messages sent before the result (the last log lines) are shown; the server sends nothing after it.
        while True:
            late = session.next_message(timeout=0)
            if late is None:
                break
            show(late)
        if "error" in response:
            print("idpbuild_build: %s (JSON-RPC error %s)" % (response["error"].get("message"), response["error"].get("code")), file=sys.stderr)
            exit_status = 2 if response["error"].get("code") == -32602 else 1
        else:
            result = response.get("result") or {}
            if args.json:
                print(json.dumps(result, indent=2, sort_keys=True))
            elif result.get("success"):
                print("%s %s" % (result.get("fullTag"), result.get("digest") or result.get("imageID")))
            if not result.get("success"):
                print("idpbuild_build: %s" % result.get("error", "the build failed"), file=sys.stderr)
            exit_status = 0 if result.get("success") else 1
    except ProtocolError as error:
        print("idpbuild_build: %s" % error, file=sys.stderr)
        exit_status = 2
    except KeyboardInterrupt:
        exit_status = 1
    finally:
        status_code = session.close()
        if trace:
            trace.close()
        if status_code not in (0, None) and exit_status == 0:
            print("idpbuild_build: the server exited with status %s" % status_code, file=sys.stderr)
    return exit_status


if __name__ == "__main__":
    sys.exit(main())
