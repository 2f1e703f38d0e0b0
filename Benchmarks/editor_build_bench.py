#!/usr/bin/env python3
"""The editor build benchmark's driver (see editor-build.sh): prints

1. the time from `workspace/executeCommand` to its result through `idpbuild lsp`, next to `idpbuild build` of the
   same fixture (Fixtures/seed, warm cache) in the same run — build only and build + push — with the target
   lsp <= 1.1 x build + 50 ms;
2. didChange -> publishDiagnostics latency on a 5,000-line document (typed on a RUN line in the middle), without a
   build and while a build runs in the same server (a RUN printing 500 lines a second into the log), p50/p99, target
   p99 <= 10 ms.

Everything talks to Debian's docker-registry on 127.0.0.1 (scripts/lib/localregistry.py). Standard library only.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(root, "scripts", "lib"))
sys.path.insert(0, os.path.join(root, "editors", "script"))
import localregistry  # noqa: E402
from idpbuild_build import Session, file_uri  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--idpbuild", required=True)
p.add_argument("--bench", required=True, help="idpbuild-bench (generates the 5,000-line document)")
p.add_argument("--runs", type=int, default=15)
p.add_argument("--keystrokes", type=int, default=500)
p.add_argument("--lines", type=int, default=5000)
args = p.parse_args()


def log(text):
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


work = tempfile.mkdtemp(prefix="idpbuild-editor-bench-")
os.chmod(work, 0o755)
registry = localregistry.Registry(os.path.join(work, "registry"))
sessions = []
try:
    localregistry.push_base_image(registry.host, os.path.join(work, "base"), os.path.join(root, "Fixtures"))
    conf = localregistry.write_registries_conf(os.path.join(work, "registries.conf"), registry.host)
    store = os.path.join(work, "store")
    seed = os.path.join(work, "seed")
    shutil.copytree(os.path.join(root, "Fixtures", "seed"), seed)
    flags = ["--registries-conf", conf, "--root", store, "--registry", registry.host, "--insecure-registry", registry.host,
             "--no-kubernetes"]
    cli = [args.idpbuild, "build"] + flags + ["-t", "seed", seed]

    def run_cli(push):
        start = time.monotonic()
        subprocess.run(cli + ([] if push else ["--no-push"]), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.monotonic() - start

    session = Session([args.idpbuild, "lsp", "--log-level", "error"] + flags)
    sessions.append(session)
    session.call("initialize", {"processId": os.getpid(), "rootUri": file_uri(work), "capabilities": {"window": {"workDoneProgress": True}}})
    session.notify("initialized", {})
    uri = file_uri(os.path.join(seed, "Dockerfile"))
    with open(os.path.join(seed, "Dockerfile")) as f:
        session.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "dockerfile", "version": 1, "text": f.read()}})
    token = [0]

    def run_lsp(push):
        token[0] += 1
        start = time.monotonic()
        result = session.call("workspace/executeCommand", {"command": "idpbuild.buildAndPush" if push else "idpbuild.build",
                                                           "arguments": [{"uri": uri, "imageName": "seed"}],
                                                           "workDoneToken": "bench-%d" % token[0]}, timeout=120, handle=lambda m: None)
        elapsed = time.monotonic() - start
        if not result.get("success"):
            raise SystemExit("the build through idpbuild lsp failed: %s" % result.get("error"))
        return elapsed

    # Warm the cache (and the registry) through both paths first.
    run_cli(True)
    run_lsp(True)
    rows = []
    for push in (False, True):
        cli_times, lsp_times = [], []
        for _ in range(args.runs):
            cli_times.append(run_cli(push))
            lsp_times.append(run_lsp(push))
        rows.append(("build and push" if push else "build (no push)", statistics.median(cli_times), statistics.median(lsp_times)))
        log("%s: idpbuild build %s, lsp %s" % (rows[-1][0], ["%.3f" % t for t in cli_times], ["%.3f" % t for t in lsp_times]))

    # Keystrokes on a 5,000-line document, without and with a build running.
    text = subprocess.check_output([args.bench, "check", "--emit", "--lines", str(args.lines), "--profile", "typical"], text=True)
    big = os.path.join(work, "big")
    os.makedirs(big)
    big_uri = file_uri(os.path.join(big, "Dockerfile"))
    session.notify("textDocument/didOpen", {"textDocument": {"uri": big_uri, "languageId": "dockerfile", "version": 1, "text": text}})
    session.wait_for(lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == big_uri, 60, lambda m: None)
    lines = text.split("\n")
    run_lines = [i for i, line in enumerate(lines) if line.startswith("RUN ")]
    line = run_lines[len(run_lines) // 2]
    version = [1]

    def keystrokes(count):
        latencies = []
        for index in range(count + 20):
            version[0] += 1
            typing = index % 2 == 0
            change = {"range": {"start": {"line": line, "character": 4}, "end": {"line": line, "character": 4 if typing else 5}},
                      "text": "x" if typing else ""}
            start = time.monotonic()
            session.notify("textDocument/didChange", {"textDocument": {"uri": big_uri, "version": version[0]}, "contentChanges": [change]})
            want = version[0]
            session.wait_for(lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == big_uri
                             and m["params"].get("version") == want, 30, lambda m: None)
            if index >= 20:
                latencies.append((time.monotonic() - start) * 1000)
        return latencies

    quiet = keystrokes(args.keystrokes)
    busy_folder = os.path.join(work, "busy")
    os.makedirs(busy_folder)
    busy_uri = file_uri(os.path.join(busy_folder, "Dockerfile"))
    busy_text = ("FROM alpine:3.19\nRUN i=0; while true; do i=$((i+1)); echo \"output line $i of a busy build\"; "
                 "if [ $((i % 50)) -eq 0 ]; then sleep 0.1; fi; done\n")
    session.notify("textDocument/didOpen", {"textDocument": {"uri": busy_uri, "languageId": "dockerfile", "version": 1, "text": busy_text}})
    busy_id = session.request("workspace/executeCommand", {"command": "idpbuild.build", "arguments": [{"uri": busy_uri}],
                                                           "workDoneToken": "busy"})
    seen_output = []
    session.wait_for(lambda m: m.get("method") == "window/logMessage" and "output line" in m["params"]["message"], 60, lambda m: None)
    busy = keystrokes(args.keystrokes)
    session.call("workspace/executeCommand", {"command": "idpbuild.cancelBuild", "arguments": [busy_uri]}, timeout=30, handle=lambda m: None)
    cancelled = session.wait_for(lambda m: m.get("id") == busy_id and "method" not in m, 30, lambda m: None)
    still_running = cancelled.get("result", {}).get("error", "") == "the build was cancelled; nothing was pushed"
    status = session.close()

    print("idpbuild lsp build benchmark — %s (%d runs each, medians; seed fixture, warm cache; %s)" % (
        args.idpbuild, args.runs, "rootless" if os.geteuid() != 0 else "as root"))
    print("%-18s %16s %16s %8s %22s" % ("", "idpbuild build", "through lsp", "ratio", "target"))
    for name, cli_time, lsp_time in rows:
        limit = 1.1 * cli_time + 0.050
        print("%-18s %13.1f ms %13.1f ms %7.2fx %13.1f ms %s" % (name, cli_time * 1000, lsp_time * 1000, lsp_time / cli_time,
                                                                    limit * 1000, "ok" if lsp_time <= limit else "MISSED"))
    print("didChange -> publishDiagnostics, %d-line document (%d keystrokes):" % (args.lines, args.keystrokes))
    for name, values in [("no build", quiet), ("during a build", busy)]:
        p99 = percentile(values, 0.99)
        print("  %-16s p50 %6.2f ms   p99 %6.2f ms   max %6.2f ms   (target p99 <= 10 ms: %s)" % (
            name, percentile(values, 0.5), p99, max(values), "ok" if p99 <= 10 else "MISSED"))
    print("  (the build ran throughout: %s; server exit status %s)" % ("yes, cancelled after" if still_running else "NO", status))
finally:
    for s in sessions:
        if s.process.poll() is None:
            s.process.kill()
            s.process.wait()
    registry.stop()
    if os.geteuid() != 0:
        subprocess.run([args.idpbuild, "unshare", "--", "rm", "-rf", work], stderr=subprocess.DEVNULL)
    shutil.rmtree(work, ignore_errors=True)
