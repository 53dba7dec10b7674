/*
 * daemon_notify.c: the systemd notify protocol, without libsystemd.
 *
 * sd_notify is one datagram to $NOTIFY_SOCKET ("@name" = abstract): READY=1,
 * WATCHDOG=1, STOPPING=1, and FDSTORE=1/FDSTOREREMOVE=1 with FDNAME= and the
 * fd as SCM_RIGHTS, so OOB-negotiated QMP fds outlive a daemon restart
 * (SAFETY H5).  Stored fds come back as LISTEN_FDS/LISTEN_FDNAMES (names =
 * VM names).  The watchdog is petted only while the fsm's gate is open
 * (SAFETY A4): a stuck or cut-off node lets systemd act.
 * Never blocks (MSG_DONTWAIT); does nothing when not run by systemd.
 */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <qb/qblog.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define LISTEN_FDS_START 3
#define LISTEN_MAX 256

static int listen_n = -1;       /* -1: not parsed yet */
static int listen_used[LISTEN_MAX];
static char *listen_names[LISTEN_MAX];

static int notify_send(const char *state, int fd)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct iovec iov = { .iov_base = (void *)state, .iov_len = strlen(state) };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct msghdr mh = { .msg_name = &sa, .msg_iov = &iov, .msg_iovlen = 1 };
	socklen_t salen;
	int s, rc = 0;

	if (!path || !*path)
		return 0;
	if ((path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(sa.sun_path))
		return -EINVAL;
	memcpy(sa.sun_path, path, strlen(path));
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	mh.msg_namelen = salen;
	if (fd >= 0) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		cm.h.cmsg_level = SOL_SOCKET;
		cm.h.cmsg_type = SCM_RIGHTS;
		cm.h.cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(&cm.h), &fd, sizeof(int));
	}
	s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (sendmsg(s, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		rc = -errno;
	close(s);
	return rc;
}

static void watchdog_pet(void *data)
{
	struct daemon *d = data;

	/* A4: only a loop that runs and whose gate is open pets */
	if (d->fsm && fsm_gate_open(d->fsm))
		notify_send("WATCHDOG=1", -1);
	qb_loop_timer_add(d->loop, QB_LOOP_HIGH, d->watchdog_usec / 3 * QB_TIME_NS_IN_USEC, d,
			  watchdog_pet, &d->wd_timer);
}

void daemon_notify_init(struct daemon *d)
{
	const char *wu = getenv("WATCHDOG_USEC"), *wp = getenv("WATCHDOG_PID");

	d->notify = getenv("NOTIFY_SOCKET") != NULL;
	if (wu && (!wp || atoi(wp) == (int)getpid()))
		d->watchdog_usec = strtoull(wu, NULL, 10);
	if (d->notify && d->watchdog_usec >= 3000) {
		qb_loop_timer_add(d->loop, QB_LOOP_HIGH, d->watchdog_usec / 3 * QB_TIME_NS_IN_USEC,
				  d, watchdog_pet, &d->wd_timer);
		qb_log(LOG_INFO, "systemd watchdog every %llu us, petted while the gate is open",
		       (unsigned long long)d->watchdog_usec);
	}
}

int daemon_notify(struct daemon *d, const char *state)
{
	int rc;

	if (!d->notify)
		return 0;
	rc = notify_send(state, -1);
	if (rc)
		qb_log(LOG_WARNING, "sd_notify %s: %s", state, strerror(-rc));
	return rc;
}

int daemon_notify_fdstore(struct daemon *d, const char *name, int fd)
{
	char msg[FSM_NAME_MAX + 64];
	int rc;

	snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=%s", name);
	rc = notify_send(msg, fd);
	qb_log(rc ? LOG_WARNING : LOG_INFO, "vm=%s: QMP fd %d %s systemd's fd store%s%s", name,
	       fd, rc ? "not put into" : "put into", rc ? ": " : "", rc ? strerror(-rc) : "");
	return rc;
}

int daemon_notify_fdremove(struct daemon *d, const char *name)
{
	char msg[FSM_NAME_MAX + 64];

	if (!d->notify)
		return 0;
	snprintf(msg, sizeof(msg), "FDSTOREREMOVE=1\nFDNAME=%s", name);
	return notify_send(msg, -1);
}

static void listen_parse(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	const char *names = getenv("LISTEN_FDNAMES");
	int n;

	listen_n = 0;
	if (!pid || !fds || atoi(pid) != (int)getpid())
		return;
	n = atoi(fds);
	if (n <= 0)
		return;
	if (n > LISTEN_MAX)
		n = LISTEN_MAX;
	listen_n = n;
	for (int i = 0; i < n; i++) {
		const char *colon = names ? strchr(names, ':') : NULL;
		size_t l = names ? (colon ? (size_t)(colon - names) : strlen(names)) : 0;

		listen_names[i] = names ? strndup(names, l) : NULL;
		names = colon ? colon + 1 : NULL;
		fcntl(LISTEN_FDS_START + i, F_SETFD, FD_CLOEXEC);
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
}

int daemon_notify_take_fd(const char *name)
{
	if (listen_n < 0)
		listen_parse();
	for (int i = 0; i < listen_n; i++)
		if (!listen_used[i] && listen_names[i] && !strcmp(listen_names[i], name)) {
			listen_used[i] = 1;
			return LISTEN_FDS_START + i;
		}
	return -1;
}

/* Stored fds of VMs that are no longer configured: let them go. */
void daemon_notify_close_unused(void)
{
	if (listen_n < 0)
		listen_parse();
	for (int i = 0; i < listen_n; i++) {
		if (!listen_used[i]) {
			qb_log(LOG_NOTICE, "stored fd %d (%s) belongs to no VM: closed",
			       LISTEN_FDS_START + i, listen_names[i] ? listen_names[i] : "?");
			close(LISTEN_FDS_START + i);
			listen_used[i] = 1;
		}
		free(listen_names[i]);
		listen_names[i] = NULL;
	}
}
