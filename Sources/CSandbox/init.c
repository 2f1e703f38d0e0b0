// The re-exec entry point: runs as a constructor, before main() and before the Swift runtime has started any
// thread, because unshare(CLONE_NEWUSER) fails in a multithreaded process (runc's nsexec and buildah's reexec
// use the same pattern). See csandbox.h for the modes and descriptors.
//
// Container mode, three processes:
//   supervisor  enters the user namespace (when asked), unshares pid/ipc/uts[/net], forks init, waits for it
//               while watching the control socket (EOF = cancel or a dead caller: kill init, which takes the
//               whole PID namespace with it), then removes the run's temporary directories.
//   init        PID 1 of the new PID namespace, in its own mount namespace: overlay root, /proc, /dev, pivot_root,
//               /etc/hosts and /etc/resolv.conf, hostname; forks the command, reaps, kills what is left,
//               removes the mount points it had to create, reports the status on the result pipe.
//   command     setsid, bounding set, ids, capabilities, no_new_privs, working directory, environment, execve.
#define _GNU_SOURCE
#include "csandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

extern char **environ;

enum { CONTROL_FD = 3, RESULT_FD = 4 };

// ---------------------------------------------------------------- configuration

struct strlist { char **items; int count; int cap; };

// RUN's network: the host's namespace, a new one with only lo, or a new one that a user-mode network stack
// (slirp4netns, started by the caller once the namespace exists) connects to the outside.
enum { NET_HOST = 0, NET_NONE = 1, NET_USER = 2 };

struct config {
    int userns;
    int net;
    struct strlist lower;   // overlay order: topmost first
    const char *upper, *work, *merged;
    const char *hostname, *hosts, *resolv;
    uid_t uid; gid_t gid;
    struct strlist groups;
    const char *cwd;
    struct strlist env, args, cleanup;
    struct strlist mounts;  // "KIND\1RO\1TARGET\1SOURCE-OR-SIZE" (KIND b = bind, t = tmpfs)
};

static void push(struct strlist *l, char *s) {
    if (l->count + 1 >= l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->items = realloc(l->items, sizeof(char *) * (size_t)l->cap);
        if (!l->items) _exit(125);
    }
    l->items[l->count++] = s;
    l->items[l->count] = NULL;
}

static int read_full(int fd, void *buf, size_t len) {
    size_t done = 0;
    while (done < len) {
        ssize_t n = read(fd, (char *)buf + done, len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        done += (size_t)n;
    }
    return 0;
}

static void write_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        buf += n; len -= (size_t)n;
    }
}

// Reports a failure on the result pipe: "E <kind> <errno> <detail>\n". The Swift side turns kinds into
// actionable messages.
static void report(const char *kind, int err, const char *fmt, ...) {
    char detail[1024], line[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    for (char *p = detail; *p; p++) if (*p == '\n') *p = ' ';
    int n = snprintf(line, sizeof line, "E %s %d %s\n", kind, err, detail);
    if (n > 0) write_all(RESULT_FD, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static int parse_config(struct config *c) {
    uint32_t len;
    if (read_full(CONTROL_FD, &len, sizeof len) != 0 || len == 0 || len > (64u << 20)) return -1;
    char *buf = malloc((size_t)len + 1);
    if (!buf || read_full(CONTROL_FD, buf, len) != 0) return -1;
    buf[len] = 0;
    memset(c, 0, sizeof *c);
    c->cwd = "/";
    for (char *p = buf, *next; p < buf + len; p = next) {
        next = p + strlen(p) + 1; // before the key is cut off at '='
        char *eq = strchr(p, '=');
        if (!eq) continue;
        *eq = 0;
        char *v = eq + 1;
        if (!strcmp(p, "userns")) c->userns = atoi(v);
        else if (!strcmp(p, "net")) c->net = atoi(v);
        else if (!strcmp(p, "lower")) push(&c->lower, v);
        else if (!strcmp(p, "upper")) c->upper = v;
        else if (!strcmp(p, "work")) c->work = v;
        else if (!strcmp(p, "merged")) c->merged = v;
        else if (!strcmp(p, "hostname")) c->hostname = v;
        else if (!strcmp(p, "hosts")) c->hosts = v;
        else if (!strcmp(p, "resolv")) c->resolv = v;
        else if (!strcmp(p, "uid")) c->uid = (uid_t)strtoul(v, NULL, 10);
        else if (!strcmp(p, "gid")) c->gid = (gid_t)strtoul(v, NULL, 10);
        else if (!strcmp(p, "group")) push(&c->groups, v);
        else if (!strcmp(p, "cwd")) c->cwd = v;
        else if (!strcmp(p, "env")) push(&c->env, v);
        else if (!strcmp(p, "arg")) push(&c->args, v);
        else if (!strcmp(p, "cleanup")) push(&c->cleanup, v);
        else if (!strcmp(p, "mount")) push(&c->mounts, v);
    }
    if (!c->upper || !c->work || !c->merged || c->lower.count == 0 || c->args.count == 0) return -1;
    if (!c->env.items) push(&c->env, NULL), c->env.count = 0;
    return 0;
}

// ---------------------------------------------------------------- user namespace handshake

static int enter_user_namespace(int sock) {
    if (unshare(CLONE_NEWUSER) != 0) return errno;
    write_all(sock, "U", 1);
    char answer = 0;
    if (read_full(sock, &answer, 1) != 0 || answer != 'M') return -1;
    if (setresgid(0, 0, 0) != 0) return errno;
    if (setresuid(0, 0, 0) != 0) return errno;
    (void)setgroups(0, NULL); // EPERM when setgroups is denied (single-ID mapping): nothing to drop then
    // Changing credentials clears the dumpable flag, which makes /proc/self/fd unusable (root-owned).
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    return 0;
}

// ---------------------------------------------------------------- init: mounts

// Length of the longest directory prefix ("/a/b", no trailing slash) that every lower path starts with,
// or 0 when there is none or a lower is that directory itself.
static size_t common_parent_length(struct strlist *l) {
    if (l->count < 2) return 0;
    size_t len = strlen(l->items[0]);
    for (int i = 1; i < l->count; i++) {
        size_t j = 0;
        while (j < len && l->items[i][j] && l->items[i][j] == l->items[0][j]) j++;
        len = j;
    }
    while (len > 0 && l->items[0][len] != '/') len--; // back to a directory boundary
    for (int i = 0; i < l->count; i++) if (l->items[i][len] != '/' || l->items[i][len + 1] == 0) return 0;
    return len;
}

static int in_initial_user_namespace(void) {
    int fd = open("/proc/self/uid_map", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 1;
    char buf[128] = {0};
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    unsigned long inside, outside, count;
    if (n <= 0 || sscanf(buf, "%lu %lu %lu", &inside, &outside, &count) != 3) return 1;
    return inside == 0 && outside == 0 && count == 4294967295UL;
}

struct created { char path[4096]; int is_dir; int is_mount; };
static struct created created_paths[80];
static int created_count = 0;

static void remember(const char *path, int is_dir, int is_mount) {
    if (created_count >= 80) return;
    snprintf(created_paths[created_count].path, sizeof created_paths[0].path, "%s", path);
    created_paths[created_count].is_dir = is_dir;
    created_paths[created_count].is_mount = is_mount;
    created_count++;
}

// Makes `rel` (a path under the new root, no leading slash) a directory, creating it when missing.
// Returns 1 when created, 0 when it existed, -1 with errno on failure (a symlink is refused).
static int ensure_dir_at(int rootfd, const char *rel) {
    struct stat st;
    if (fstatat(rootfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISDIR(st.st_mode)) return 0;
        errno = ENOTDIR;
        return -1;
    }
    if (errno != ENOENT) return -1;
    if (mkdirat(rootfd, rel, 0755) != 0) return -1;
    return 1;
}

static int bind_device(const char *dev_dir, const char *name) {
    char target[4096], source[64];
    snprintf(target, sizeof target, "%s/%s", dev_dir, name);
    snprintf(source, sizeof source, "/dev/%s", name);
    int fd = open(target, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
    if (fd < 0) return -1;
    close(fd);
    return mount(source, target, NULL, MS_BIND, NULL);
}

static int setup_dev(const char *merged) {
    char dev[4096], path[4096];
    snprintf(dev, sizeof dev, "%s/dev", merged);
    if (mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k") != 0) return -1;
    static const char *devices[] = {"null", "zero", "full", "random", "urandom", "tty"};
    for (size_t i = 0; i < sizeof devices / sizeof devices[0]; i++) {
        if (bind_device(dev, devices[i]) != 0) return -1;
    }
    snprintf(path, sizeof path, "%s/pts", dev);
    if (mkdir(path, 0755) != 0) return -1;
    // gid=5 (tty) needs gid 5 mapped; a single-ID mapping has only 0.
    if (mount("devpts", path, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5") != 0 &&
        mount("devpts", path, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620") != 0)
        return -1;
    snprintf(path, sizeof path, "%s/shm", dev);
    if (mkdir(path, 01777) != 0) return -1;
    if (mount("shm", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k") != 0) return -1;
    static const char *links[][2] = {
        {"pts/ptmx", "ptmx"}, {"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
        {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
    };
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dev, links[i][1]);
        if (symlink(links[i][0], path) != 0) return -1;
    }
    return 0;
}

// Bind-mounts a host file over /etc/<name> of the new root, before pivot_root (a bind source must still be
// in the mount namespace). The target is resolved with RESOLVE_IN_ROOT, so a symlink in the image cannot point
// the mount outside the root. A missing file is created and removed after the run, so it does not show up in
// the layer; a symlink that points nowhere inside the root is left alone, as Docker leaves a dangling
// /etc/resolv.conf.
static int open_in_root(int rootfd, const char *rel, int flags) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (uint64_t)(flags | O_CLOEXEC);
    how.resolve = RESOLVE_IN_ROOT;
    return (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof how);
}

static int bind_etc_file(int rootfd, const char *source, const char *name) {
    if (!source) return 0;
    char rel[256], target[64], entry[300];
    snprintf(rel, sizeof rel, "etc/%s", name);
    int etc = open_in_root(rootfd, "etc", O_PATH | O_DIRECTORY);
    if (etc < 0) {
        if (errno != ENOENT || mkdirat(rootfd, "etc", 0755) != 0) return -1;
        remember("/etc", 1, 0);
        etc = open_in_root(rootfd, "etc", O_PATH | O_DIRECTORY);
        if (etc < 0) return -1;
    }
    struct stat st;
    int created = 0;
    if (fstatat(etc, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno != ENOENT) { close(etc); return -1; }
        int fd = openat(etc, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0) { close(etc); return -1; }
        close(fd);
        created = 1;
    }
    close(etc);
    int fd = open_in_root(rootfd, rel, O_PATH);
    if (fd < 0) return 0; // dangling symlink
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) { close(fd); return 0; }
    snprintf(target, sizeof target, "/proc/self/fd/%d", fd);
    int rc = mount(source, target, NULL, MS_BIND, NULL);
    int saved = errno;
    close(fd);
    if (rc != 0) { errno = saved; return -1; }
    snprintf(entry, sizeof entry, "%s/etc/%s", created ? "" : "!", name); // '!': unmount only, keep the file
    remember(entry, 0, 1);
    return 0;
}

static int loopback_up(void) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
    if (rc == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        rc = ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    int saved = errno;
    close(s);
    errno = saved;
    return rc;
}

// ---------------------------------------------------------------- command

// Docker's default capability set (moby oci/caps/defaults.go).
static const int default_caps[] = {
    CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FSETID, CAP_FOWNER, CAP_MKNOD, CAP_NET_RAW, CAP_SETGID, CAP_SETUID,
    CAP_SETFCAP, CAP_SETPCAP, CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT, CAP_KILL, CAP_AUDIT_WRITE,
};

static int is_default_cap(int cap) {
    for (size_t i = 0; i < sizeof default_caps / sizeof default_caps[0]; i++)
        if (default_caps[i] == cap) return 1;
    return 0;
}

static int last_cap(void) {
    int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return CAP_LAST_CAP;
    char buf[16] = {0};
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    return n > 0 ? atoi(buf) : CAP_LAST_CAP;
}

static void fail_command(const char *what, int err) {
    char line[512];
    int n = snprintf(line, sizeof line, "idpbuild: %s: %s\n", what, strerror(err));
    if (n > 0) write_all(2, line, (size_t)n);
    _exit(125);
}

static void run_command(struct config *c) {
    setsid();
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    int top = last_cap();
    for (int cap = 0; cap <= top; cap++) {
        if (!is_default_cap(cap) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
            fail_command("dropping capabilities from the bounding set", errno);
    }
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);

    // Docker creates a missing working directory as root before switching users.
    if (c->cwd[0] == '/' && c->cwd[1] != 0) {
        char path[4096];
        snprintf(path, sizeof path, "%s", c->cwd);
        for (char *p = path + 1; *p; p++) {
            if (*p != '/') continue;
            *p = 0;
            mkdir(path, 0755);
            *p = '/';
        }
        mkdir(path, 0755);
    }

    gid_t groups[64];
    int ngroups = 0;
    for (int i = 0; i < c->groups.count && ngroups < 64; i++) groups[ngroups++] = (gid_t)strtoul(c->groups.items[i], NULL, 10);
    if (setgroups((size_t)ngroups, groups) != 0 && !(errno == EPERM && ngroups == 0))
        fail_command("setting supplementary groups (are they mapped in the user namespace?)", errno);
    if (setresgid(c->gid, c->gid, c->gid) != 0) fail_command("switching group (is the gid mapped in the user namespace?)", errno);
    if (setresuid(c->uid, c->uid, c->uid) != 0) fail_command("switching user (is the uid mapped in the user namespace?)", errno);

    if (c->uid == 0) {
        struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
        struct __user_cap_data_struct data[2];
        memset(data, 0, sizeof data);
        for (size_t i = 0; i < sizeof default_caps / sizeof default_caps[0]; i++) {
            int cap = default_caps[i];
            data[cap / 32].effective |= 1u << (cap % 32);
            data[cap / 32].permitted |= 1u << (cap % 32);
        }
        if (syscall(SYS_capset, &header, data) != 0) fail_command("setting capabilities", errno);
    }
    // Past a build's memory limit the kernel must kill the step, not the build worker that holds the build (and
    // reports it on its line): raise the command's OOM score, which any process may do for itself.
    int oom = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (oom >= 0) { write_all(oom, "500", 3); close(oom); }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail_command("setting no_new_privs", errno);
    if (chdir(c->cwd) != 0) {
        char what[4200];
        snprintf(what, sizeof what, "working directory %s", c->cwd);
        fail_command(what, errno);
    }

    environ = c->env.items;
    execvp(c->args.items[0], c->args.items);
    int err = errno;
    // Like a shell: 127 when the command does not exist, 126 when it exists but cannot run.
    char line[4400];
    int n;
    if (err == ENOENT)
        n = snprintf(line, sizeof line, "idpbuild: %s: command not found\n", c->args.items[0]);
    else
        n = snprintf(line, sizeof line, "idpbuild: %s: %s\n", c->args.items[0], strerror(err));
    if (n > 0) write_all(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    _exit(err == ENOENT ? 127 : 126);
}

// ---------------------------------------------------------------- init

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#define CS_OPEN_TREE_CLONE 1
#define CS_AT_RECURSIVE 0x8000
#define CS_MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#define CS_MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#define CS_MOUNT_ATTR_RDONLY 0x00000001
struct cs_mount_attr { uint64_t attr_set, attr_clr, propagation, userns_fd; };

// A RUN --mount: creates the mount point inside the root (resolved with RESOLVE_IN_ROOT, so an image's symlink
// cannot point it outside), remembers what it created so it never shows up in the layer, then mounts a clone of
// the host path (bind, read-only with mount_setattr when asked) or a tmpfs there. Returns 0, or -1 with errno.
static int add_mount(int rootfd, char *spec, const char **failed_target) {
    char *fields[4] = {0};
    int n = 0;
    for (char *p = spec; n < 4; ) {
        fields[n++] = p;
        char *sep = strchr(p, '\1');
        if (!sep) break;
        *sep = 0;
        p = sep + 1;
    }
    if (n != 4) { errno = EINVAL; return -1; }
    const char *kind = fields[0], *target = fields[2], *source = fields[3];
    int readonly = fields[1][0] == '1';
    *failed_target = target;
    int as_file = 0;
    struct stat st;
    if (kind[0] == 'b') {
        if (stat(source, &st) != 0) return -1;
        as_file = !S_ISDIR(st.st_mode);
    }
    char rel[4096], partial[4096] = "", entry[4100];
    snprintf(rel, sizeof rel, "%s", target[0] == '/' ? target + 1 : target);
    char *save = NULL, *tok = strtok_r(rel, "/", &save);
    if (!tok) { errno = EINVAL; return -1; }
    while (tok) {
        char *next = strtok_r(NULL, "/", &save);
        char parent[4096];
        snprintf(parent, sizeof parent, "%s", partial[0] ? partial : ".");
        size_t used = strlen(partial);
        snprintf(partial + used, sizeof partial - used, "%s%s", used ? "/" : "", tok);
        int fd = open_in_root(rootfd, partial, O_PATH);
        if (fd >= 0) {
            close(fd);
            if (!next) { snprintf(entry, sizeof entry, "!/%s", partial); remember(entry, 0, 1); }
        } else {
            if (errno != ENOENT) return -1;
            int pfd = open_in_root(rootfd, parent, O_PATH | O_DIRECTORY);
            if (pfd < 0) return -1;
            int rc;
            if (!next && as_file) {
                rc = openat(pfd, tok, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
                if (rc >= 0) { close(rc); rc = 0; }
            } else {
                rc = mkdirat(pfd, tok, 0755);
            }
            close(pfd);
            if (rc != 0) return -1;
            snprintf(entry, sizeof entry, "/%s", partial);
            remember(entry, !(!next && as_file), !next);
        }
        tok = next;
    }
    int tfd = open_in_root(rootfd, partial, O_PATH);
    if (tfd < 0) return -1;
    int rc;
    if (kind[0] == 't') {
        char proc[64], opts[128];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", tfd);
        long long size = atoll(source);
        if (size > 0) snprintf(opts, sizeof opts, "mode=1777,size=%lld", size); else snprintf(opts, sizeof opts, "mode=1777");
        rc = mount("tmpfs", proc, "tmpfs", MS_NOSUID | MS_NODEV, opts);
    } else {
        int tree = (int)syscall(SYS_open_tree, AT_FDCWD, source, CS_OPEN_TREE_CLONE | O_CLOEXEC | CS_AT_RECURSIVE);
        if (tree < 0) { int e = errno; close(tfd); errno = e; return -1; }
        rc = 0;
        if (readonly) {
            struct cs_mount_attr attr;
            memset(&attr, 0, sizeof attr);
            attr.attr_set = CS_MOUNT_ATTR_RDONLY;
            rc = (int)syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | CS_AT_RECURSIVE, &attr, sizeof attr);
        }
        if (rc == 0) rc = (int)syscall(SYS_move_mount, tree, "", tfd, "", CS_MOVE_MOUNT_F_EMPTY_PATH | CS_MOVE_MOUNT_T_EMPTY_PATH);
        int e = errno;
        close(tree);
        errno = e;
    }
    int e = errno;
    close(tfd);
    errno = e;
    return rc;
}

static int net_ready_fd = -1;

static void init_main(struct config *c) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);

    if (unshare(CLONE_NEWNS) != 0) { report("unshare", errno, "mount namespace"); _exit(1); }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) { report("mount", errno, "making / private"); _exit(1); }

    // The mount options must fit in one page. Lower layers usually share a parent (the store's layers/
    // directory): name them relative to it, from there, as containers/storage does.
    size_t common = common_parent_length(&c->lower);
    if (common > 0) {
        char parent[4096];
        snprintf(parent, sizeof parent, "%.*s", (int)common, c->lower.items[0]);
        if (chdir(parent) != 0) common = 0;
    }
    size_t optlen = 80 + strlen(c->upper) + strlen(c->work);
    for (int i = 0; i < c->lower.count; i++) optlen += strlen(c->lower.items[i]) + 1;
    char *opts = malloc(optlen);
    if (!opts) _exit(1);
    char *p = opts;
    p += sprintf(p, "lowerdir=");
    for (int i = 0; i < c->lower.count; i++) p += sprintf(p, "%s%s", i ? ":" : "", c->lower.items[i] + (common ? common + 1 : 0));
    p += sprintf(p, ",upperdir=%s,workdir=%s", c->upper, c->work);
    // Inside a user namespace overlayfs cannot use trusted.* xattrs (opaque dirs, rmdir of a merged dir):
    // userxattr switches it to user.overlay.* (Linux 5.11).
    if (!in_initial_user_namespace()) sprintf(p, ",userxattr");
    if (strlen(opts) >= 4096) {
        report("overlay", E2BIG, "%d lower layers: the overlay mount options exceed a page; keep layers in one directory with short names", c->lower.count);
        _exit(1);
    }
    if (mount("overlay", c->merged, "overlay", 0, opts) != 0) {
        report("overlay", errno, "%s", opts);
        _exit(1);
    }
    free(opts);

    int rootfd = open(c->merged, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) { report("mount", errno, "opening %s", c->merged); _exit(1); }
    char path[4096];
    int made = ensure_dir_at(rootfd, "proc");
    if (made < 0) { report("mount", errno, "/proc in the root filesystem"); _exit(1); }
    snprintf(path, sizeof path, "%s/proc", c->merged);
    // Mounted before pivot_root: the kernel allows a new proc in a user namespace only while a fully visible
    // proc is still in the mount namespace.
    if (mount("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) {
        report("mount", errno, "proc on /proc");
        _exit(1);
    }
    remember(made ? "/proc" : "!/proc", made, 1);
    made = ensure_dir_at(rootfd, "dev");
    if (made < 0) { report("mount", errno, "/dev in the root filesystem"); _exit(1); }
    remember(made ? "/dev" : "!/dev", made, 1);
    if (setup_dev(c->merged) != 0) { report("mount", errno, "minimal /dev"); _exit(1); }

    if (bind_etc_file(rootfd, c->hosts, "hosts") != 0) { report("mount", errno, "/etc/hosts"); _exit(1); }
    if (bind_etc_file(rootfd, c->resolv, "resolv.conf") != 0) { report("mount", errno, "/etc/resolv.conf"); _exit(1); }
    for (int i = 0; i < c->mounts.count; i++) {
        const char *where = "?";
        if (add_mount(rootfd, c->mounts.items[i], &where) != 0) { report("mount", errno, "RUN --mount at %s", where); _exit(1); }
    }
    close(rootfd);

    if (chdir(c->merged) != 0) { report("pivot", errno, "chdir %s", c->merged); _exit(1); }
    // pivot_root(".", "."): the old root ends up stacked on the new one and is detached at once, so no
    // directory has to be created in the image for it (runc does the same).
    if (syscall(SYS_pivot_root, ".", ".") != 0) { report("pivot", errno, "pivot_root"); _exit(1); }
    if (umount2(".", MNT_DETACH) != 0) { report("pivot", errno, "detaching the old root"); _exit(1); }
    if (chdir("/") != 0) { report("pivot", errno, "chdir /"); _exit(1); }

    if (c->hostname && sethostname(c->hostname, strlen(c->hostname)) != 0) { report("mount", errno, "hostname"); _exit(1); }
    if (c->net != NET_HOST && loopback_up() != 0) { report("network", errno, "bringing up lo"); _exit(1); }
    if (c->net == NET_USER) {
        // The caller's user-mode network (tap0, routes, DNS) must be up before the command starts: the
        // supervisor writes one byte here once the caller says so; EOF means it never came up.
        char ready = 0;
        ssize_t n;
        do { n = read(net_ready_fd, &ready, 1); } while (n < 0 && errno == EINTR);
        if (n != 1) _exit(1); // the caller reports why
    }
    if (net_ready_fd >= 0) close(net_ready_fd);

    fcntl(RESULT_FD, F_SETFD, FD_CLOEXEC);
    pid_t child = fork();
    if (child < 0) { report("fork", errno, "command"); _exit(1); }
    if (child == 0) run_command(c);

    int status = 0, child_status = 0;
    for (;;) {
        pid_t w = waitpid(-1, &status, 0);
        if (w == child) { child_status = status; break; }
        if (w < 0 && errno != EINTR) break;
    }
    // The command is done: whatever it left running goes too (kill(-1) from PID 1 reaches the namespace).
    kill(-1, SIGKILL);
    while (waitpid(-1, NULL, 0) > 0 || errno == EINTR) {}

    for (int i = created_count - 1; i >= 0; i--) {
        const char *target = created_paths[i].path[0] == '!' ? created_paths[i].path + 1 : created_paths[i].path;
        int keep = created_paths[i].path[0] == '!';
        if (created_paths[i].is_mount) umount2(target, MNT_DETACH);
        if (keep) continue;
        if (created_paths[i].is_dir) rmdir(target); else unlink(target);
    }

    char line[64];
    int n;
    if (WIFSIGNALED(child_status)) n = snprintf(line, sizeof line, "S %d\n", WTERMSIG(child_status));
    else n = snprintf(line, sizeof line, "X %d\n", WEXITSTATUS(child_status));
    write_all(RESULT_FD, line, (size_t)n);
    _exit(0);
}

// ---------------------------------------------------------------- supervisor

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st; (void)ftw;
    if (type == FTW_DP) rmdir(path); else unlink(path);
    return 0;
}

// Removes upper/<name> when it is an empty directory whose mode and owner equal the topmost lower copy's.
static void drop_unchanged_copy_up(struct config *c, int upperfd, const char *name) {
    struct stat up, low;
    if (fstatat(upperfd, name, &up, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(up.st_mode)) return;
    int found = 0;
    for (int i = 0; i < c->lower.count && !found; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", c->lower.items[i], name);
        if (lstat(path, &low) == 0) found = 1;
    }
    if (!found || !S_ISDIR(low.st_mode) || low.st_mode != up.st_mode || low.st_uid != up.st_uid || low.st_gid != up.st_gid) return;
    unlinkat(upperfd, name, AT_REMOVEDIR); // fails (and keeps it) when the command left anything in it
}

static volatile sig_atomic_t stop_requested = 0;
static void on_stop(int sig) { (void)sig; stop_requested = 1; }

static void container_main(void) {
    struct config c;
    if (parse_config(&c) != 0) { report("config", EINVAL, "unreadable sandbox configuration"); _exit(1); }
    // Docker's (runc's) umask for everything the sandbox and its command create, whatever the caller's is: the
    // same Dockerfile must give the same files to every user. Inherited from the caller, it could even be 0 for a
    // moment (libarchive's disk writer sets umask 0 to read it while another thread unpacks a layer).
    umask(022);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    if (c.userns) {
        int rc = enter_user_namespace(CONTROL_FD);
        if (rc > 0) { report("userns", rc, "unshare(CLONE_NEWUSER)"); _exit(1); }
        if (rc < 0) _exit(1); // the caller could not write the maps and reports why
    }
    int flags = CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | (c.net != NET_HOST ? CLONE_NEWNET : 0);
    if (unshare(flags) != 0) { report("unshare", errno, "pid, ipc, uts%s namespaces", c.net != NET_HOST ? ", net" : ""); _exit(1); }
    // User-mode network: tell the caller the namespace exists ('N'); it starts slirp4netns on our PID and answers
    // 'R' once the interface is configured. init waits for that before it starts the command, so its mounts are
    // set up meanwhile.
    int ready_pipe[2] = {-1, -1};
    if (c.net == NET_USER) {
        if (pipe2(ready_pipe, O_CLOEXEC) != 0) { report("network", errno, "pipe"); _exit(1); }
        write_all(CONTROL_FD, "N", 1);
    }

    // /etc may be copied up only to hold the /etc/hosts and /etc/resolv.conf mount points; remember whether
    // the upper directory had it, to drop an unchanged copy afterwards (it would be a spurious layer entry).
    int upperfd = open(c.upper, O_PATH | O_DIRECTORY | O_CLOEXEC);
    struct stat before;
    int etc_in_upper = upperfd >= 0 && fstatat(upperfd, "etc", &before, AT_SYMLINK_NOFOLLOW) == 0;

    pid_t init = fork();
    if (init < 0) { report("fork", errno, "init"); _exit(1); }
    if (init == 0) {
        close(CONTROL_FD);
        if (ready_pipe[1] >= 0) close(ready_pipe[1]);
        net_ready_fd = ready_pipe[0];
        init_main(&c);
    }
    close(RESULT_FD);
    if (ready_pipe[0] >= 0) close(ready_pipe[0]);

    int pidfd = (int)syscall(SYS_pidfd_open, init, 0);
    int killed = 0;
    struct pollfd p[2] = {{CONTROL_FD, POLLIN, 0}, {pidfd, POLLIN, 0}};
    for (;;) {
        if (stop_requested && !killed) { kill(init, SIGKILL); killed = 1; }
        int r = poll(p, pidfd >= 0 ? 2 : 1, pidfd >= 0 ? -1 : 100);
        if (r < 0 && errno != EINTR) break;
        if (r > 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            char b[64];
            ssize_t n = read(CONTROL_FD, b, sizeof b);
            if (n > 0 && ready_pipe[1] >= 0 && memchr(b, 'R', (size_t)n)) {
                write_all(ready_pipe[1], "R", 1);
                close(ready_pipe[1]);
                ready_pipe[1] = -1;
            }
            if (n <= 0 && !(n < 0 && errno == EINTR)) {
                // The caller closed the control socket (cancel or exit): the run is over.
                if (!killed) { kill(init, SIGKILL); killed = 1; }
                p[0].fd = -1;
            }
        }
        int status;
        pid_t w = waitpid(init, &status, WNOHANG);
        if (w == init) break;
    }
    if (upperfd >= 0 && !etc_in_upper) drop_unchanged_copy_up(&c, upperfd, "etc");
    for (int i = 0; i < c.cleanup.count; i++) {
        nftw(c.cleanup.items[i], remove_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    }
    _exit(0);
}

// ---------------------------------------------------------------- entry

__attribute__((constructor(101)))
static void csandbox_constructor(int argc, char **argv, char **envp) {
    (void)envp;
    const char *mode = getenv(CSANDBOX_MARKER);
    if (!mode) return;
    char saved[32];
    snprintf(saved, sizeof saved, "%s", mode);
    unsetenv(CSANDBOX_MARKER);

    if (!strcmp(saved, "container")) {
        container_main();
    } else if (!strcmp(saved, "userns") || !strcmp(saved, "userns-exec")) {
        int rc = enter_user_namespace(CONTROL_FD);
        if (rc != 0) {
            if (rc > 0) {
                char line[256];
                int n = snprintf(line, sizeof line, "idpbuild: cannot create a user namespace: %s\n", strerror(rc));
                write_all(2, line, (size_t)n);
            }
            _exit(125);
        }
        close(CONTROL_FD);
        // The caller waits for us on a thread that stays blocked until we exit, so the parent-death signal
        // (which follows the spawning thread) is reliable here.
        if (!strcmp(saved, "userns")) { prctl(PR_SET_PDEATHSIG, SIGKILL); return; }
        if (argc < 2) _exit(125);
        execvp(argv[1], &argv[1]);
        char line[4200];
        int n = snprintf(line, sizeof line, "idpbuild: %s: %s\n", argv[1], strerror(errno));
        write_all(2, line, (size_t)n);
        _exit(errno == ENOENT ? 127 : 126);
    } else {
        write_all(2, "idpbuild: unknown sandbox re-exec mode\n", 39);
        _exit(125);
    }
}
