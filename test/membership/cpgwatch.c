/*
 * cpgwatch.c: a small client of the membership module for the namespace
 * lab. Prints one JSON object per line on stdout for every membership event
 * (flushed per line), with CLOCK_MONOTONIC in ms ("t_mono_ms", shared by
 * all lab nodes), and sends numbered messages on request.
 *
 *   cpgwatch [--group G] [--label L] [--retry-min-ms N] [--retry-max-ms N]
 *            [--send-count N] [--send-every MS] [--send-on-signal] [--stdin]
 *   cpgwatch --mono         print the current CLOCK_MONOTONIC ms and exit
 *
 * Sending: --send-count N sends N messages "<label>:<seq>", one every
 * --send-every ms (default 10), starting at the first ipc_up, or, with
 * --send-on-signal, at every SIGUSR1. A message refused with -EAGAIN or
 * -ENOTCONN is sent again at the next tick with the same seq. --stdin sends
 * every line read on stdin. SIGTERM/SIGINT stop it cleanly.
 *
 * Test tool: it logs only its JSON lines and exits non-zero on setup
 * errors; it makes no decision of its own.
 */
#include "membership.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <qb/qbloop.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct watch {
	qb_loop_t *loop;
	struct membership *m;
	const char *label;
	unsigned send_count, send_every_ms;
	bool send_on_signal;
	unsigned to_send;       /* left in the current burst */
	uint64_t seq;           /* next seq to send */
	bool timer_armed;
	qb_loop_timer_handle timer;
	bool started_once;
	char line[4096];
	size_t line_len;
};

static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static json_t *line_new(const struct watch *w, const char *ev)
{
	return json_pack("{s:f, s:s, s:s}", "t_mono_ms", mono_ms(), "node",
			 w->label, "ev", ev);
}

static void line_print(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER |
			     JSON_REAL_PRECISION(15));

	if (s) {
		fputs(s, stdout);
		fputc('\n', stdout);
		fflush(stdout);
		free(s);
	}
	json_decref(o);
}

static json_t *ring_json(const struct membership_ring_id *r)
{
	char buf[MEMBERSHIP_RING_ID_STRLEN];

	return json_pack("{s:I, s:I, s:s}", "nodeid", (json_int_t)r->nodeid,
			 "seq", (json_int_t)r->seq, "str",
			 membership_ring_id_to_str(r, buf, sizeof(buf)));
}

static json_t *ids_json(const uint32_t *ids, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_integer(ids[i]));
	return a;
}

static json_t *members_json(const struct membership_member *mm, size_t n,
			    bool with_reason)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++) {
		json_t *o = json_pack("{s:I, s:I}", "nodeid",
				      (json_int_t)mm[i].nodeid, "pid",
				      (json_int_t)mm[i].pid);
		if (with_reason)
			json_object_set_new(o, "reason", json_string(
				membership_reason_to_str(mm[i].reason)));
		json_array_append_new(a, o);
	}
	return a;
}

/* Payloads are text in the lab; anything else is shown as hex. */
static json_t *payload_json(const void *data, size_t len)
{
	const unsigned char *p = data;
	char *s;
	json_t *j;
	size_t i;
	bool text = true;

	for (i = 0; i < len; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			text = false;
	if (text)
		return json_stringn((const char *)p, len);
	s = malloc(len * 2 + 5);
	if (!s)
		return json_null();
	strcpy(s, "hex:");
	for (i = 0; i < len; i++)
		sprintf(s + 4 + i * 2, "%02x", p[i]);
	j = json_string(s);
	free(s);
	return j;
}

static void send_tick(void *data);

static void arm_send(struct watch *w, unsigned ms)
{
	if (w->timer_armed)
		return;
	w->timer_armed = qb_loop_timer_add(w->loop, QB_LOOP_MED,
					   (uint64_t)ms * 1000000ULL, w,
					   send_tick, &w->timer) == 0;
}

static const char *send_rc_name(int rc)
{
	switch (-rc) {
	case 0: return "OK";
	case EAGAIN: return "EAGAIN";
	case ENOTCONN: return "ENOTCONN";
	case EMSGSIZE: return "EMSGSIZE";
	case EPIPE: return "EPIPE";
	case EINVAL: return "EINVAL";
	case EIO: return "EIO";
	default: return "?";
	}
}

static void send_one(struct watch *w, const char *payload, size_t len,
		     bool numbered)
{
	int rc = membership_send(w->m, payload, len);
	json_t *o = line_new(w, rc == 0 ? "sent" : "send_failed");

	if (numbered)
		json_object_set_new(o, "seq", json_integer((json_int_t)w->seq));
	json_object_set_new(o, "data", json_stringn(payload, len));
	if (rc)
		json_object_set_new(o, "rc", json_string(send_rc_name(rc)));
	json_object_set_new(o, "transient", json_boolean(rc == -EAGAIN));
	line_print(o);
	if (rc == 0 && numbered) {
		w->seq++;
		w->to_send--;
	}
}

static void send_tick(void *data)
{
	struct watch *w = data;
	char buf[128];
	int n;

	w->timer_armed = false;
	if (!w->to_send)
		return;
	n = snprintf(buf, sizeof(buf), "%s:%" PRIu64, w->label, w->seq);
	send_one(w, buf, (size_t)n, true);
	if (w->to_send)
		arm_send(w, w->send_every_ms);
}

static void start_burst(struct watch *w)
{
	w->to_send += w->send_count;
	arm_send(w, 0);
}

static void on_event(struct membership *m, const struct membership_event *ev,
		     void *opaque)
{
	struct watch *w = opaque;
	json_t *o = line_new(w, membership_event_kind_to_str(ev->kind));

	switch (ev->kind) {
	case MEMBERSHIP_EV_IPC_UP: {
		const struct membership_ipc_up *u = &ev->u.ipc_up;

		json_object_set_new(o, "nodeid", json_integer(u->local_nodeid));
		json_object_set_new(o, "pid", json_integer(u->local_pid));
		json_object_set_new(o, "quorate", json_integer(u->quorate));
		json_object_set_new(o, "quorum_type",
				    json_integer(u->quorum_type));
		json_object_set_new(o, "max_msg_len",
				    json_integer((json_int_t)u->max_msg_len));
		json_object_set_new(o, "attempts", json_integer(u->attempts));
		break;
	}
	case MEMBERSHIP_EV_IPC_LOST: {
		const struct membership_ipc_lost *l = &ev->u.ipc_lost;

		json_object_set_new(o, "which", json_string(
			membership_ipc_to_str(l->which)));
		json_object_set_new(o, "cs_error", json_integer(l->cs_error));
		json_object_set_new(o, "cs_error_str", json_string(
			membership_cs_error_to_str(l->cs_error)));
		json_object_set_new(o, "pollhup",
				    json_boolean(l->revents & POLLHUP));
		json_object_set_new(o, "reason", json_string(l->reason));
		json_object_set_new(o, "next_retry_ms",
				    json_integer(l->next_retry_ms));
		break;
	}
	case MEMBERSHIP_EV_CONNECT_FAILED: {
		const struct membership_connect_failed *f =
			&ev->u.connect_failed;

		json_object_set_new(o, "which", json_string(
			membership_ipc_to_str(f->which)));
		json_object_set_new(o, "cs_error", json_integer(f->cs_error));
		json_object_set_new(o, "reason", json_string(f->reason));
		json_object_set_new(o, "attempt", json_integer(f->attempt));
		json_object_set_new(o, "next_retry_ms",
				    json_integer(f->next_retry_ms));
		break;
	}
	case MEMBERSHIP_EV_CPG_CONFCHG: {
		const struct membership_cpg_confchg *c = &ev->u.cpg_confchg;

		json_object_set_new(o, "group", json_string(c->group));
		json_object_set_new(o, "n_members",
				    json_integer((json_int_t)c->n_members));
		json_object_set_new(o, "members",
				    members_json(c->members, c->n_members,
						 false));
		json_object_set_new(o, "left",
				    members_json(c->left, c->n_left, true));
		json_object_set_new(o, "joined",
				    members_json(c->joined, c->n_joined, true));
		break;
	}
	case MEMBERSHIP_EV_TOTEM_CONFCHG: {
		const struct membership_totem_confchg *t = &ev->u.totem_confchg;

		json_object_set_new(o, "ring", ring_json(&t->ring));
		json_object_set_new(o, "members",
				    ids_json(t->members, t->n_members));
		break;
	}
	case MEMBERSHIP_EV_QUORUM: {
		const struct membership_quorum *q = &ev->u.quorum;

		json_object_set_new(o, "quorate", json_integer(q->quorate));
		json_object_set_new(o, "ring", ring_json(&q->ring));
		json_object_set_new(o, "members",
				    ids_json(q->members, q->n_members));
		break;
	}
	case MEMBERSHIP_EV_NODELIST: {
		const struct membership_nodelist *l = &ev->u.nodelist;

		json_object_set_new(o, "ring", ring_json(&l->ring));
		json_object_set_new(o, "members",
				    ids_json(l->members, l->n_members));
		json_object_set_new(o, "joined",
				    ids_json(l->joined, l->n_joined));
		json_object_set_new(o, "left", ids_json(l->left, l->n_left));
		break;
	}
	case MEMBERSHIP_EV_DELIVER: {
		const struct membership_deliver *d = &ev->u.deliver;

		json_object_set_new(o, "from", json_pack("{s:I, s:I}",
			"nodeid", (json_int_t)d->nodeid,
			"pid", (json_int_t)d->pid));
		json_object_set_new(o, "self", json_boolean(d->self));
		json_object_set_new(o, "len", json_integer((json_int_t)d->len));
		json_object_set_new(o, "data", payload_json(d->data, d->len));
		break;
	}
	}
	line_print(o);

	if (ev->kind == MEMBERSHIP_EV_IPC_UP && !w->send_on_signal &&
	    !w->started_once && w->send_count) {
		w->started_once = true;
		start_burst(w);
	}
}

static int32_t on_signal(int32_t sig, void *data)
{
	struct watch *w = data;

	if (sig == SIGUSR1) {
		start_burst(w);
		return 0;
	}
	qb_loop_stop(w->loop);
	return 0;
}

static int32_t on_stdin(int32_t fd, int32_t revents, void *data)
{
	struct watch *w = data;
	ssize_t n = read(fd, w->line + w->line_len,
			 sizeof(w->line) - w->line_len);
	char *nl;

	if (n <= 0) {
		qb_loop_poll_del(w->loop, fd);
		return 0;
	}
	w->line_len += (size_t)n;
	while ((nl = memchr(w->line, '\n', w->line_len))) {
		size_t len = (size_t)(nl - w->line);

		if (len)
			send_one(w, w->line, len, false);
		memmove(w->line, nl + 1, w->line_len - len - 1);
		w->line_len -= len + 1;
	}
	if (w->line_len == sizeof(w->line))
		w->line_len = 0; /* a line longer than the buffer: dropped */
	return 0;
}

static unsigned parse_uint(const char *s, const char *opt)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v > 100000000UL) {
		fprintf(stderr, "cpgwatch: bad value for %s: %s\n", opt, s);
		exit(2);
	}
	return (unsigned)v;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "group", required_argument, NULL, 'g' },
		{ "label", required_argument, NULL, 'l' },
		{ "retry-min-ms", required_argument, NULL, 'r' },
		{ "retry-max-ms", required_argument, NULL, 'R' },
		{ "send-count", required_argument, NULL, 'n' },
		{ "send-every", required_argument, NULL, 'e' },
		{ "send-on-signal", no_argument, NULL, 's' },
		{ "stdin", no_argument, NULL, 'i' },
		{ "mono", no_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	struct membership_config cfg = { .group = "colo-arbiter-lab" };
	struct watch w = { .send_every_ms = 10 };
	qb_loop_signal_handle sh[4];
	char host[64];
	bool use_stdin = false;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'g': cfg.group = optarg; break;
		case 'l': w.label = optarg; break;
		case 'r': cfg.retry_min_ms = parse_uint(optarg, "--retry-min-ms"); break;
		case 'R': cfg.retry_max_ms = parse_uint(optarg, "--retry-max-ms"); break;
		case 'n': w.send_count = parse_uint(optarg, "--send-count"); break;
		case 'e': w.send_every_ms = parse_uint(optarg, "--send-every"); break;
		case 's': w.send_on_signal = true; break;
		case 'i': use_stdin = true; break;
		case 'm': printf("%.3f\n", mono_ms()); return 0;
		default:
			fprintf(stderr, "usage: see the head of cpgwatch.c\n");
			return 2;
		}
	}
	if (!w.label) {
		if (gethostname(host, sizeof(host)) != 0)
			strcpy(host, "?");
		host[sizeof(host) - 1] = '\0';
		w.label = host;
	}
	w.loop = qb_loop_create();
	if (!w.loop) {
		fprintf(stderr, "cpgwatch: qb_loop_create failed\n");
		return 1;
	}
	w.m = membership_new(w.loop, &cfg, on_event, &w);
	if (!w.m) {
		fprintf(stderr, "cpgwatch: membership_new: %s\n",
			strerror(errno));
		return 1;
	}
	qb_loop_signal_add(w.loop, QB_LOOP_HIGH, SIGTERM, &w, on_signal, &sh[0]);
	qb_loop_signal_add(w.loop, QB_LOOP_HIGH, SIGINT, &w, on_signal, &sh[1]);
	qb_loop_signal_add(w.loop, QB_LOOP_HIGH, SIGUSR1, &w, on_signal, &sh[2]);
	if (use_stdin)
		qb_loop_poll_add(w.loop, QB_LOOP_MED, STDIN_FILENO, POLLIN, &w,
				 on_stdin);
	if (membership_start(w.m) != 0) {
		fprintf(stderr, "cpgwatch: membership_start failed\n");
		return 1;
	}
	qb_loop_run(w.loop);
	if (w.timer_armed)
		qb_loop_timer_del(w.loop, w.timer);
	membership_free(w.m);
	qb_loop_destroy(w.loop);
	return 0;
}
