#!/usr/bin/env bash
# Sandbox benchmark: median time to start a sandboxed `true` — with RUN's default network (a namespace of its own
# with slirp4netns), the host's, and none — and the time to turn a 100 MB upper directory of 2,000 files into a
# gzip layer, next to `buildah run` (when buildah and runc are installed; rootless also with buildah's own
# slirp4netns network) and `tar -czf` of the same directory. Prints a table and the ratios against the targets:
#   sandbox start <= 0.3x buildah run;  user-mode network adds <= 30 ms;  diff-to-layer throughput >= 0.8x tar -czf.
#
#   Benchmarks/sandbox.sh [--runs N] [--scratch-path DIR] [--skip-build]
#
# Needs hyperfine and python3; buildah (with runc: crun refuses this machine's hybrid cgroups) is optional.
# Runs as root or as a user with subuid ranges (then buildah runs rootless too).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
runs=30
scratch=.build
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --scratch-path) scratch=$2; shift 2 ;;
    --skip-build) build=0; shift ;;
    *) echo "sandbox.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v hyperfine >/dev/null || { echo "sandbox.sh: hyperfine is missing (apt-get install hyperfine)" >&2; exit 2; }
cd "$root"
[ -x /opt/swift/usr/bin/swift ] && export PATH=/opt/swift/usr/bin:$PATH
if [ "$build" = 1 ]; then swift build -c release --scratch-path "$scratch" --product idpbuild >&2; fi
idpbuild="$(cd "$scratch/release" && pwd)/idpbuild"

work=$(mktemp -d /tmp/idpbuild-bench-XXXXXX)
buildah_ctr=""
cleanup() {
  if [ -n "$buildah_ctr" ]; then buildah "${buildah_opts[@]}" rm "$buildah_ctr" >/dev/null 2>&1 || true; fi
  if [ -d "$work/storage" ]; then
    buildah "${buildah_opts[@]}" rm --all >/dev/null 2>&1 || true
    buildah "${buildah_opts[@]}" rmi --all --force >/dev/null 2>&1 || true
    if [ "$(id -u)" = 0 ]; then umount -R "$work/storage" 2>/dev/null || true; fi
  fi
  # Rootless buildah storage holds files owned by subordinate IDs: remove it as namespace root.
  if [ "$(id -u)" = 0 ]; then rm -rf "$work"; else "$idpbuild" unshare -- rm -rf "$work" 2>/dev/null || rm -rf "$work"; fi
}
trap cleanup EXIT

# A busybox root filesystem from Debian's busybox-static.
rootfs="$work/rootfs"
mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp"
cp /bin/busybox "$rootfs/bin/busybox"
for applet in $(/bin/busybox --list-full); do
  mkdir -p "$rootfs/$(dirname "$applet")"
  [ -e "$rootfs/$applet" ] || ln -s /bin/busybox "$rootfs/$applet"
done
cp "$root/Fixtures/sandbox/etc/passwd" "$root/Fixtures/sandbox/etc/group" "$rootfs/etc/"

median() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print("%.4f" % r[0]["median"])' "$1"; }

echo "== sandbox start: $runs runs of \`true\`" >&2
hyperfine --style basic --warmup 3 --runs "$runs" --export-json "$work/start.json" \
  "$idpbuild run --network host --rootfs $rootfs -- true" >&2
ours_start=$(median "$work/start.json")
hyperfine --style basic --warmup 3 --runs "$runs" --export-json "$work/start-none.json" \
  "$idpbuild run --network none --rootfs $rootfs -- true" >&2
ours_none=$(median "$work/start-none.json")
ours_private=""
private_note=""
if "$idpbuild" run --network private --rootfs "$rootfs" -- true 2>"$work/private.err"; then
  hyperfine --style basic --warmup 3 --runs "$runs" --export-json "$work/start-private.json" \
    "$idpbuild run --network private --rootfs $rootfs -- true" >&2
  ours_private=$(median "$work/start-private.json")
else
  private_note="$(tail -n 1 "$work/private.err")"
fi

buildah_start=""
buildah_default=""
buildah_note="buildah not installed"
buildah_opts=(--root "$work/storage" --runroot "$work/runroot" --storage-driver overlay)
if command -v buildah >/dev/null; then
  if ! command -v runc >/dev/null; then
    buildah_note="buildah installed but runc is missing (apt-get install runc; crun refuses hybrid cgroups)"
  elif buildah_ctr=$(buildah "${buildah_opts[@]}" from scratch 2>"$work/buildah.err") &&
       buildah "${buildah_opts[@]}" copy "$buildah_ctr" "$rootfs" / >/dev/null 2>>"$work/buildah.err" &&
       buildah "${buildah_opts[@]}" run --runtime runc --network host "$buildah_ctr" true 2>>"$work/buildah.err"; then
    hyperfine --style basic --warmup 3 --runs "$runs" --export-json "$work/buildah-start.json" \
      "buildah ${buildah_opts[*]} run --runtime runc --network host $buildah_ctr true" >&2
    buildah_start=$(median "$work/buildah-start.json")
    buildah_note=""
    # buildah's own default network (slirp4netns when rootless; CNI as root, often not configured).
    if buildah "${buildah_opts[@]}" run --runtime runc "$buildah_ctr" true 2>>"$work/buildah.err"; then
      hyperfine --style basic --warmup 3 --runs "$runs" --export-json "$work/buildah-default.json" \
        "buildah ${buildah_opts[*]} run --runtime runc $buildah_ctr true" >&2
      buildah_default=$(median "$work/buildah-default.json")
    fi
  else
    buildah_note="buildah run failed here: $(tail -n 1 "$work/buildah.err")"
  fi
fi

echo "== diff to layer: 2,000 files, 100 MB" >&2
upper="$work/upper"
python3 - "$upper" <<'PY'
import os, random, sys
# 2,000 files of 50 KiB (100 MiB in all) in 40 directories: half text-like (compressible, like sources and
# scripts), half random bytes (like binaries and compressed assets).
root = sys.argv[1]
rng = random.Random(42)
words = [("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 10)))).encode() for _ in range(5000)]
size = 50 * 1024
for d in range(40):
    os.makedirs(os.path.join(root, "dir%02d" % d), exist_ok=True)
    for f in range(50):
        path = os.path.join(root, "dir%02d" % d, "file%03d" % f)
        if (d * 50 + f) % 2 == 0:
            out = bytearray()
            while len(out) < size:
                out += rng.choice(words) + (b"\n" if rng.random() < 0.1 else b" ")
            data = bytes(out[:size])
        else:
            data = rng.randbytes(size)
        with open(path, "wb") as fh:
            fh.write(data)
PY
bytes=$(du -sb "$upper" | cut -f1)
hyperfine --style basic --warmup 1 --runs 5 --export-json "$work/diff.json" \
  "$idpbuild diff $upper -o $work/layer.tar.gz" >&2
hyperfine --style basic --warmup 1 --runs 5 --export-json "$work/tar.json" \
  "tar -czf $work/tar.tar.gz -C $upper ." >&2
ours_diff=$(median "$work/diff.json")
tar_diff=$(median "$work/tar.json")

python3 - "$ours_start" "${buildah_start:-}" "$ours_diff" "$tar_diff" "$bytes" "$buildah_note" \
  "$(stat -c %s "$work/layer.tar.gz")" "$(stat -c %s "$work/tar.tar.gz")" "$ours_none" "${ours_private:-}" "$private_note" \
  "${buildah_default:-}" "$(id -un)" <<'PY'
import sys
ours_start, buildah_start, ours_diff, tar_diff, size = sys.argv[1:6]
note, ours_blob, tar_blob = sys.argv[6], int(sys.argv[7]), int(sys.argv[8])
ours_none, ours_private, private_note, buildah_default, user = sys.argv[9:14]
ours_start, ours_diff, tar_diff, size = float(ours_start), float(ours_diff), float(tar_diff), int(size)
mb = size / 1e6
print("sandbox start (median of runs, `true`, as %s)" % user)
print("  idpbuild run --network host     %8.1f ms" % (ours_start * 1000))
print("  idpbuild run --network none     %8.1f ms" % (float(ours_none) * 1000))
if ours_private:
    p = float(ours_private)
    print("  idpbuild run (private: slirp4netns, RUN's default) %8.1f ms" % (p * 1000))
    extra = (p - ours_start) * 1000
    print("  user-mode network adds          %8.1f ms  (target <= 30 ms) %s" % (extra, "MET" if extra <= 30 else "MISSED"))
else:
    print("  idpbuild run (private)          n/a (%s)" % private_note)
if buildah_start:
    b = float(buildah_start)
    print("  buildah run --network host      %8.1f ms" % (b * 1000))
    if buildah_default:
        print("  buildah run (its default net)   %8.1f ms" % (float(buildah_default) * 1000))
    print("  ratio (host vs host)            %8.2fx   (target <= 0.30x) %s" % (ours_start / b, "MET" if ours_start / b <= 0.3 else "MISSED"))
    if ours_private and buildah_default:
        r = float(ours_private) / float(buildah_default)
        print("  ratio (default vs default)      %8.2fx" % r)
else:
    print("  buildah run        n/a (%s)" % note)
print("diff to layer (%d files, %.1f MB, median of 5)" % (2000, mb))
print("  idpbuild diff      %8.3f s  %7.1f MB/s  blob %.1f MB" % (ours_diff, mb / ours_diff, ours_blob / 1e6))
print("  tar -czf           %8.3f s  %7.1f MB/s  blob %.1f MB" % (tar_diff, mb / tar_diff, tar_blob / 1e6))
ratio = tar_diff / ours_diff
print("  throughput ratio   %8.2fx   (target >= 0.80x) %s" % (ratio, "MET" if ratio >= 0.8 else "MISSED"))
PY
