#!/usr/bin/env python3
"""Runs a command and prints {"seconds": wall time, "max_rss_kb": its peak resident set} as JSON; fails if it fails."""
import json, os, subprocess, sys, time

start = time.monotonic()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
_, status, usage = os.wait4(proc.pid, 0)
elapsed = time.monotonic() - start
err = proc.stderr.read().decode(errors="replace")
if os.waitstatus_to_exitcode(status) != 0:
    sys.stderr.write("command failed: %s\n%s\n" % (" ".join(sys.argv[1:]), err[-2000:]))
    sys.exit(1)
print(json.dumps({"seconds": elapsed, "max_rss_kb": usage.ru_maxrss}))
