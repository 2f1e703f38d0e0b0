#!/usr/bin/env python3
"""The build benchmark's driver (see build.sh): sets up a local registry with a busybox base image, generates the
large context, times idpbuild and buildah side by side, and prints medians, ratios and peak RSS."""
import argparse, json, os, random, shutil, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts", "lib"))
from localregistry import Registry, push_base_image, write_registries_conf  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--idpbuild", required=True)
p.add_argument("--runs", type=int, default=3)
p.add_argument("--fixtures", required=True)
args = p.parse_args()

work = tempfile.mkdtemp(prefix="idpbuild-build-bench-")
os.chmod(work, 0o755)
registries = []
rootless = os.geteuid() != 0
have_buildah = shutil.which("buildah") is not None and shutil.which("runc") is not None


def log(text):
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def run(cmd, env=None, check=True, quiet=True):
    """Runs a command; returns (seconds, peak RSS in KiB of the process tree's largest process)."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL if quiet else None, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.monotonic() - start
    err = proc.stderr.read().decode(errors="replace")
    if check and os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("command failed: %s\n%s" % (" ".join(cmd), err[-3000:]))
    return elapsed, usage.ru_maxrss


def cleanup():
    for registry in registries:
        registry.stop()
    if have_buildah:
        subprocess.run(buildah_base + ["rmi", "--all", "--force"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if rootless:
        subprocess.run([args.idpbuild, "unshare", "--", "rm", "-rf", work], stderr=subprocess.DEVNULL)
    shutil.rmtree(work, ignore_errors=True)


# -- a registry on 127.0.0.1 with the base image as mirror/library/alpine:3.19
registries.append(Registry(os.path.join(work, "registry")))
host = registries[0].host
buildah_base = ["buildah", "--root", os.path.join(work, "buildah-root"), "--runroot", os.path.join(work, "buildah-run"), "--storage-driver", "overlay"]
try:
    push_base_image(host, os.path.join(work, "base"), args.fixtures)
    conf = write_registries_conf(os.path.join(work, "registries.conf"), host)
    with open(os.path.join(work, "policy.json"), "w") as f:
        f.write('{"default":[{"type":"insecureAcceptAnything"}]}')

    # -- the large context: 2,000 files, ~100 MB, and several RUN steps
    big = os.path.join(work, "big")
    rng = random.Random(42)
    for i in range(2000):
        d = os.path.join(big, "src", "d%02d" % (i % 40))
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "f%04d.bin" % i), "wb") as f:
            f.write(rng.randbytes(50 * 1024))
    with open(os.path.join(big, "Dockerfile"), "w") as f:
        f.write("FROM alpine:3.19\nCOPY src /src\nRUN find /src -type f | wc -l > /count\nRUN du -sk /src > /size\n"
                "RUN cat /src/d00/f0000.bin | md5sum > /sum\nRUN mkdir -p /out && cp /src/d01/f0001.bin /out/\nCMD [\"cat\", \"/count\"]\n")
    seed = os.path.join(work, "seed")
    shutil.copytree(os.path.join(args.fixtures, "seed"), seed)

    env = dict(os.environ, CONTAINERS_REGISTRIES_CONF=conf)
    store = os.path.join(work, "idpbuild-store")

    def idp(context, name, push=False):
        cmd = [args.idpbuild, "build", "--root", store, "--registries-conf", conf, "--insecure-registry", host, "--registry", host,
               "--no-kubernetes", "-t", name, context]
        return cmd if push else cmd + ["--no-push"]

    def bh(context, name):
        return buildah_base + ["bud", "--runtime", "runc", "--layers", "--tls-verify=false", "--signature-policy",
                               os.path.join(work, "policy.json"), "-t", name, context]

    def reset_idpbuild():
        if rootless:
            subprocess.run([args.idpbuild, "unshare", "--", "rm", "-rf", store])
        shutil.rmtree(store, ignore_errors=True)

    def reset_buildah():
        subprocess.run(buildah_base + ["rmi", "--all", "--force"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def touch_one(context, round_):
        target = os.path.join(context, "src/d05/f0005.bin") if context == big else os.path.join(context, "app")
        with open(target, "ab") as f:
            f.write(b"# change %d\n" % round_)

    results = []
    for label, context in [("seed", seed), ("big", big)]:
        row = {}
        for tool in ["idpbuild", "buildah"] if have_buildah else ["idpbuild"]:
            make = (lambda n: idp(context, n)) if tool == "idpbuild" else (lambda n: bh(context, n))
            reset = reset_idpbuild if tool == "idpbuild" else reset_buildah
            cold, nochange, change, rss = [], [], [], 0
            for r in range(args.runs):
                reset()
                t, m = run(make("bench/%s:cold" % label), env=env)
                cold.append(t)
                rss = max(rss, m)
            run(make("bench/%s:warm" % label), env=env)
            for r in range(args.runs):
                t, m = run(make("bench/%s:warm" % label), env=env)
                nochange.append(t)
                rss = max(rss, m)
            for r in range(args.runs):
                touch_one(context, r)
                t, m = run(make("bench/%s:edit" % label), env=env)
                change.append(t)
                rss = max(rss, m)
            pushes = []
            for r in range(args.runs):
                repo = "%s/giteaadmin/push-%s-%s-%d" % (host, tool, label, r)
                if tool == "idpbuild":
                    t, m = run(idp(context, repo, push=True), env=env)
                else:
                    t0, _ = run(bh(context, repo), env=env)
                    t1, m = run(buildah_base + ["push", "--tls-verify=false", "--signature-policy", os.path.join(work, "policy.json"),
                                                repo, "docker://" + repo], env=env)
                    t = t0 + t1
                pushes.append(t)
                rss = max(rss, m)
            row[tool] = {"cold": statistics.median(cold), "nochange": statistics.median(nochange), "change": statistics.median(change),
                         "push": statistics.median(pushes), "rss_kb": rss}
            log("%s %s: %s" % (label, tool, json.dumps(row[tool])))
        results.append((label, row))

    # -- two independent builder stages of about 2 s each and a final stage copying from both (issue 18): the full
    # cold build against the sum of the two stages built alone, cold; buildah bud --jobs 2 beside it.
    parallel = os.path.join(work, "parallel")
    os.makedirs(parallel)
    with open(os.path.join(parallel, "Dockerfile"), "w") as f:
        f.write("FROM alpine:3.19 AS left\nRUN sleep 2 && echo left > /left\nFROM alpine:3.19 AS right\n"
                "RUN sleep 2 && echo right > /right\nFROM alpine:3.19\nCOPY --from=left /left /left\nCOPY --from=right /right /right\n")
    stage_sums, fulls, buildah_fulls = [], [], []
    for r in range(args.runs):
        alone = 0.0
        for target in ["left", "right"]:
            reset_idpbuild()
            t, _ = run(idp(parallel, "bench/parallel:%s" % target) + ["--target", target], env=env)
            alone += t
        reset_idpbuild()
        t, _ = run(idp(parallel, "bench/parallel:all"), env=env)
        stage_sums.append(alone)
        fulls.append(t)
        if have_buildah:
            reset_buildah()
            t, _ = run(bh(parallel, "bench/parallel:all")[:-1] + ["--jobs", "2", parallel], env=env)
            buildah_fulls.append(t)
    parallel_ratio = statistics.median(fulls) / statistics.median(stage_sums)
    log("parallel: full %s, stages alone %s, buildah --jobs 2 %s" % (fulls, stage_sums, buildah_fulls))

    targets = {"cold": 0.5, "nochange": 0.05, "change": 0.3, "push": None, "rss_kb": 0.8}
    names = {"cold": "cold build", "nochange": "no-change rebuild", "change": "one file changed", "push": "build + push (cached build)",
             "rss_kb": "peak RSS"}
    print("%-6s %-28s %12s %12s %8s %8s" % ("fixture", "scenario", "idpbuild", "buildah", "ratio", "target"))
    for label, row in results:
        for key in ["cold", "nochange", "change", "push", "rss_kb"]:
            ours = row["idpbuild"][key]
            theirs = row.get("buildah", {}).get(key)
            fmt = (lambda v: "%.1f MB" % (v / 1024)) if key == "rss_kb" else (lambda v: "%.3f s" % v)
            ratio = "%.2fx" % (ours / theirs) if theirs else "-"
            target = ("<= %.1fx" % targets[key]) if targets[key] else "-"
            verdict = ""
            if theirs and targets[key]:
                verdict = " ok" if ours / theirs <= targets[key] else " MISSED"
            print("%-6s %-28s %12s %12s %8s %8s%s" % (label, names[key], fmt(ours), fmt(theirs) if theirs else "-", ratio, target, verdict))
    print("%-6s %-28s %12s %12s %8s %8s%s" % ("stages", "two builders, cold", "%.3f s" % statistics.median(fulls),
                                                ("%.3f s" % statistics.median(buildah_fulls)) if buildah_fulls else "-",
                                                "%.2fx" % parallel_ratio, "<= 0.6x", " ok" if parallel_ratio <= 0.6 else " MISSED"))
    print("       (the ratio is against the two stages built alone, cold: %.3f s; buildah with bud --jobs 2)" % statistics.median(stage_sums))
    print("(%d runs each, medians; %s; buildah %s)" % (args.runs, "rootless" if rootless else "as root",
                                                        "bud --layers --runtime runc" if have_buildah else "not installed"))
finally:
    cleanup()
