/*
 * main.c: colo-arbiterd, the COLO failover arbiter daemon.
 *
 * The one file that sees every module: parses the command line, loads the
 * config and the VM files, daemonizes with a locked pidfile, sets up
 * logging, signals, the corosync membership, the control socket and the
 * systemd notify protocol on one qb_loop, runs it, and frees everything on
 * SIGTERM.  The only file that exits.  Decisions are the fsm's
 * (daemon_core.c carries them out).
 */
#include "daemon.h"
#include "daemon_control.h"
#include "daemon_worker.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <qb/qblog.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_CONFIG "/etc/colo-arbiter/colo-arbiter.conf"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: colo-arbiterd [OPTIONS]\n"
		"  -c, --config PATH   config file (default " DEFAULT_CONFIG ")\n"
		"  -f, --foreground    do not daemonize; log to stderr\n"
		"  -p, --pidfile PATH  write and lock a pidfile\n"
		"      --check-config  print the effective config and VM files, then exit\n"
		"  -h, --help          this text\n"
		"  -V, --version       print the version\n");
}

static int check_config(const char *path)
{
	struct arb_config c;
	struct config_error err;
	struct daemon d;
	char *text;
	int bad = 0;

	memset(&err, 0, sizeof(err));
	if (daemon_load_config(path, &c, &err)) {
		char buf[700];

		config_error_format(&err, buf, sizeof(buf));
		fprintf(stderr, "%s\n", buf);
		return 1;
	}
	text = config_print(&c);
	if (!text)
		return 1;
	fputs(text, stdout);
	free(text);
	/* the VM files: the same parser as the daemon, output in canonical form */
	memset(&d, 0, sizeof(d));
	d.cfg = c;
	d.audit_fd = -1;
	qb_log_init("colo-arbiterd", LOG_DAEMON, LOG_ERR);
	qb_log_ctl(QB_LOG_SYSLOG, QB_LOG_CONF_ENABLED, QB_FALSE);
	qb_log_ctl(QB_LOG_STDERR, QB_LOG_CONF_ENABLED, QB_TRUE);
	qb_log_format_set(QB_LOG_STDERR, "%b");
	qb_log_filter_ctl(QB_LOG_STDERR, QB_LOG_FILTER_ADD, QB_LOG_FILTER_FILE, "*", LOG_ERR);
	if (daemon_registry_load(&d, false))
		bad = 1;
	for (struct daemon_vm *v = d.vms; v; v = v->next) {
		char *t = config_vm_print(&v->cfg);

		printf("\n# vm %s (%s)\n%s", v->cfg.name, v->runtime ? "run time" : "vm_dir",
		       t ? t : "");
		free(t);
	}
	daemon_vm_free_all(&d);
	qb_log_fini();
	return bad;
}

static int pidfile_lock(const char *path)
{
	char buf[32];
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

	if (fd < 0)
		return -errno;
	if (fcntl(fd, F_SETLK, &fl)) {
		int e = errno;

		close(fd);
		return e == EACCES || e == EAGAIN ? -EALREADY : -e;
	}
	snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) || write(fd, buf, strlen(buf)) != (ssize_t)strlen(buf)) {
		close(fd);
		return -EIO;
	}
	return fd; /* kept open: the lock lives as long as the process */
}

static int daemonize(void)
{
	pid_t p = fork();
	int fd;

	if (p < 0)
		return -errno;
	if (p > 0)
		_exit(0);
	if (setsid() < 0)
		return -errno;
	p = fork();
	if (p < 0)
		return -errno;
	if (p > 0)
		_exit(0);
	if (chdir("/"))
		return -errno;
	umask(027);
	fd = open("/dev/null", O_RDWR);
	if (fd < 0)
		return -errno;
	dup2(fd, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	if (fd > 2)
		close(fd);
	return 0;
}

/* Each VM holds a QMP socket and a pidfd: a few hundred VMs pass the usual
 * soft limit of 1024 descriptors long before the hard one. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			qb_log(LOG_WARNING, "cannot raise the descriptor limit: %s",
			       strerror(errno));
	}
}

static int32_t on_signal(int32_t sig, void *data)
{
	struct daemon *d = data;

	switch (sig) {
	case SIGTERM:
	case SIGINT:
		qb_log(LOG_NOTICE, "node=%u: %s: shutting down", d->nodeid, strsignal(sig));
		d->stopping = true;
		daemon_notify(d, "STOPPING=1");
		qb_loop_stop(d->loop);
		break;
	case SIGHUP: {
		struct arb_config c;
		struct config_error err;

		qb_log(LOG_NOTICE, "node=%u: SIGHUP: reloading %s", d->nodeid, d->config_path);
		memset(&err, 0, sizeof(err));
		if (daemon_load_config(d->config_path, &c, &err)) {
			char buf[700];

			config_error_format(&err, buf, sizeof(buf));
			qb_log(LOG_ERR, "%s: reload refused", buf);
			break;
		}
		/* only what can change under a running fsm: the rest needs a restart */
		if (strcmp(c.log_level, d->cfg.log_level)) {
			memcpy(d->cfg.log_level, c.log_level, sizeof(c.log_level));
			daemon_log_set_level(d);
			qb_log(LOG_NOTICE, "log level now %s", d->cfg.log_level);
		}
		daemon_registry_load(d, true);
		daemon_status_changed(d);
		break;
	}
	case SIGUSR2: {
		char path[ARB_PATH_MAX + 32];

		snprintf(path, sizeof(path), "%s/blackbox", d->cfg.run_dir);
		qb_log_blackbox_write_to_file(path);
		qb_log(LOG_NOTICE, "blackbox written to %s", path);
		break;
	}
	default:
		break;
	}
	return 0;
}

static void on_ready(void *data)
{
	struct daemon *d = data;

	if (!d->ready_sent) {
		daemon_notify(d, "READY=1\nSTATUS=waiting for corosync");
		d->ready_sent = true;
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon *d;
	struct config_error err;
	struct membership_config mc = { 0 };
	const char *config = DEFAULT_CONFIG, *pidfile = NULL;
	bool check = false, fg = false;
	qb_loop_signal_handle sh[5];
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR2 };
	qb_loop_timer_handle ready_timer;
	int c, pid_fd = -1, rc = 1;

	while ((c = getopt_long(argc, argv, "c:fp:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'f':
			fg = true;
			break;
		case 'p':
			pidfile = optarg;
			break;
		case 'C':
			check = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("colo-arbiterd %s\n", COLO_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (check)
		return check_config(config);

	daemon_mem_init();
	d = calloc(1, sizeof(*d));
	if (!d)
		return 1;
	d->audit_fd = -1;
	d->wdog_fd = -1;
	d->config_path = config;
	d->foreground = fg;
	memset(&err, 0, sizeof(err));
	if (daemon_load_config(config, &d->cfg, &err)) {
		char buf[700];

		config_error_format(&err, buf, sizeof(buf));
		fprintf(stderr, "colo-arbiterd: %s\n", buf);
		free(d);
		return 1;
	}
	if (!fg && daemonize()) {
		fprintf(stderr, "colo-arbiterd: cannot daemonize: %s\n", strerror(errno));
		free(d);
		return 1;
	}
	if (pidfile) {
		pid_fd = pidfile_lock(pidfile);
		if (pid_fd < 0) {
			fprintf(stderr, "colo-arbiterd: pidfile %s: %s\n", pidfile,
				pid_fd == -EALREADY ? "locked: another colo-arbiterd runs" :
				strerror(-pid_fd));
			free(d);
			return 1;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	d->loop = qb_loop_create();
	if (!d->loop)
		goto out;
	d->hub_qmp = fdhub_new(d->loop, QB_LOOP_MED);
	d->hub_pidfd = fdhub_new(d->loop, QB_LOOP_HIGH);
	d->timers_fsm = timerhub_new(d->loop, QB_LOOP_HIGH);
	d->timers_qmp = timerhub_new(d->loop, QB_LOOP_MED);
	if (!d->hub_qmp || !d->hub_pidfd || !d->timers_fsm || !d->timers_qmp)
		goto out;
	daemon_log_init(d);
	qb_log(LOG_NOTICE, "colo-arbiterd %s starting (config %s, pid %d)", COLO_VERSION,
	       config, (int)getpid());
	d->qmp_first_id = (uint64_t)daemon_wall_ms() * 1000;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		qb_loop_signal_add(d->loop, QB_LOOP_HIGH, sigs[i], d, on_signal, &sh[i]);
	raise_nofile();
	daemon_audit_open(d);
	/* before anything can persist: file I/O never runs in the loop */
	d->worker = daemon_worker_start(d->loop);
	if (!d->worker)
		qb_log(LOG_ERR, "cannot start the I/O worker thread (%s): records are written "
		       "in the loop", strerror(errno));
	daemon_sched_apply(d);
	if (daemon_watchdog_open(d))
		goto out;
	if (daemon_registry_load(d, false))
		qb_log(LOG_ERR, "some VM files were refused (see above); the others are used");
	mc.group = d->cfg.cpg_group;
	d->mem = membership_new(d->loop, &mc, daemon_membership_event, d);
	if (!d->mem || membership_start(d->mem)) {
		qb_log(LOG_CRIT, "cannot set up the corosync membership");
		goto out;
	}
	d->control = daemon_control_start(d);
	daemon_notify_init(d);
	qb_loop_timer_add(d->loop, QB_LOOP_LOW, 0, d, on_ready, &ready_timer);
	qb_loop_run(d->loop);
	rc = d->fsm_failed ? 1 : d->exit_code;
	d->stopping = true;
	daemon_notify(d, "STOPPING=1");
	qb_log(LOG_NOTICE, "node=%u: stopped", d->nodeid);
out:
	daemon_log_stderr_immediate(); /* no loop iteration ends any more */
	/* durability first: every record and audit line queued gets written */
	daemon_persist_flush(d);
	daemon_worker_stop(d->worker);
	d->worker = NULL;
	daemon_persist_close(d);
	daemon_control_stop(d);
	membership_free(d->mem);
	daemon_vm_free_all(d);
	fdhub_free(d->hub_qmp);
	fdhub_free(d->hub_pidfd);
	daemon_fence_free_all(d);
	daemon_core_free(d);
	timerhub_free(d->timers_fsm);
	timerhub_free(d->timers_qmp);
	d->timers_fsm = d->timers_qmp = NULL;
	daemon_audit_close(d);
	daemon_log_drop_free(d);
	daemon_status_stop(d);
	daemon_mem_stop(d);
	/* a refused start (fsm_failed) or a setup failure leaves it counting */
	daemon_watchdog_close(d, rc == 0 && !d->fsm_failed);
	if (d->loop) {
		if (d->notify && d->watchdog_usec >= 3000)
			qb_loop_timer_del(d->loop, d->wd_timer);
		qb_loop_timer_del(d->loop, ready_timer);
		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			qb_loop_signal_del(d->loop, sh[i]);
		qb_loop_destroy(d->loop);
		daemon_log_fini();
	}
	if (pid_fd >= 0) {
		unlink(pidfile);
		close(pid_fd);
	}
	free(d);
	return rc;
}
