/*
 * sim_main.c: qmp-sim's entry point and single-threaded epoll loop: the
 * control socket, every VM's QMP sockets, the timed jobs of the COLO model,
 * and a clean exit (sockets removed) on SIGTERM/SIGINT/"exit".
 * It must not block anywhere but in epoll_pwait(), and must not spin while
 * idle.  epoll, not poll: with 500 VMs (~2000 sockets) a poll of every
 * socket per round cost more than serving the few that were ready, and
 * each round sits between a command read and its reply (BENCHMARKS.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sim.h"

struct sim_vm *sim_vms;
unsigned long sim_free_gen;
static struct sim_job *sim_jobs;
static uint64_t sim_job_seq;
static volatile sig_atomic_t sim_stop;
static bool sim_exit_requested;
static FILE *sim_log_file;

struct ctl_client {
	struct ctl_client *next;
	int fd;
	bool closing;
	struct sim_framer in;
	struct sim_outbuf out;
};
static struct ctl_client *ctl_clients;

uint64_t sim_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

json_t *sim_wall_timestamp(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return json_pack("{s:I,s:I}", "seconds", (json_int_t)ts.tv_sec,
			 "microseconds", (json_int_t)(ts.tv_nsec / 1000));
}

void sim_logf(const char *fmt, ...)
{
	va_list ap;

	if (!sim_log_file)
		return;
	fprintf(sim_log_file, "%llu ", (unsigned long long)sim_now_us());
	va_start(ap, fmt);
	vfprintf(sim_log_file, fmt, ap);
	va_end(ap);
	fputc('\n', sim_log_file);
	fflush(sim_log_file);
}

struct sim_vm *sim_vm_find(const char *name)
{
	struct sim_vm *vm;

	if (!name)
		return NULL;
	for (vm = sim_vms; vm; vm = vm->next)
		if (!strcmp(vm->name, name))
			return vm;
	return NULL;
}

void sim_job_schedule(struct sim_job *job)
{
	struct sim_job *j;

	for (j = sim_jobs; j; j = j->next_in_vm)
		if (j == job)
			return;
	job->seq = ++sim_job_seq;
	job->next_in_vm = sim_jobs;
	sim_jobs = job;
}

void sim_jobs_cancel_vm(struct sim_vm *vm)
{
	struct sim_job **pp = &sim_jobs;

	while (*pp) {
		struct sim_job *j = *pp;

		if (j->vm == vm && j == sim_current_job) {
			/* running now: finish it, the reaper frees it */
			j->pos = j->nsteps;
			j->hung = false;
			if (vm->inband == j)
				vm->inband = NULL;
			pp = &j->next_in_vm;
		} else if (j->vm == vm) {
			*pp = j->next_in_vm;
			if (vm->inband == j)
				vm->inband = NULL;
			sim_job_free(j);
		} else {
			pp = &j->next_in_vm;
		}
	}
}

void sim_request_exit(void)
{
	sim_exit_requested = true;
}

/* Runs every job step that is due; a job's steps run in order. */
static void jobs_run_due(void)
{
	for (;;) {
		uint64_t now = sim_now_us();
		struct sim_job *best = NULL, *j;

		for (j = sim_jobs; j; j = j->next_in_vm) {
			if (j->hung || j->pos >= j->nsteps)
				continue;
			j->due_us = j->start_us + j->steps[j->pos].at_us;
			if (j->due_us > now)
				continue;
			if (!best || j->due_us < best->due_us ||
			    (j->due_us == best->due_us && j->seq < best->seq))
				best = j;
		}
		if (!best)
			break;
		sim_job_step(best);
	}
	/* reap finished jobs, also those that finished inside a dispatch */
	{
		struct sim_job **pp = &sim_jobs;

		while (*pp) {
			struct sim_job *j = *pp;

			if (j->pos >= j->nsteps && !j->hung) {
				*pp = j->next_in_vm;
				if (j->vm->inband == j)
					j->vm->inband = NULL;
				sim_job_free(j);
			} else {
				pp = &j->next_in_vm;
			}
		}
	}
}

static int jobs_timeout_ms(void)
{
	uint64_t now = sim_now_us(), best = UINT64_MAX;
	struct sim_job *j;

	for (j = sim_jobs; j; j = j->next_in_vm) {
		uint64_t due;

		if (j->hung || j->pos >= j->nsteps)
			continue;
		due = j->start_us + j->steps[j->pos].at_us;
		if (due < best)
			best = due;
	}
	if (best == UINT64_MAX)
		return -1;
	if (best <= now)
		return 0;
	/* round up so we never wake early and spin */
	return (int)((best - now + 999) / 1000);
}

static void on_signal(int sig)
{
	sim_stop = sig;
}

static int control_listen(const char *path)
{
	struct sockaddr_un sa;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "qmp-sim: control path too long\n");
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, path);
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 64) < 0) {
		fprintf(stderr, "qmp-sim: %s: %s\n", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static void ctl_close(struct ctl_client *c)
{
	struct ctl_client **pp;

	for (pp = &ctl_clients; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	sim_poll_close(c->fd);
	sim_framer_free(&c->in);
	sim_outbuf_free(&c->out);
	free(c);
	sim_free_gen++;
}

/* The control protocol is line-based: one JSON request per line. */
static void ctl_readable(struct ctl_client *c)
{
	static const char too_long[] =
		"{\"ok\":false,\"error\":\"request line too long\"}\n";
	char buf[65536];
	ssize_t n;

	n = read(c->fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		c->closing = true;
		return;
	}
	if (sim_framer_feed(&c->in, buf, (size_t)n) < 0) {
		sim_outbuf_add(&c->out, too_long, sizeof(too_long) - 1);
		sim_framer_free(&c->in);
		c->closing = true;
		return;
	}
	for (;;) {
		char *nl = c->in.len ? memchr(c->in.buf, '\n', c->in.len) : NULL;
		size_t len;

		if (!nl)
			break;
		len = (size_t)(nl - c->in.buf);
		if (len)
			sim_control_handle(c->fd, c->in.buf, len, &c->out);
		memmove(c->in.buf, nl + 1, c->in.len - len - 1);
		c->in.len -= len + 1;
		if (sim_exit_requested)
			break;
	}
	if (c->in.len > SIM_MAX_LINE) {
		sim_outbuf_add(&c->out, too_long, sizeof(too_long) - 1);
		sim_framer_free(&c->in);
		c->closing = true;
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: qmp-sim --control PATH [--log FILE] [--pidfile FILE]\n");
}

enum pkind { P_CTL_LISTEN, P_CTL, P_VM_LISTEN, P_CONN, P_VM_CHILD };

/* What an fd is, set by each round's sync; indexed by fd number. */
struct pslot {
	enum pkind kind;
	void *ptr;
	int sock;
	uint32_t events; /* as registered */
	bool reg;
};
static int sim_epfd = -1;
static struct pslot *pslots;
static size_t npslots;

static struct pslot *pslot(int fd)
{
	if (fd < 0)
		return NULL;
	if ((size_t)fd >= npslots) {
		size_t n = npslots ? npslots : 256;
		struct pslot *p;

		while (n <= (size_t)fd)
			n *= 2;
		p = realloc(pslots, n * sizeof(*p));
		if (!p)
			return NULL;
		memset(p + npslots, 0, (n - npslots) * sizeof(*p));
		pslots = p;
		npslots = n;
	}
	return &pslots[fd];
}

/* Registration follows the state: only a change costs a system call. */
static void poll_want(int fd, uint32_t ev, enum pkind kind, void *ptr, int sock)
{
	struct pslot *p = pslot(fd);
	struct epoll_event e = { .events = ev, .data.fd = fd };
	int op;

	if (!p) {
		fprintf(stderr, "qmp-sim: out of memory\n");
		return;
	}
	p->kind = kind;
	p->ptr = ptr;
	p->sock = sock;
	if (p->reg && p->events == ev)
		return;
	op = p->reg ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(sim_epfd, op, fd, &e) < 0) {
		/* the slot is stale: the number now names another socket */
		op = errno == ENOENT ? EPOLL_CTL_ADD : errno == EEXIST ? EPOLL_CTL_MOD : -1;
		if (op < 0 || epoll_ctl(sim_epfd, op, fd, &e) < 0) {
			fprintf(stderr, "qmp-sim: epoll_ctl %d: %s\n", fd, strerror(errno));
			return;
		}
	}
	p->reg = true;
	p->events = ev;
}

static void poll_unwant(int fd)
{
	struct pslot *p = fd >= 0 && (size_t)fd < npslots ? &pslots[fd] : NULL;

	if (!p || !p->reg)
		return;
	epoll_ctl(sim_epfd, EPOLL_CTL_DEL, fd, NULL);
	p->reg = false;
}

/* A listening socket is also held by its VM's listener process
 * (sim_proc.c): closing ours alone would leave it registered. */
void sim_poll_close(int fd)
{
	if (fd < 0)
		return;
	poll_unwant(fd);
	close(fd);
}

/* One round's interest set, from the state the last round left. */
static void poll_sync(int ctl_fd)
{
	struct ctl_client *cc;
	struct sim_vm *vm;

	poll_want(ctl_fd, EPOLLIN, P_CTL_LISTEN, NULL, 0);
	for (cc = ctl_clients; cc; cc = cc->next) {
		uint32_t ev = cc->closing ? 0 : EPOLLIN;

		if (cc->out.len > cc->out.off)
			ev |= EPOLLOUT;
		poll_want(cc->fd, ev, P_CTL, cc, 0);
	}
	for (vm = sim_vms; vm; vm = vm->next) {
		struct sim_conn *c;
		bool frozen = vm->vanished || vm->hang_fault;
		int s;

		for (s = 0; s < vm->nsocks; s++) {
			bool busy = false;

			if (vm->listen_fd[s] < 0)
				continue;
			for (c = vm->conns; c; c = c->next)
				if (c->sock == s)
					busy = true;
			/* one client per socket: others wait in the backlog */
			if (busy || frozen || vm->no_accept)
				poll_unwant(vm->listen_fd[s]);
			else
				poll_want(vm->listen_fd[s], EPOLLIN, P_VM_LISTEN, vm, s);
		}
		if (vm->child_fd >= 0)
			poll_want(vm->child_fd, EPOLLIN, P_VM_CHILD, vm, 0);
		for (c = vm->conns; c; c = c->next) {
			uint32_t ev = 0; /* a hang-up is still reported */

			if (!frozen && !c->closing)
				ev |= EPOLLIN;
			if (!frozen && c->out.len > c->out.off)
				ev |= EPOLLOUT;
			poll_want(c->fd, ev, P_CONN, c, 0);
		}
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "control", required_argument, NULL, 'c' },
		{ "log", required_argument, NULL, 'l' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ctl_path = NULL, *pidfile = NULL;
	struct epoll_event evs[256];
	struct sigaction sa;
	sigset_t block, orig;
	int ctl_fd, opt;

	while ((opt = getopt_long(argc, argv, "c:l:p:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			ctl_path = optarg;
			break;
		case 'l':
			sim_log_file = fopen(optarg, "a");
			if (!sim_log_file) {
				perror(optarg);
				return 2;
			}
			break;
		case 'p':
			pidfile = optarg;
			break;
		default:
			usage();
			return 2;
		}
	}
	if (!ctl_path || optind != argc) {
		usage();
		return 2;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &orig);

	sim_epfd = epoll_create1(EPOLL_CLOEXEC);
	if (sim_epfd < 0) {
		perror("epoll_create1");
		return 1;
	}
	ctl_fd = control_listen(ctl_path);
	if (ctl_fd < 0)
		return 1;
	if (pidfile) {
		FILE *f = fopen(pidfile, "w");

		if (f) {
			fprintf(f, "%ld\n", (long)getpid());
			fclose(f);
		}
	}
	printf("READY\n");
	fflush(stdout);

	while (!sim_stop && !sim_exit_requested) {
		struct ctl_client *cc;
		struct sim_vm *vm;
		int r, i;

		poll_sync(ctl_fd);
		r = epoll_pwait(sim_epfd, evs, (int)(sizeof(evs) / sizeof(evs[0])),
				jobs_timeout_ms(), &orig);
		if (r < 0 && errno != EINTR) {
			perror("epoll_pwait");
			break;
		}
		for (i = 0; i < r; i++) {
			uint32_t re = evs[i].events;
			int fd = evs[i].data.fd;
			struct pslot *p = fd >= 0 && (size_t)fd < npslots ? &pslots[fd] : NULL;
			unsigned long gen = sim_free_gen;

			if (!p || !p->reg)
				continue; /* closed by an earlier handler of this round */
			switch (p->kind) {
			case P_CTL_LISTEN: {
				int nfd = accept4(ctl_fd, NULL, NULL,
						  SOCK_NONBLOCK | SOCK_CLOEXEC);

				if (nfd >= 0) {
					cc = calloc(1, sizeof(*cc));
					if (!cc) {
						close(nfd);
						break;
					}
					cc->fd = nfd;
					cc->next = ctl_clients;
					ctl_clients = cc;
				}
				break;
			}
			case P_CTL:
				cc = p->ptr;
				if (re & (EPOLLIN | EPOLLHUP | EPOLLERR))
					ctl_readable(cc);
				if (re & EPOLLOUT &&
				    sim_outbuf_flush(&cc->out, cc->fd) < 0)
					cc->closing = true;
				break;
			case P_VM_LISTEN:
				sim_vm_accept(p->ptr, p->sock);
				break;
			case P_VM_CHILD: {
				/* killed from outside (the arbiter's SIGKILL) */
				struct sim_vm *dv = p->ptr;

				sim_logf("%s: listener process %d died", dv->name,
					 dv->child_pid);
				sim_vm_kill_now(dv, true);
				break;
			}
			case P_CONN: {
				struct sim_conn *c = p->ptr;
				struct sim_vm *cv = c->vm;

				if (re & EPOLLOUT)
					sim_conn_writable(c);
				if (re & (EPOLLIN | EPOLLHUP | EPOLLERR))
					sim_conn_readable(c);
				/* answered now, as its own QEMU would, not after
				 * every other VM's input of this round */
				if (sim_free_gen == gen)
					sim_vm_pump(cv);
				break;
			}
			}
			if (sim_exit_requested)
				break;
			/*
			 * A handler that freed VMs or connections makes the
			 * rest of the events stale: sync again first (they
			 * are level-triggered and come back).  Otherwise every
			 * ready descriptor is served in this round.
			 */
			if (sim_free_gen != gen)
				goto next_round;
		}
next_round:
		jobs_run_due();
		/* flush control replies, reap closed control clients */
		for (cc = ctl_clients; cc;) {
			struct ctl_client *nx = cc->next;

			if (sim_outbuf_flush(&cc->out, cc->fd) < 0 ||
			    (cc->closing && cc->out.len == cc->out.off))
				ctl_close(cc);
			cc = nx;
		}
		for (vm = sim_vms; vm; vm = vm->next)
			sim_vm_pump(vm);
	}

	/* flush pending control replies (the "exit" answer) best effort */
	while (ctl_clients) {
		sim_outbuf_flush(&ctl_clients->out, ctl_clients->fd);
		ctl_close(ctl_clients);
	}
	while (sim_vms) {
		struct sim_vm *vm = sim_vms;

		sim_vms = vm->next;
		sim_jobs_cancel_vm(vm);
		sim_vm_close_sockets(vm, true);
		sim_vm_free(vm);
	}
	sim_poll_close(ctl_fd);
	unlink(ctl_path);
	if (pidfile)
		unlink(pidfile);
	close(sim_epfd);
	free(pslots);
	if (sim_log_file)
		fclose(sim_log_file);
	return 0;
}
