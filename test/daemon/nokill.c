/*
 * nokill.c: LD_PRELOAD shim for the daemon lab tests (as sbd's testbed fakes
 * reboots).  Every simulated QEMU is one qmp-sim process, so the daemon's
 * SIGKILL of a stale or unconfirmed side would kill the whole simulator.
 * For the pid in COLO_TEST_NOKILL_PID, kill(2) and pidfd_send_signal(2)
 * only append "kill PID SIG" to COLO_TEST_KILL_LOG and succeed; every other
 * call goes through unchanged.
 * Fault injection: the first COLO_TEST_PIDFD_FAIL (a count) pidfd_open(2)
 * calls fail with EMFILE, as when the daemon runs out of descriptors.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

int kill(pid_t pid, int sig);
long syscall(long n, ...);

static pid_t guarded(void)
{
	const char *s = getenv("COLO_TEST_NOKILL_PID");

	return s ? (pid_t)atoi(s) : 0;
}

static void note(pid_t pid, int sig)
{
	const char *path = getenv("COLO_TEST_KILL_LOG");
	FILE *f = path ? fopen(path, "a") : NULL;

	if (f) {
		fprintf(f, "kill %d %d\n", (int)pid, sig);
		fclose(f);
	}
}

int kill(pid_t pid, int sig)
{
	static int (*real)(pid_t, int);

	if (pid > 0 && pid == guarded() && sig != 0) {
		note(pid, sig);
		return 0;
	}
	if (!real)
		real = (int (*)(pid_t, int))dlsym(RTLD_NEXT, "kill");
	return real(pid, sig);
}

/* pid of a pidfd, from /proc/self/fdinfo */
static pid_t pidfd_pid(int fd)
{
	char path[64], line[128];
	pid_t pid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "Pid:", 4))
			pid = (pid_t)atoi(line + 4);
	fclose(f);
	return pid;
}

long syscall(long n, ...)
{
	static long (*real)(long, ...);
	long a[6];
	va_list ap;

	va_start(ap, n);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (n == SYS_pidfd_open && getenv("COLO_TEST_PIDFD_FAIL")) {
		static int failed;

		if (failed < atoi(getenv("COLO_TEST_PIDFD_FAIL"))) {
			failed++;
			errno = EMFILE;
			return -1;
		}
	}
	if (n == SYS_pidfd_send_signal && guarded() && pidfd_pid((int)a[0]) == guarded()) {
		note(guarded(), (int)a[1]);
		return 0;
	}
	if (!real)
		real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
	return real(n, a[0], a[1], a[2], a[3], a[4], a[5]);
}
