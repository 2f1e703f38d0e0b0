#!/usr/bin/env python3
"""Runs a program as uid/gid 1 inside a user namespace whose user.max_user_namespaces is 0, so that the kernel
refuses any further user namespace (ENOSPC), as on a host with user namespaces disabled. Must start as root.

    without-user-namespaces.py PROGRAM [ARG...]
"""
import ctypes
import os
import sys

CLONE_NEWUSER = 0x10000000
libc = ctypes.CDLL(None, use_errno=True)
ready_r, ready_w = os.pipe()
go_r, go_w = os.pipe()
pid = os.fork()
if pid == 0:
    if libc.unshare(CLONE_NEWUSER) != 0:
        os._exit(120)
    os.write(ready_w, b"u")
    os.read(go_r, 1)
    with open("/proc/sys/user/max_user_namespaces", "w") as limit:
        limit.write("0")
    os.setgroups([])
    os.setresgid(1, 1, 1)
    os.setresuid(1, 1, 1)
    os.execv(sys.argv[1], sys.argv[1:])
os.read(ready_r, 1)
# The parent (root outside) writes the maps: IDs 0-65535 inside are the same IDs outside.
for name in ("uid_map", "gid_map"):
    with open("/proc/%d/%s" % (pid, name), "w") as mapping:
        mapping.write("0 0 65536")
os.write(go_w, b"m")
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8)
