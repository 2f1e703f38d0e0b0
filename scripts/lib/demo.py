#!/usr/bin/env python3
"""The two parts of scripts/demo once idpbuild is built (see scripts/demo --help): `idpbuild build` of Fixtures/seed,
pushed to …/giteaadmin/seed:latest, then the same through `idpbuild lsp` with the script client."""
import argparse
import hashlib
import json
import os
import shutil
import ssl
import subprocess
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import localregistry  # noqa: E402

GITEA = "gitea.cnoe.localtest.me:8443"


def say(text):
    print(text, flush=True)


def cluster_answers():
    """Whether idpbuilder's Gitea registry answers /v2/ (401 or 200) within a few seconds."""
    host, port = GITEA.split(":")
    if not localregistry.answers(host, int(port), timeout=2):
        return False
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # only asking whether it is there; the build verifies with the cluster's CA
    try:
        urllib.request.urlopen("https://%s/v2/" % GITEA, timeout=5, context=context)
        return True
    except urllib.error.HTTPError as error:
        return error.code in (200, 401)
    except (urllib.error.URLError, OSError):
        return False


def data_home():
    xdg = os.environ.get("XDG_DATA_HOME", "")
    return (xdg if xdg.startswith("/") else os.path.expanduser("~/.local/share")) + "/idpbuild/demo"


def rootless_note():
    if os.geteuid() == 0:
        return "as root; run it as a user with /etc/subuid ranges for a rootless build"
    user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    ranges = [line for line in open("/etc/subuid").read().splitlines() if line.split(":")[0] in (user, str(os.getuid()))] \
        if os.path.exists("/etc/subuid") else []
    if ranges:
        return "rootless: as %s, the build worker is root of a user namespace mapped with %s" % (user, ", ".join(ranges))
    return "as %s without /etc/subuid ranges: the worker maps only your own id (files owned by others cannot be built)" % user


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--idpbuild", required=True)
    parser.add_argument("--fixtures", required=True)
    parser.add_argument("--client", required=True)
    parser.add_argument("--local", action="store_true")
    args = parser.parse_args()
    home = data_home()
    os.makedirs(home, exist_ok=True)

    say("== a local registry for the base image (Debian's docker-registry on 127.0.0.1, data under %s)" % home)
    registry = localregistry.Registry(os.path.join(home, "registry"))
    try:
        base = localregistry.push_base_image(registry.host, os.path.join(home, "base-work"), args.fixtures)
        conf = localregistry.write_registries_conf(os.path.join(home, "registries.conf"), registry.host)
        say("base image: %s (busybox-static), served as docker.io/library/alpine:3.19 through %s" % (base, conf))
        if not args.local and cluster_answers():
            target = GITEA
            flags = ["--registry", GITEA]
            say("== an idpbuilder cluster answers at %s: pushing there (credentials and CA from the cluster)" % GITEA)
        else:
            target = registry.host
            flags = ["--registry", registry.host, "--insecure-registry", registry.host, "--no-kubernetes"]
            why = "--local" if args.local else "no idpbuilder cluster answers at %s" % GITEA
            say("== %s: pushing to the local registry %s" % (why, registry.host))
        reference = "%s/giteaadmin/seed:latest" % target
        seed = os.path.join(args.fixtures, "seed")

        say("== part 1: idpbuild build -t seed Fixtures/seed — %s" % rootless_note())
        command = [args.idpbuild, "build", "--registries-conf", conf] + flags + ["-t", "seed", seed]
        say("$ " + " ".join(command))
        result = subprocess.run(command, stdout=subprocess.PIPE, text=True)
        if result.returncode != 0:
            say("demo: idpbuild build failed (status %d)" % result.returncode)
            return 1
        pushed, digest = result.stdout.split()[:2]
        say("pushed: %s" % pushed)
        say("digest: %s" % digest)
        if target == registry.host:
            raw = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--raw", "docker://" + pushed], capture_output=True)
            checked = "sha256:" + hashlib.sha256(raw.stdout).hexdigest()
            say("skopeo inspect: the registry serves %s (%s)" % (checked, "matches" if checked == digest else "DIFFERS"))

        say("== part 2: the same through idpbuild lsp, with the script client (editors/script/idpbuild_build.py)")
        server = " ".join([args.idpbuild, "lsp", "--registries-conf", conf] + flags)
        command = ["python3", args.client, "--server", server, os.path.join(seed, "Dockerfile")]
        say("$ " + " ".join(command[:3]) + " '" + server + "' " + command[-1])
        result = subprocess.run(command, stdout=subprocess.PIPE, text=True)
        if result.returncode != 0:
            say("demo: the build through idpbuild lsp failed (status %d)" % result.returncode)
            return 1
        lsp_reference, lsp_digest = result.stdout.split()[:2]
        say("pushed: %s" % lsp_reference)
        say("digest: %s" % lsp_digest)
        say("== done: %s%s" % (reference, "" if lsp_digest == digest else " (the second build's digest differs: its creation time is new)"))
        return 0
    finally:
        registry.stop()


if __name__ == "__main__":
    sys.exit(main())
