#!/usr/bin/env bash
# Build benchmark: idpbuild build next to `buildah bud --layers` (when buildah and runc are installed) on the seed
# fixture and on a ~100 MB, 2,000-file context with several RUN steps: cold, no change, one file changed, then the
# push — medians, ratios against the targets, and peak RSS. Everything talks to a docker-registry on 127.0.0.1.
#   Targets (issue 18): cold <= 0.5x buildah, no-change <= 0.05x, one-file change <= 0.3x, peak RSS <= 0.8x; two independent
#   builder stages of ~2 s: the cold build <= 0.6x the two stages built alone.
#
#   Benchmarks/build.sh [--runs N] [--scratch-path DIR] [--skip-build] [--idpbuild PATH]
# (--idpbuild measures a given binary, e.g. one built with `swift build -c release --static-swift-stdlib`.)
#
# Runs as root (CI) or as a user with subuid ranges (both tools then build rootless).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
runs=3
scratch=.build
build=1
binary=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --scratch-path) scratch=$2; shift 2 ;;
    --skip-build) build=0; shift ;;
    --idpbuild) binary=$2; build=0; shift 2 ;;
    *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
cd "$root"
[ -x /opt/swift/usr/bin/swift ] && export PATH=/opt/swift/usr/bin:$PATH
if [ "$build" = 1 ]; then swift build -c release --scratch-path "$scratch" --product idpbuild >&2; fi
idpbuild=${binary:-"$(cd "$scratch/release" && pwd)/idpbuild"}
exec python3 "$here/build_bench.py" --idpbuild "$idpbuild" --runs "$runs" --fixtures "$root/Fixtures"
