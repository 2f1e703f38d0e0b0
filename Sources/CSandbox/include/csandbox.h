// CSandbox: the C that must run before the Swift runtime starts threads, and between clone() and execve().
//
// A process linking this module re-executes itself (/proc/self/exe) with the environment variable
// CSANDBOX_MARKER set; the constructor in csandbox.c sees it before main() and does the namespace work:
//   "container"   fd 3: control socket (config in, user-namespace handshake, lifeline), fd 4: result pipe out.
//                 Never returns to main: it becomes a small supervisor, PID 1 of a new PID namespace, and the
//                 command (execve).
//   "userns"      fd 3: handshake socket. Enters a new user namespace as root and returns to main().
//   "userns-exec" fd 3: handshake socket. Enters a new user namespace as root and execs argv[1...].
// Handshake: the child writes 'U' after unshare(CLONE_NEWUSER); the parent writes the uid/gid maps
// (newuidmap/newgidmap) and answers 'M'.
#ifndef CSANDBOX_H
#define CSANDBOX_H

#include <sys/types.h>

/// Name of the environment variable that carries the re-exec mode.
#define CSANDBOX_MARKER "_IDPBUILD_SANDBOX"

/// Spawns `path` with posix_spawn: child fd i is fds[i] for i < nfds, every other descriptor is closed,
/// signal dispositions and mask are reset, and the child gets its own process group when new_pgroup != 0.
/// Returns 0 and stores the pid, or an errno value.
int csandbox_spawn(const char *path, char *const argv[], char *const envp[],
                   const int *fds, int nfds, int new_pgroup, pid_t *pid_out);

/// Creates a close-on-exec pipe; returns 0 or an errno value.
int csandbox_pipe(int fds[2]);

/// Creates a close-on-exec stream socket pair; returns 0 or an errno value.
int csandbox_socketpair(int fds[2]);

/// Forwards SIGINT, SIGTERM and SIGHUP received by this process to `pid` (used while a re-executed copy runs).
void csandbox_forward_signals(pid_t pid);

/// A pidfd for `pid` (readable once it exits), or -1 where the kernel has none (before Linux 5.3).
int csandbox_pidfd_open(pid_t pid);

/// Waits for `pid`, retrying on EINTR; returns the raw wait status or -1 with errno set.
int csandbox_wait(pid_t pid);

/// Polls `fds` for input with a timeout in milliseconds (-1: forever), retrying on EINTR.
/// `ready` receives poll revents per descriptor. Returns the number ready, 0 on timeout, or -1.
int csandbox_poll_read(const int *fds, short *ready, int nfds, int timeout_ms);

/// True when the wait status is a normal exit (WIFEXITED).
int csandbox_wifexited(int status);
/// The exit code of a wait status (WEXITSTATUS).
int csandbox_wexitstatus(int status);
/// True when the wait status is a termination by signal (WIFSIGNALED).
int csandbox_wifsignaled(int status);
/// The signal of a wait status (WTERMSIG).
int csandbox_wtermsig(int status);

#endif
