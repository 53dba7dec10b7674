/*
 * fakesd.c: the part of systemd a colo-arbiterd restart test needs, nothing
 * more.  Runs one service command with NOTIFY_SOCKET set, receives its
 * sd_notify datagrams (READY=1, WATCHDOG=1, STOPPING=1, STATUS=...), keeps
 * the fds it hands over with FDSTORE=1 by FDNAME (a new fd of the same name
 * replaces the old one; FDSTOREREMOVE=1 closes them), and on request
 * restarts the service passing the stored fds as LISTEN_FDS/LISTEN_FDNAMES
 * from fd 3 with LISTEN_PID = the new service pid, as systemd does for a
 * service with FileDescriptorStoreMax= after a crash.
 *
 *   fakesd --socket PATH --log FILE [--watchdog-usec N] -- CMD [ARG...]
 *
 * SIGHUP: SIGKILL the service (a crash) and start it again with the fds.
 * SIGUSR1: SIGTERM the service, wait for it, start it again with the fds.
 * SIGTERM/SIGINT: SIGTERM the service (SIGKILL after 5 s), exit 0.
 * The log has one line per fact: "start PID fds N names A:B", "exit PID
 * STATUS", "notify READY=1 ...", "stored NAME", "removed NAME".  Tests
 * track each service PID from it.  The service gets PR_SET_PDEATHSIG
 * SIGKILL: it never outlives fakesd.  Test tool: no daemon code linked.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_STORED 64
#define MAX_RECV_FDS 16

static struct {
	char *name;
	int fd;
} stored[MAX_STORED];
static int n_stored;
static FILE *logf_;
static pid_t svc;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	struct timespec ts;
	va_list ap;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	fprintf(logf_, "%lld.%06ld ", (long long)ts.tv_sec, ts.tv_nsec / 1000);
	va_start(ap, fmt);
	vfprintf(logf_, fmt, ap);
	va_end(ap);
	fputc('\n', logf_);
	fflush(logf_);
}

static void store_remove(const char *name)
{
	for (int i = 0; i < n_stored;) {
		if (!strcmp(stored[i].name, name)) {
			close(stored[i].fd);
			free(stored[i].name);
			stored[i] = stored[--n_stored];
			say("removed %s", name);
		} else {
			i++;
		}
	}
}

static void store_add(const char *name, int fd)
{
	store_remove(name);
	if (n_stored == MAX_STORED) {
		say("store full: %s dropped", name);
		close(fd);
		return;
	}
	stored[n_stored].name = strdup(name);
	stored[n_stored].fd = fd;
	n_stored++;
	say("stored %s", name);
}

/* The child side of a start: fds to 3.., LISTEN_* set, exec. */
static _Noreturn void exec_service(char **argv)
{
	char buf[32], names[4096] = "";
	int tmp[MAX_STORED];
	sigset_t none;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* above every target first, so no dup2 overwrites a source */
	for (int i = 0; i < n_stored; i++)
		tmp[i] = fcntl(stored[i].fd, F_DUPFD_CLOEXEC, 3 + n_stored);
	for (int i = 0; i < n_stored; i++) {
		if (tmp[i] < 0 || dup2(tmp[i], 3 + i) < 0)
			_exit(126);
		if (i)
			strncat(names, ":", sizeof(names) - strlen(names) - 1);
		strncat(names, stored[i].name, sizeof(names) - strlen(names) - 1);
	}
	if (n_stored) {
		snprintf(buf, sizeof(buf), "%d", (int)getpid());
		setenv("LISTEN_PID", buf, 1);
		snprintf(buf, sizeof(buf), "%d", n_stored);
		setenv("LISTEN_FDS", buf, 1);
		setenv("LISTEN_FDNAMES", names, 1);
	} else {
		unsetenv("LISTEN_PID");
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_FDNAMES");
	}
	execvp(argv[0], argv);
	_exit(127);
}

static void start(char **argv)
{
	char names[4096] = "";

	for (int i = 0; i < n_stored; i++) {
		if (i)
			strncat(names, ":", sizeof(names) - strlen(names) - 1);
		strncat(names, stored[i].name, sizeof(names) - strlen(names) - 1);
	}
	fflush(NULL);
	svc = fork();
	if (svc < 0) {
		say("fork: %s", strerror(errno));
		svc = 0;
		return;
	}
	if (svc == 0)
		exec_service(argv);
	say("start %d fds %d names %s", (int)svc, n_stored, n_stored ? names : "-");
}

/* Waits for the service after sig; SIGKILL if it is still there after 5 s. */
static void stop(int sig)
{
	int st;

	if (svc <= 0)
		return;
	kill(svc, sig);
	for (int i = 0; i < 500; i++) {
		if (waitpid(svc, &st, WNOHANG) == svc)
			goto gone;
		usleep(10000);
	}
	kill(svc, SIGKILL);
	waitpid(svc, &st, 0);
gone:
	say("exit %d %s %d", (int)svc, WIFSIGNALED(st) ? "signal" : "status",
	     WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
	svc = 0;
}

static void on_datagram(int s)
{
	char buf[4096], *line, *save = NULL, name[256] = "stored";
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int) * MAX_RECV_FDS)];
	} cm;
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) - 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.b,
			     .msg_controllen = sizeof(cm.b) };
	int fds[MAX_RECV_FDS], nfds = 0;
	bool fdstore = false, fdremove = false;
	ssize_t n;

	n = recvmsg(s, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0)
		return;
	buf[n] = '\0';
	for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h; h = CMSG_NXTHDR(&mh, h)) {
		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (h->cmsg_len - CMSG_LEN(0)) / sizeof(int) &&
				   nfds < MAX_RECV_FDS; i++)
			memcpy(&fds[nfds++], CMSG_DATA(h) + i * sizeof(int), sizeof(int));
	}
	{
		char flat[4096];

		snprintf(flat, sizeof(flat), "%s", buf);
		for (char *p = flat; *p; p++)
			if (*p == '\n')
				*p = ' ';
		say("notify %s (%d fds)", flat, nfds);
	}
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strcmp(line, "FDSTORE=1"))
			fdstore = true;
		else if (!strcmp(line, "FDSTOREREMOVE=1"))
			fdremove = true;
		else if (!strncmp(line, "FDNAME=", 7))
			snprintf(name, sizeof(name), "%s", line + 7);
	}
	if (fdremove)
		store_remove(name);
	for (int i = 0; i < nfds; i++) {
		if (fdstore && !fdremove)
			store_add(name, fds[i]);
		else
			close(fds[i]);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "log", required_argument, NULL, 'l' },
		{ "watchdog-usec", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL, *logpath = NULL, *wd = NULL;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct pollfd pfd[2];
	sigset_t set;
	int s, sfd, opt;

	while ((opt = getopt_long(argc, argv, "+s:l:w:", opts, NULL)) != -1) {
		if (opt == 's')
			path = optarg;
		else if (opt == 'l')
			logpath = optarg;
		else if (opt == 'w')
			wd = optarg;
		else
			return 2;
	}
	if (!path || !logpath || optind >= argc || strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: fakesd --socket PATH --log FILE [--watchdog-usec N] -- CMD...\n");
		return 2;
	}
	logf_ = fopen(logpath, "a");
	if (!logf_) {
		perror(logpath);
		return 1;
	}
	s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	strcpy(sa.sun_path, path);
	unlink(path);
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror(path);
		return 1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0) {
		perror("signalfd");
		return 1;
	}
	setenv("NOTIFY_SOCKET", path, 1);
	if (wd) {
		setenv("WATCHDOG_USEC", wd, 1);
		unsetenv("WATCHDOG_PID");
	}
	start(argv + optind);
	pfd[0] = (struct pollfd){ .fd = s, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	for (;;) {
		struct signalfd_siginfo si;

		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		/* datagrams first: a FDSTORE sent just before a crash still counts */
		if (pfd[0].revents & POLLIN)
			on_datagram(s);
		if (!(pfd[1].revents & POLLIN) || read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		while (poll(pfd, 1, 0) == 1 && (pfd[0].revents & POLLIN))
			on_datagram(s);
		switch (si.ssi_signo) {
		case SIGHUP:
			stop(SIGKILL);
			start(argv + optind);
			break;
		case SIGUSR1:
			stop(SIGTERM);
			start(argv + optind);
			break;
		case SIGCHLD: {
			int st;
			pid_t p;

			while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
				say("exit %d %s %d", (int)p, WIFSIGNALED(st) ? "signal" : "status",
				     WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
				if (p == svc)
					svc = 0;
			}
			break;
		}
		default: /* SIGTERM, SIGINT */
			stop(SIGTERM);
			while (n_stored)
				store_remove(stored[0].name);
			close(s);
			unlink(path);
			say("exit fakesd");
			return 0;
		}
	}
	return 1;
}
