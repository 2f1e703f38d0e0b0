"""A local image registry for demos and benchmarks (standard library only).

Starts Debian's docker-registry on 127.0.0.1, pushes a base image made from Debian's busybox-static as
`HOST/mirror/library/alpine:3.19`, and writes a registries.conf that sends docker.io there, so `FROM alpine:3.19`
never leaves the machine. Used by scripts/demo and Benchmarks/editor-build.sh; the Swift tests have their own
(Tests/BuildTestSupport) with the same layout.
"""
import os
import shutil
import socket
import subprocess
import sys
import time

BASE_REPOSITORY = "mirror/library/alpine"
BASE_TAG = "3.19"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(host, port, timeout=1.0):
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


class Registry:
    """docker-registry on 127.0.0.1:PORT with its data under DATA; stop() ends it (the data stays)."""

    def __init__(self, data, port=None, log=None):
        self.data = data
        self.port = port or free_port()
        self.host = "127.0.0.1:%d" % self.port
        os.makedirs(os.path.join(data, "storage"), exist_ok=True)
        config = os.path.join(data, "config.yml")
        with open(config, "w") as f:
            f.write("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n"
                    "    rootdirectory: %s/storage\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n" % (data, self.host))
        if shutil.which("docker-registry") is None:
            raise SystemExit("docker-registry is not installed: apt-get install docker-registry (scripts/setup does)")
        self.log_path = log or os.path.join(data, "registry.log")
        self.process = subprocess.Popen(["docker-registry", "serve", config], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=open(self.log_path, "ab"))
        deadline = time.monotonic() + 20
        while not answers("127.0.0.1", self.port, 0.5):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit("docker-registry did not start on %s; its log: %s" % (self.host, self.log_path))
            time.sleep(0.05)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def has_image(reference):
    return subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--raw", "docker://" + reference],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def push_base_image(host, work, fixtures):
    """Pushes the busybox base as HOST/mirror/library/alpine:3.19 (unless it is there); returns the reference."""
    reference = "%s/%s:%s" % (host, BASE_REPOSITORY, BASE_TAG)
    if has_image(reference):
        return reference
    for tool, package in [("umoci", "umoci"), ("skopeo", "skopeo")]:
        if shutil.which(tool) is None:
            raise SystemExit("%s is not installed: apt-get install %s (scripts/setup does)" % (tool, package))
    if not os.path.exists("/bin/busybox"):
        raise SystemExit("/bin/busybox is missing: apt-get install busybox-static (scripts/setup does)")
    shutil.rmtree(work, ignore_errors=True)
    rootfs = os.path.join(work, "rootfs")
    for d in ["bin", "etc", "tmp"]:
        os.makedirs(os.path.join(rootfs, d))
    shutil.copy2("/bin/busybox", os.path.join(rootfs, "bin/busybox"))
    for applet in subprocess.check_output(["/bin/busybox", "--list-full"]).decode().split():
        target = os.path.join(rootfs, applet)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.lexists(target):
            os.symlink("/bin/busybox", target)
    for name in ["passwd", "group"]:
        shutil.copy2(os.path.join(fixtures, "sandbox/etc", name), os.path.join(rootfs, "etc", name))
    layout = os.path.join(work, "layout")
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    subprocess.check_call(["tar", "--numeric-owner", "--owner=0", "--group=0", "--sort=name", "--mtime=@0", "-C", rootfs,
                           "-cf", os.path.join(work, "base.tar"), "."])
    subprocess.check_call(["umoci", "init", "--layout", layout], **quiet)
    subprocess.check_call(["umoci", "new", "--image", layout + ":base"], **quiet)
    subprocess.check_call(["umoci", "raw", "add-layer", "--image", layout + ":base", os.path.join(work, "base.tar")], **quiet)
    subprocess.check_call(["umoci", "config", "--image", layout + ":base", "--config.env", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                           "--config.cmd", "/bin/sh"], **quiet)
    subprocess.check_call(["skopeo", "copy", "--dest-tls-verify=false", "oci:%s:base" % layout, "docker://" + reference], **quiet)
    shutil.rmtree(work, ignore_errors=True)
    return reference


def write_registries_conf(path, host):
    """A registries.conf that reaches docker.io through the local mirror (and the registry itself without TLS)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write('[[registry]]\nprefix = "docker.io"\nlocation = "%s/upstream"\ninsecure = true\n'
                '[[registry.mirror]]\nlocation = "%s/mirror"\ninsecure = true\n\n'
                '[[registry]]\nlocation = "%s"\ninsecure = true\n' % (host, host, host))
    return path


if __name__ == "__main__":
    sys.exit(__doc__)
