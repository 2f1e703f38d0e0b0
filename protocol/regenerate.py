#!/usr/bin/env python3
"""Regenerate the server lines (<--) of protocol/transcripts/*.md from a built server.

Usage: protocol/regenerate.py PATH/TO/idpbuild [TRANSCRIPT.md ...]

Keeps every client line (-->) and the prose, drops the old server lines, sends each client line to
`idpbuild lsp` and writes what the server answers until it is quiet for 0.6 s (an answer equal to an old line, as
JSON, keeps the old line's text, so the diff shows only what changed). Build transcripts (build-*.md) are skipped:
they need a registry and are kept by hand. Run it only on purpose (a new
feature or message), then read the diff: LanguageServerTests/TranscriptTests replays the files and fails on any
difference. Standard library only.
"""
import json
import os
import select
import subprocess
import sys

ORDER = ["jsonrpc", "id", "method", "params", "result", "error"]


def ordered(message):
    if "error" in message:
        error = message["error"]
        message["error"] = {k: error[k] for k in ["code", "message", "data"] if k in error}
    out = {k: message[k] for k in ORDER if k in message}
    out.update({k: v for k, v in message.items() if k not in out})
    return out


class FrameReader:
    """The messages a server writes with LSP framing, read until it is quiet."""

    def __init__(self, stream):
        self.stream = stream
        self.buffer = b""

    def collect(self, quiet):
        """Every whole message that arrives until nothing comes for `quiet` seconds (or the stream ends)."""
        messages = []
        while True:
            while True:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    break
                length = int(self.buffer[:end].split(b":")[1])
                if len(self.buffer) < end + 4 + length:
                    break
                messages.append(json.loads(self.buffer[end + 4:end + 4 + length]))
                self.buffer = self.buffer[end + 4 + length:]
            ready, _, _ = select.select([self.stream], [], [], quiet)
            if not ready:
                return messages
            data = os.read(self.stream.fileno(), 65536)
            if not data:
                return messages
            self.buffer += data


def regenerate(binary, path):
    process = subprocess.Popen([binary, "lsp", "--log-level", "error"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    collect = FrameReader(process.stdout).collect

    lines = open(path, encoding="utf-8").read().split("\n")
    # The old server lines after each client line: a message that means the same keeps its old text, so the diff
    # shows only real changes (the server's key order varies from run to run).
    old_lines, step = {}, -1
    for line in lines:
        if line.startswith("--> "):
            step += 1
        elif line.startswith("<-- "):
            old_lines.setdefault(step, []).append(line)
    out, step = [], -1
    for line in lines:
        if line.startswith("<-- "):
            continue
        out.append(line)
        if line.startswith("--> "):
            step += 1
            body = line[4:].encode()
            process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            process.stdin.flush()
            for message in collect(0.6):
                same = [old for old in old_lines.get(step, []) if json.loads(old[4:]) == message]
                if same:
                    old_lines[step].remove(same[0])
                    out.append(same[0])
                else:
                    out.append("<-- " + json.dumps(ordered(message), ensure_ascii=False, separators=(",", ":")))
    status = process.wait(10)
    with open(path, "w", encoding="utf-8") as file:
        file.write("\n".join(out).rstrip("\n") + "\n")
    print(f"{path}: server exited {status}", file=sys.stderr)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    binary = sys.argv[1]
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "transcripts")
    paths = sys.argv[2:] or sorted(os.path.join(folder, name) for name in os.listdir(folder) if name.endswith(".md"))
    for path in paths:
        if os.path.basename(path).startswith("build-"):
            # Build transcripts need a registry and hold variables and wildcards: they are kept by hand (see the
            # README's Transcripts section) and replayed by EditorBuildTests.
            print(f"{path}: skipped (a build transcript)", file=sys.stderr)
            continue
        regenerate(binary, path)


if __name__ == "__main__":
    main()
