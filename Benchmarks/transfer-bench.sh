#!/usr/bin/env bash
# Push and pull a large image through loopback with idpbuild and with skopeo copy, in the same run, and print
# throughput (MB/s) and peak RSS for each. Each round uses fresh registries (Debian's docker-registry on 127.0.0.1),
# so neither tool can skip or mount blobs that an earlier round pushed.
#
# Then pulls that also unpack the layers: idpbuild's pull(unpack:) (unpacking while downloading) and a pull followed
# by unpacking each layer (what a build does today on first use), run in-process by the opt-in test PullBenchmark
# (a debug build of the tests), next to `skopeo copy` + `tar -x` of each layer (Benchmarks/pull_untar.sh).
#
#   Benchmarks/transfer-bench.sh            # 500 MB in 5 layers, 3 rounds, release build
#   SIZE_MB=100 ROUNDS=1 Benchmarks/transfer-bench.sh
#   UNPACK=0 Benchmarks/transfer-bench.sh   # without the unpacking pulls (no test build)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
SIZE_MB=${SIZE_MB:-500}
LAYERS=${LAYERS:-5}
ROUNDS=${ROUNDS:-3}
SCRATCH=${SCRATCH:-.build-bench}
UNPACK=${UNPACK:-1}

echo "building idpbuild (release)..." >&2
(cd "$repo" && swift build -c release --scratch-path "$SCRATCH" --product idpbuild >&2)
if [ "$UNPACK" = 1 ]; then
  echo "building the tests (debug, for the in-process pulls)..." >&2
  (cd "$repo" && swift build --build-tests >&2)
fi
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
record() {  # tool op command... -> appends "tool op {json}" to the results; a failed command stops the benchmark
  local tool=$1 op=$2 line; shift 2
  line=$(measure "$@")
  echo "$tool $op $line" >> "$results"
}
results="$work/results"
: > "$results"
for round in $(seq 1 "$ROUNDS"); do
  start_registry "a$round"; a=$REGISTRY_HOST
  start_registry "b$round"; b=$REGISTRY_HOST
  echo "round $round: pushes" >&2
  record skopeo push skopeo copy --quiet --dest-tls-verify=false "oci:$work/src:bench" "docker://$a/bench/img:1"
  record idpbuild push "$idpbuild" push localhost/bench:1 "$b/bench/img:1" --root "$work/src" --insecure-registry "$b" --no-kubernetes
  echo "round $round: pulls" >&2
  record skopeo pull skopeo copy --quiet --src-tls-verify=false "docker://$a/bench/img:1" "oci:$work/skopeo-out:bench"
  record idpbuild pull "$idpbuild" pull "$a/bench/img:1" --root "$work/idp-out" --insecure-registry "$a" --no-kubernetes
  rm -rf "$work/skopeo-out" "$work/idp-out"
  stop_registries
  rm -rf "$work/a$round" "$work/b$round"
done

if [ "$UNPACK" = 1 ]; then
  start_registry u; u=$REGISTRY_HOST
  skopeo copy --quiet --dest-tls-verify=false "oci:$work/src:bench" "docker://$u/bench/img:1"
  for round in $(seq 1 "$ROUNDS"); do
    echo "round $round: pulls that unpack" >&2
    record skopeo pull+untar "$here/pull_untar.sh" "docker://$u/bench/img:1" "$work/untar"
    rm -rf "$work/untar"
    mkdir -p "$work/inproc"
    (cd "$repo" && IDPBUILD_PULL_BENCH="$u/bench/img:1" IDPBUILD_PULL_BENCH_OUT="$work/inproc.json" IDPBUILD_PULL_BENCH_DIR="$work/inproc" \
      swift test --skip-build --filter PullBenchmark > "$work/inproc.log" 2>&1) || { cat "$work/inproc.log" >&2; exit 1; }
    python3 -c 'import json,sys
for line in open(sys.argv[1]):
    r = json.loads(line); print("idpbuild-in-process", r.pop("mode").replace(" ", "_"), json.dumps(r))' "$work/inproc.json" >> "$results"
    rm -rf "$work/inproc" "$work/inproc.json"
  done
  stop_registries
fi

python3 - "$results" "$bytes" "$ROUNDS" <<'PY'
import json, statistics, sys
path, size, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = {}
for line in open(path):
    tool, op, data = line.split(" ", 2)
    rows.setdefault((tool, op), []).append(json.loads(data))
mb = size / 1e6
print(f"image: {mb:.0f} MB, {rounds} round(s), medians; loopback, docker-registry 2.8 on 127.0.0.1")
print(f"{'tool':<20} {'op':<18} {'seconds':>8} {'MB/s':>8} {'peak RSS MB':>12}   (seconds of each round: the machine's page cache and other load make them vary)")
summary = {}
def show(tool, op, rss_note=""):
    runs = rows[(tool, op)]
    secs = statistics.median(r["seconds"] for r in runs)
    if "base_rss_kb" in runs[0]:
        # In the test process: what the pull added to the runner's resident set at its peak.
        rss = statistics.median(r["peak_rss_kb"] - r["base_rss_kb"] for r in runs) / 1024
        rss_text = f"+{rss:.1f}"
    else:
        rss = statistics.median(r["max_rss_kb"] for r in runs) / 1024
        rss_text = f"{rss:.1f}"
    summary[(tool, op)] = (mb / secs, rss)
    each = " ".join(f"{r['seconds']:.2f}" for r in runs)
    print(f"{tool:<20} {op:<18} {secs:8.2f} {mb / secs:8.1f} {rss_text:>12}   rounds: {each}")
for op in ("push", "pull"):
    for tool in ("skopeo", "idpbuild"):
        show(tool, op)
unpacking = ("skopeo", "pull+untar") in rows
if unpacking:
    show("skopeo", "pull+untar")
    for op in ("pull", "pull+unpack", "pull,_then_unpack"):
        show("idpbuild-in-process", op)
def ratio(a, b): return summary[a][0] / summary[b][0]
print(f"push: idpbuild throughput = {ratio(('idpbuild', 'push'), ('skopeo', 'push')):.2f}x skopeo copy (target >= 0.8x); "
      f"idpbuild peak RSS {summary[('idpbuild', 'push')][1]:.1f} MB (target <= 64 MB)")
pull = ratio(("idpbuild", "pull"), ("skopeo", "pull"))
print(f"pull: idpbuild throughput = {pull:.2f}x skopeo copy (target >= 1.5x: {'met' if pull >= 1.5 else 'NOT met'}); "
      f"idpbuild peak RSS {summary[('idpbuild', 'pull')][1]:.1f} MB (target <= 64 MB)")
if unpacking:
    streamed = ratio(("idpbuild-in-process", "pull+unpack"), ("skopeo", "pull+untar"))
    after = ratio(("idpbuild-in-process", "pull+unpack"), ("idpbuild-in-process", "pull,_then_unpack"))
    print(f"pull that unpacks: idpbuild pull(unpack:) = {streamed:.2f}x skopeo copy + tar -x of each layer (target >= 1.5x: "
          f"{'met' if streamed >= 1.5 else 'NOT met'}), {after:.2f}x idpbuild's pull then unpackLayer; it added "
          f"{summary[('idpbuild-in-process', 'pull+unpack')][1]:.1f} MB at its peak to the test process "
          f"(in-process figures: debug test build, no process start)")
PY
