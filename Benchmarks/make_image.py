#!/usr/bin/env python3
"""Writes a benchmark image as an OCI layout that is also an idpbuild store: SIZE_MB of random (incompressible) data
split over LAYERS uncompressed layers, tagged "localhost/bench:1" (for idpbuild) and "bench" (for skopeo's oci: transport).

usage: make_image.py DIR SIZE_MB LAYERS
"""
import hashlib, io, json, os, sys, tarfile

root, size_mb, layers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
blobs = os.path.join(root, "blobs", "sha256")
os.makedirs(blobs, exist_ok=True)
os.makedirs(os.path.join(root, "tmp"), exist_ok=True)
os.makedirs(os.path.join(root, "layers"), exist_ok=True)


def put(data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, digest), "wb") as f:
        f.write(data)
    return digest


class HashingWriter(io.RawIOBase):
    def __init__(self, f):
        self.f, self.h, self.n = f, hashlib.sha256(), 0
    def writable(self):
        return True
    def write(self, b):
        self.f.write(b); self.h.update(b); self.n += len(b)
        return len(b)


layer_descriptors, diff_ids = [], []
per_layer = size_mb * 1024 * 1024 // layers
for i in range(layers):
    tmp = os.path.join(root, "tmp", "layer-%d" % i)
    with open(tmp, "wb") as raw:
        w = HashingWriter(raw)
        with tarfile.open(fileobj=w, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo("data/layer-%d.bin" % i)
            info.size = per_layer
            info.mtime = 0
            class Random(io.RawIOBase):
                left = per_layer
                def readable(self): return True
                def readinto(self, b):
                    n = min(len(b), self.left, 1 << 20)
                    b[:n] = os.urandom(n); self.left -= n
                    return n
            tar.addfile(info, io.BufferedReader(Random(), 1 << 20))
    digest = w.h.hexdigest()
    os.rename(tmp, os.path.join(blobs, digest))
    layer_descriptors.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:" + digest, "size": w.n})
    diff_ids.append("sha256:" + digest)

config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                     "rootfs": {"type": "layers", "diff_ids": diff_ids},
                     "history": [{"created_by": "benchmark layer %d" % i} for i in range(layers)]}, sort_keys=True).encode()
config_digest = put(config)
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + config_digest,
                                  "size": len(config)},
                       "layers": layer_descriptors}, sort_keys=True).encode()
manifest_digest = put(manifest)
entry = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + manifest_digest, "size": len(manifest)}
index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
    dict(entry, annotations={"org.opencontainers.image.ref.name": "localhost/bench:1"}),
    dict(entry, annotations={"org.opencontainers.image.ref.name": "bench"})]}
with open(os.path.join(root, "index.json"), "w") as f:
    json.dump(index, f)
with open(os.path.join(root, "oci-layout"), "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
print(sum(d["size"] for d in layer_descriptors))
