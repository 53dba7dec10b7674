/*
 * simtest.c: process and socket helpers for the qmp-sim tests (see
 * simtest.h). Every simulator started here is stopped by simtest_stop() or,
 * if a test dies on an assertion, by the atexit/alarm handlers.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "simtest.h"

static struct simtest_sim *live_sims[16];

long long simtest_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void simtest_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[512];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static void emergency_cleanup(void)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(live_sims); i++) {
		struct simtest_sim *s = live_sims[i];

		if (!s)
			continue;
		if (s->pid > 0) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, NULL, 0);
		}
		rm_dir(s->dir);
		live_sims[i] = NULL;
	}
}

/* also on SIGTERM/SIGINT (make check interrupted, timeout(1)) */
static void on_alarm(int sig)
{
	static const char msg[] = "Bail out! test timed out or was stopped\n";

	(void)sig;
	if (write(1, msg, sizeof(msg) - 1) < 0) {
		/* nothing more to do */
	}
	emergency_cleanup();
	_exit(1);
}

void simtest_path(const struct simtest_sim *s, const char *name, char *out,
		  size_t outlen)
{
	snprintf(out, outlen, "%s/%s", s->dir, name);
}

int simtest_start(struct simtest_sim *s)
{
	static bool hooks;
	const char *bin = getenv("QMP_SIM");
	int pfd[2];
	char buf[64];
	size_t i;
	ssize_t n;

	memset(s, 0, sizeof(*s));
	s->ctl_fd = -1;
	if (!hooks) {
		atexit(emergency_cleanup);
		signal(SIGALRM, on_alarm);
		signal(SIGTERM, on_alarm);
		signal(SIGINT, on_alarm);
		signal(SIGHUP, on_alarm);
		signal(SIGPIPE, SIG_IGN);
		hooks = true;
	}
	if (!bin) {
		fprintf(stderr, "# QMP_SIM is not set\n");
		return -1;
	}
	snprintf(s->dir, sizeof(s->dir), "/tmp/qmpsim-XXXXXX");
	if (!mkdtemp(s->dir))
		return -1;
	simtest_path(s, "ctl", s->ctl_path, sizeof(s->ctl_path));
	if (pipe(pfd) < 0)
		return -1;
	s->pid = fork();
	if (s->pid < 0)
		return -1;
	if (s->pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execl(bin, bin, "--control", s->ctl_path, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	for (i = 0; i < ARRAY_SIZE(live_sims); i++)
		if (!live_sims[i]) {
			live_sims[i] = s;
			break;
		}
	n = read(pfd[0], buf, sizeof(buf) - 1);
	close(pfd[0]);
	if (n < 5 || strncmp(buf, "READY", 5)) {
		fprintf(stderr, "# simulator did not say READY\n");
		return -1;
	}
	{
		struct sockaddr_un sa;

		s->ctl_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		memset(&sa, 0, sizeof(sa));
		sa.sun_family = AF_UNIX;
		if (strlen(s->ctl_path) >= sizeof(sa.sun_path))
			return -1;
		memcpy(sa.sun_path, s->ctl_path, strlen(s->ctl_path) + 1);
		if (connect(s->ctl_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			return -1;
	}
	return 0;
}

int simtest_stop(struct simtest_sim *s)
{
	long long end;
	int status = -1, rc = -1;
	size_t i;

	if (s->ctl_fd >= 0) {
		json_t *r = simtest_ctl(s, "{\"cmd\":\"exit\"}");

		json_decref(r);
		close(s->ctl_fd);
		s->ctl_fd = -1;
	}
	end = simtest_now_ms() + 5000;
	while (s->pid > 0 && simtest_now_ms() < end) {
		pid_t w = waitpid(s->pid, &status, WNOHANG);

		if (w == s->pid) {
			s->pid = 0;
			rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
			break;
		}
		simtest_sleep_ms(10);
	}
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
		rc = -1;
	}
	rm_dir(s->dir);
	for (i = 0; i < ARRAY_SIZE(live_sims); i++)
		if (live_sims[i] == s)
			live_sims[i] = NULL;
	return rc;
}

json_t *simtest_ctl(struct simtest_sim *s, const char *line)
{
	long long end = simtest_now_ms() + 5000;
	size_t len = strlen(line);

	if (write(s->ctl_fd, line, len) != (ssize_t)len ||
	    write(s->ctl_fd, "\n", 1) != 1)
		return NULL;
	for (;;) {
		char *nl = memchr(s->rbuf, '\n', s->rlen);
		struct pollfd p = { .fd = s->ctl_fd, .events = POLLIN };
		long long left;
		ssize_t n;

		if (nl) {
			json_t *r;

			*nl = '\0';
			r = json_loads(s->rbuf, 0, NULL);
			memmove(s->rbuf, nl + 1, s->rlen - (size_t)(nl + 1 - s->rbuf));
			s->rlen -= (size_t)(nl + 1 - s->rbuf);
			return r;
		}
		left = end - simtest_now_ms();
		if (left <= 0 || s->rlen == sizeof(s->rbuf))
			return NULL;
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		n = read(s->ctl_fd, s->rbuf + s->rlen, sizeof(s->rbuf) - s->rlen);
		if (n <= 0)
			return NULL;
		s->rlen += (size_t)n;
	}
}

json_t *simtest_ctlf(struct simtest_sim *s, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return simtest_ctl(s, buf);
}

bool simtest_ctl_ok(struct simtest_sim *s, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	json_t *r;
	bool ok;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	r = simtest_ctl(s, buf);
	ok = json_is_true(json_object_get(r, "ok"));
	if (!ok) {
		char *d = r ? json_dumps(r, 0) : NULL;

		printf("# control %s -> %s\n", buf, d ? d : "(no reply)");
		free(d);
	}
	json_decref(r);
	return ok;
}

int simtest_connect(struct simtest_conn *c, const char *path)
{
	struct sockaddr_un sa;

	memset(c, 0, sizeof(*c));
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	return 0;
}

void simtest_close(struct simtest_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
	c->len = c->cap = 0;
}

int simtest_send(struct simtest_conn *c, const char *text)
{
	size_t len = strlen(text), off = 0;
	char *buf = malloc(len + 1);
	int rc = 0;

	if (!buf)
		return -1;
	/* one write: a peer that closes after the command must not see half */
	memcpy(buf, text, len);
	buf[len++] = '\n';
	while (off < len) {
		ssize_t n = write(c->fd, buf + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = -1;
			break;
		}
		off += (size_t)n;
	}
	free(buf);
	return rc;
}

int simtest_read_line(struct simtest_conn *c, int timeout_ms, char **line)
{
	long long end = simtest_now_ms() + timeout_ms;

	for (;;) {
		char *nl = c->buf ? memchr(c->buf, '\n', c->len) : NULL;
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		long long left;
		ssize_t n;

		if (nl) {
			size_t l = (size_t)(nl - c->buf);
			char *out = malloc(l + 1);

			if (!out)
				return -1;
			memcpy(out, c->buf, l);
			if (l && out[l - 1] == '\r')
				l--;
			out[l] = '\0';
			memmove(c->buf, nl + 1, c->len - (size_t)(nl + 1 - c->buf));
			c->len -= (size_t)(nl + 1 - c->buf);
			*line = out;
			return 1;
		}
		if (c->eof || c->fd < 0)
			return -1;
		left = end - simtest_now_ms();
		if (left < 0)
			return 0;
		if (poll(&p, 1, (int)left) <= 0) {
			if (simtest_now_ms() >= end)
				return 0;
			continue;
		}
		if (c->len + 65536 > c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 65536 * 2;
			char *nb = realloc(c->buf, cap);

			if (!nb)
				return -1;
			c->buf = nb;
			c->cap = cap;
		}
		n = read(c->fd, c->buf + c->len, 65536);
		if (n <= 0) {
			c->eof = true;
			continue;
		}
		c->len += (size_t)n;
	}
}

bool simtest_wait_eof(struct simtest_conn *c, int timeout_ms)
{
	long long end = simtest_now_ms() + timeout_ms;

	while (!c->eof && simtest_now_ms() < end) {
		char *line;
		int r = simtest_read_line(c, (int)(end - simtest_now_ms()), &line);

		if (r == 1)
			free(line);
		else if (r < 0)
			return true;
	}
	return c->eof;
}
