#!/usr/bin/env python3
"""Record the server lines (<--, <~~) of the build transcripts (protocol/transcripts/build-*.md) from a built server.

Usage: protocol/record-build.py PATH/TO/idpbuild [TRANSCRIPT.md ...]

Like regenerate.py, for transcripts that build: starts Debian's docker-registry on 127.0.0.1 with the busybox base
image as alpine:3.19 (scripts/lib/localregistry.py), makes the context folders the transcript's
`<!-- contexts: NAME[=FIXTURE] ... -->` line names (a copy of Fixtures/FIXTURE, or an empty folder), sends each
client line with ${REGISTRY} and ${FOLDER} filled in, and writes what the server answers until it is quiet for
1.5 s with those values put back and what changes from run to run made a wildcard: digests (`sha256:*`),
`durationMs`, times. Progress reports and build output become `<~~` lines (any number may arrive). Run it on purpose
and read the diff; EditorBuildTests/BuildTranscriptTests replays the files. Standard library only.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
sys.path.insert(0, os.path.join(root, "scripts", "lib"))
sys.path.insert(0, here)
from regenerate import FrameReader  # noqa: E402
import localregistry  # noqa: E402

ORDER = ["jsonrpc", "id", "method", "params", "result", "error"]
OPTIONAL_REPORT = {"jsonrpc": "2.0", "method": "$/progress", "params": {"token": "*", "value": {"kind": "report", "message": "*", "percentage": "*"}}}
OPTIONAL_LOG = {"jsonrpc": "2.0", "method": "window/logMessage", "params": {"type": "*", "message": "*"}}


def ordered(message):
    out = {k: message[k] for k in ORDER if k in message}
    out.update({k: v for k, v in message.items() if k not in out})
    return out


def wildcard(value, key=None):
    if key == "durationMs":
        return "*"
    if isinstance(value, dict):
        return {k: wildcard(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [wildcard(v) for v in value]
    if isinstance(value, str):
        value = re.sub(r"sha256:[0-9a-f]{64}", "sha256:*", value)
        value = re.sub(r"\(\d+\.\d s;", "(* s;", value)
        value = re.sub(r"running for \d+ s", "running for * s", value)
    return value


def record(binary, path, registry, conf):
    text = open(path, encoding="utf-8").read()
    folder = tempfile.mkdtemp(prefix="idpbuild-record-")
    os.chmod(folder, 0o755)
    contexts = re.search(r"<!-- contexts: (.*?) -->", text)
    for item in (contexts.group(1).split() if contexts else []):
        name, _, fixture = item.partition("=")
        if fixture:
            shutil.copytree(os.path.join(root, "Fixtures", fixture), os.path.join(folder, name))
        else:
            os.makedirs(os.path.join(folder, name))
    process = subprocess.Popen([binary, "lsp", "--log-level", "error", "--registries-conf", conf, "--root", folder + "/store",
                                "--no-kubernetes"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    collect = FrameReader(process.stdout).collect

    def back(line):
        return line.replace(folder, "${FOLDER}").replace(registry, "${REGISTRY}")

    out, optional_seen = [], set()
    try:
        for line in text.split("\n"):
            if line.startswith("<-- ") or line.startswith("<~~ "):
                continue
            out.append(line)
            if not line.startswith("--> "):
                continue
            body = line[4:].replace("${FOLDER}", folder).replace("${REGISTRY}", registry).encode()
            process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            process.stdin.flush()
            for message in collect(1.5):
                kind = message.get("params", {}).get("value", {}).get("kind") if message.get("method") == "$/progress" else None
                if kind == "report" or message.get("method") == "window/logMessage":
                    pattern = OPTIONAL_REPORT if kind == "report" else OPTIONAL_LOG
                    key = json.dumps(pattern)
                    if key not in optional_seen:
                        optional_seen.add(key)
                        out.append("<~~ " + json.dumps(pattern, ensure_ascii=False, separators=(",", ":")))
                    continue
                out.append(back("<-- " + json.dumps(wildcard(ordered(message)), ensure_ascii=False, separators=(",", ":"))))
        status = process.wait(20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        subprocess.run([binary, "unshare", "--", "rm", "-rf", folder], stderr=subprocess.DEVNULL) if os.geteuid() != 0 else None
        shutil.rmtree(folder, ignore_errors=True)
    with open(path, "w", encoding="utf-8") as file:
        file.write("\n".join(out).rstrip("\n") + "\n")
    print(f"{path}: server exited {status}", file=sys.stderr)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    binary = os.path.abspath(sys.argv[1])
    folder = os.path.join(here, "transcripts")
    paths = sys.argv[2:] or sorted(os.path.join(folder, n) for n in os.listdir(folder) if n.startswith("build-") and n.endswith(".md"))
    work = tempfile.mkdtemp(prefix="idpbuild-record-registry-")
    registry = localregistry.Registry(os.path.join(work, "registry"))
    try:
        localregistry.push_base_image(registry.host, os.path.join(work, "base"), os.path.join(root, "Fixtures"))
        conf = localregistry.write_registries_conf(os.path.join(work, "registries.conf"), registry.host)
        for path in paths:
            record(binary, path, registry.host, conf)
    finally:
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
