#!/usr/bin/env bash
# Push and pull a large image through loopback with idpbuild and with skopeo copy, in the same run, and print
# throughput (MB/s) and peak RSS for each. Each round uses fresh registries (Debian's docker-registry on 127.0.0.1),
# so neither tool can skip or mount blobs that an earlier round pushed.
#
#   Benchmarks/transfer-bench.sh            # 500 MB in 5 layers, 3 rounds, release build
#   SIZE_MB=100 ROUNDS=1 Benchmarks/transfer-bench.sh
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
SIZE_MB=${SIZE_MB:-500}
LAYERS=${LAYERS:-5}
ROUNDS=${ROUNDS:-3}
SCRATCH=${SCRATCH:-.build-bench}

echo "building idpbuild (release)..." >&2
(cd "$repo" && swift build -c release --scratch-path "$SCRATCH" --product idpbuild >&2)
idpbuild="$repo/$SCRATCH/release/idpbuild"

work=$(mktemp -d /tmp/idpbuild-bench-XXXXXX)
registry_pids=()
cleanup() {
  for pid in "${registry_pids[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()'; }
start_registry() {  # name -> echoes host:port; pid recorded
  local name=$1 port
  port=$(free_port)
  mkdir -p "$work/$name/data"
  cat > "$work/$name/config.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/$name/data}}
http: {addr: 127.0.0.1:$port}
YAML
  docker-registry serve "$work/$name/config.yml" >"$work/$name/log" 2>&1 &
  registry_pids+=($!)
  for _ in $(seq 1 200); do
    if python3 -c "import socket,sys;socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null; then break; fi
    sleep 0.05
  done
  REGISTRY_HOST="127.0.0.1:$port"
}
stop_registries() {
  for pid in "${registry_pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
  registry_pids=()
}

echo "making a ${SIZE_MB} MB image in ${LAYERS} layers..." >&2
bytes=$(python3 "$here/make_image.py" "$work/src" "$SIZE_MB" "$LAYERS")
export HOME="$work/home"  # skopeo's blob-info cache starts empty and is thrown away
mkdir -p "$HOME"
measure() { python3 "$here/measure.py" "$@"; }
results="$work/results"
: > "$results"
for round in $(seq 1 "$ROUNDS"); do
  start_registry "a$round"; a=$REGISTRY_HOST
  start_registry "b$round"; b=$REGISTRY_HOST
  echo "round $round: pushes" >&2
  echo "skopeo push $(measure skopeo copy --quiet --dest-tls-verify=false "oci:$work/src:bench" "docker://$a/bench/img:1")" >> "$results"
  echo "idpbuild push $(measure "$idpbuild" push localhost/bench:1 "$b/bench/img:1" --root "$work/src" --insecure-registry "$b" --no-kubernetes)" >> "$results"
  echo "round $round: pulls" >&2
  echo "skopeo pull $(measure skopeo copy --quiet --src-tls-verify=false "docker://$a/bench/img:1" "oci:$work/skopeo-out:bench")" >> "$results"
  echo "idpbuild pull $(measure "$idpbuild" pull "$a/bench/img:1" --root "$work/idp-out" --insecure-registry "$a" --no-kubernetes)" >> "$results"
  rm -rf "$work/skopeo-out" "$work/idp-out"
  stop_registries
  rm -rf "$work/a$round" "$work/b$round"
done

python3 - "$results" "$bytes" "$ROUNDS" <<'PY'
import json, statistics, sys
path, size, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = {}
for line in open(path):
    tool, op, data = line.split(" ", 2)
    rows.setdefault((tool, op), []).append(json.loads(data))
mb = size / 1e6
print(f"image: {mb:.0f} MB, {rounds} round(s), medians; loopback, docker-registry 2.8 on 127.0.0.1")
print(f"{'tool':<10} {'op':<5} {'seconds':>8} {'MB/s':>8} {'peak RSS MB':>12}")
summary = {}
for op in ("push", "pull"):
    for tool in ("skopeo", "idpbuild"):
        runs = rows[(tool, op)]
        secs = statistics.median(r["seconds"] for r in runs)
        rss = statistics.median(r["max_rss_kb"] for r in runs) / 1024
        summary[(tool, op)] = (mb / secs, rss)
        print(f"{tool:<10} {op:<5} {secs:8.2f} {mb / secs:8.1f} {rss:12.1f}")
for op in ("push", "pull"):
    ratio = summary[("idpbuild", op)][0] / summary[("skopeo", op)][0]
    print(f"{op}: idpbuild throughput = {ratio:.2f}x skopeo (target >= 0.8x); idpbuild peak RSS {summary[('idpbuild', op)][1]:.1f} MB (target <= 64 MB)")
PY
