#!/usr/bin/env python3
"""Writes a layer tar from a JSON spec, so tests can craft entries no sane tool makes (escapes, whiteouts, xattrs).

usage: maketar.py SPEC.json OUT [none|gzip|zstd]
SPEC: [{"name": "a/b", "type": "file|dir|symlink|hardlink|fifo", "content": "...", "mode": 420, "uid": 0, "gid": 0,
        "linkname": "...", "mtime": 0, "xattrs": {"user.k": "v"}}]
"""
import io, json, subprocess, sys, tarfile

spec = json.load(open(sys.argv[1]))
out = sys.argv[2]
compression = sys.argv[3] if len(sys.argv) > 3 else "none"
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
    for e in spec:
        info = tarfile.TarInfo(e["name"])
        kind = e.get("type", "file")
        info.type = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
                     "hardlink": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE}[kind]
        info.mode = e.get("mode", 0o755 if kind == "dir" else 0o644)
        info.uid = e.get("uid", 0)
        info.gid = e.get("gid", 0)
        info.mtime = e.get("mtime", 1700000000)
        info.linkname = e.get("linkname", "")
        if e.get("xattrs"):
            info.pax_headers = {"SCHILY.xattr." + k: v for k, v in e["xattrs"].items()}
        data = e.get("content", "").encode()
        if kind == "file":
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        else:
            tar.addfile(info)
raw = buf.getvalue()
if compression == "gzip":
    import gzip
    raw = gzip.compress(raw)
elif compression == "zstd":
    raw = subprocess.run(["zstd", "-q", "-c"], input=raw, capture_output=True, check=True).stdout
with open(out, "wb") as f:
    f.write(raw)
