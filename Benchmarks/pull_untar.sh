#!/usr/bin/env bash
# What a pull that unpacks is compared with: `skopeo copy` of an image into an OCI layout, then `tar -x` of each of its
# layers into a directory of its own (as idpbuild keeps one tree per layer), restoring modes, owners and xattrs.
#
#   Benchmarks/pull_untar.sh SOURCE(docker://...) DIR
set -euo pipefail
source=$1 dir=$2
mkdir -p "$dir"
skopeo copy --quiet --src-tls-verify=false "$source" "oci:$dir/layout:bench"
python3 - "$dir/layout" <<'PY' | while read -r index blob; do mkdir -p "$dir/layers/$index"; tar --numeric-owner --xattrs --xattrs-include='*' -xf "$blob" -C "$dir/layers/$index"; done
import json, os, sys
root = sys.argv[1]
def blob(digest): return os.path.join(root, "blobs", *digest.split(":", 1))
entry = json.load(open(os.path.join(root, "index.json")))["manifests"][0]
manifest = json.load(open(blob(entry["digest"])))
for i, layer in enumerate(manifest["layers"]):
    print(i, blob(layer["digest"]))
PY
