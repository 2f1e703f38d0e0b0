// Process plumbing called from Swift: posix_spawn with an exact descriptor table, pipes, waits, signals.
// Swift never forks: fork() in a multithreaded process is only safe for async-signal-safe code.
#define _GNU_SOURCE
#include "csandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int csandbox_spawn(const char *path, char *const argv[], char *const envp[],
                   const int *fds, int nfds, int new_pgroup, pid_t *pid_out) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    int rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0) return rc;
    rc = posix_spawnattr_init(&attr);
    if (rc != 0) { posix_spawn_file_actions_destroy(&actions); return rc; }

    // Sources may collide with targets (fds[2] == 1, say): move every source above the target range
    // first, then place them. dup2 clears close-on-exec on the target.
    int base = nfds;
    for (int i = 0; i < nfds; i++) if (fds[i] >= base) base = fds[i] + 1;
    for (int i = 0; i < nfds && rc == 0; i++) {
        rc = posix_spawn_file_actions_adddup2(&actions, fds[i], base + i);
    }
    for (int i = 0; i < nfds && rc == 0; i++) {
        rc = posix_spawn_file_actions_adddup2(&actions, base + i, i);
    }
    if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&actions, nfds);

    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    short flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
    if (new_pgroup) flags |= POSIX_SPAWN_SETPGROUP;
    if (rc == 0) rc = posix_spawnattr_setflags(&attr, flags);
    if (rc == 0) rc = posix_spawnattr_setsigdefault(&attr, &all);
    if (rc == 0) rc = posix_spawnattr_setsigmask(&attr, &none);
    if (rc == 0 && new_pgroup) rc = posix_spawnattr_setpgroup(&attr, 0);
    if (rc == 0) rc = posix_spawn(pid_out, path, &actions, &attr, argv, envp);

    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    return rc;
}

int csandbox_pidfd_open(pid_t pid) {
    return (int)syscall(434 /* SYS_pidfd_open */, pid, 0);
}

int csandbox_pipe(int fds[2]) {
    return pipe2(fds, O_CLOEXEC) == 0 ? 0 : errno;
}

int csandbox_socketpair(int fds[2]) {
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0 ? 0 : errno;
}

static volatile sig_atomic_t forward_target = 0;

static void forward_handler(int sig) {
    if (forward_target > 0) kill((pid_t)forward_target, sig);
}

void csandbox_forward_signals(pid_t pid) {
    forward_target = pid;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward_handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

int csandbox_wait(pid_t pid) {
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, 0);
        if (r == pid) return status;
        if (r < 0 && errno == EINTR) continue;
        return -1;
    }
}

int csandbox_poll_read(const int *fds, short *ready, int nfds, int timeout_ms) {
    struct pollfd p[16];
    if (nfds > 16) { errno = EINVAL; return -1; }
    for (int i = 0; i < nfds; i++) { p[i].fd = fds[i]; p[i].events = POLLIN; p[i].revents = 0; }
    for (;;) {
        int r = poll(p, (nfds_t)nfds, timeout_ms);
        if (r < 0 && errno == EINTR) continue;
        if (r >= 0) for (int i = 0; i < nfds; i++) ready[i] = p[i].revents;
        return r;
    }
}

int csandbox_wifexited(int status) { return WIFEXITED(status); }
int csandbox_wexitstatus(int status) { return WEXITSTATUS(status); }
int csandbox_wifsignaled(int status) { return WIFSIGNALED(status); }
int csandbox_wtermsig(int status) { return WTERMSIG(status); }
