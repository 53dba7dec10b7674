/*
 * sim_proc.c: a process of its own per VM (vm-add "process":true), so that a
 * simulated QEMU can die the way a real one does.  A small child calls
 * listen() on the VM's sockets and hands the fds to the simulator over
 * SCM_RIGHTS; Linux reports the listener's credentials to a client's
 * SO_PEERCRED, so the arbiter's pidfd watches the child.  The simulator
 * still serves every connection; the child only lives, and its death (a
 * `kill` here, or a SIGKILL from outside) is the VM's death.
 * The child must hold no other fd of the simulator: a copy of a client
 * connection would keep it open after the simulator closed it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sim.h"

/* Every fd but 0-2 and keep goes: the child must not pin client sockets. */
static void close_others(int keep)
{
	int max = (int)sysconf(_SC_OPEN_MAX);

#ifdef SYS_close_range
	if (keep > 3 && syscall(SYS_close_range, 3u, (unsigned)keep - 1, 0u) == 0 &&
	    syscall(SYS_close_range, (unsigned)keep + 1, ~0u, 0u) == 0)
		return;
	if (keep == 3 && syscall(SYS_close_range, 4u, ~0u, 0u) == 0)
		return;
#endif
	if (max < 0 || max > 65536)
		max = 65536;
	for (int fd = 3; fd < max; fd++)
		if (fd != keep)
			close(fd);
}

static int child_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	strcpy(sa.sun_path, path);
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

/* The child: listen, send the fds (or an error text), then live until killed
 * or until the simulator goes away (EOF on the pair, or PDEATHSIG). */
static _Noreturn void child_main(int sp, pid_t parent, char **paths, int n)
{
	int fds[SIM_MAX_SOCKS];
	char text[300] = "ok";
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * SIM_MAX_SOCKS)];
	} cm;
	struct iovec iov;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct sigaction sa;
	sigset_t none;
	char b;
	int i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	close_others(sp);
	for (i = 0; i < n; i++) {
		fds[i] = child_listen(paths[i]);
		if (fds[i] < 0) {
			snprintf(text, sizeof(text), "%s: %s", paths[i], strerror(-fds[i]));
			n = i;
			break;
		}
	}
	iov.iov_base = text;
	iov.iov_len = strlen(text);
	if (!strcmp(text, "ok") && n > 0) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n);
		cm.h.cmsg_level = SOL_SOCKET;
		cm.h.cmsg_type = SCM_RIGHTS;
		cm.h.cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
		memcpy(CMSG_DATA(&cm.h), fds, sizeof(int) * (size_t)n);
	}
	if (sendmsg(sp, &mh, MSG_NOSIGNAL) < 0)
		_exit(1);
	for (i = 0; i < n; i++)
		close(fds[i]);
	while (read(sp, &b, 1) != 0)
		if (errno != EINTR)
			break;
	_exit(0);
}

int sim_proc_spawn(struct sim_vm *vm, char **paths, int n, char *err, size_t errlen)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * SIM_MAX_SOCKS)];
	} cm;
	char text[300];
	struct iovec iov = { .iov_base = text, .iov_len = sizeof(text) - 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cm.buf, .msg_controllen = sizeof(cm.buf) };
	struct pollfd pfd;
	pid_t parent = getpid(), pid;
	ssize_t r;
	int sp[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		return -1;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(sp[0]);
		close(sp[1]);
		return -1;
	}
	if (pid == 0)
		child_main(sp[1], parent, paths, n);
	close(sp[1]);
	vm->child_pid = pid;
	vm->child_fd = sp[0];
	pfd = (struct pollfd){ .fd = sp[0], .events = POLLIN };
	if (poll(&pfd, 1, 10000) != 1) {
		snprintf(err, errlen, "listener process %d did not answer", (int)pid);
		goto fail;
	}
	memset(&cm, 0, sizeof(cm));
	r = recvmsg(sp[0], &mh, MSG_CMSG_CLOEXEC);
	if (r <= 0) {
		snprintf(err, errlen, "listener process %d: %s", (int)pid,
			 r < 0 ? strerror(errno) : "exited");
		goto fail;
	}
	text[r] = '\0';
	if (strcmp(text, "ok")) {
		snprintf(err, errlen, "%s", text);
		goto fail;
	}
	{
		struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
		size_t got = h && h->cmsg_type == SCM_RIGHTS ?
			     (h->cmsg_len - CMSG_LEN(0)) / sizeof(int) : 0;

		if (got != (size_t)n || (mh.msg_flags & MSG_CTRUNC)) {
			snprintf(err, errlen, "listener process sent %zu fds, not %d", got, n);
			for (size_t i = 0; i < got; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(int));
				close(fd);
			}
			goto fail;
		}
		for (int i = 0; i < n; i++)
			memcpy(&vm->listen_fd[i], CMSG_DATA(h) + (size_t)i * sizeof(int),
			       sizeof(int));
	}
	return 0;
fail:
	sim_proc_kill(vm);
	return -1;
}

void sim_proc_kill(struct sim_vm *vm)
{
	if (vm->child_pid > 0) {
		kill(vm->child_pid, SIGKILL);
		while (waitpid(vm->child_pid, NULL, 0) < 0 && errno == EINTR)
			;
		sim_logf("%s: listener process %d gone", vm->name, (int)vm->child_pid);
	}
	sim_poll_close(vm->child_fd);
	vm->child_pid = 0;
	vm->child_fd = -1;
}
