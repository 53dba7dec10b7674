/*
 * daemon_vm.c: the local QEMU sides: one qmp_client and one pidfd per VM.
 *
 * Turns QMP facts into fsm events (connected with instance = SO_PEERCRED
 * pid + its start time from /proc/PID/stat, lost, COLO_EXIT, RESUME, STOP,
 * MIGRATION, query results, command results with the action's tag, the
 * yank set) and the pidfd exit into FSM_EV_QEMU_EXITED, the only "QEMU
 * gone" (A7).  Carries out FSM_ACT_QMP and FSM_ACT_KILL.  Must not block and
 * must not decide anything: every decision is the fsm's.  One exception that
 * is not a decision: a QEMU that cannot do COLO (no x-colo-lost-heartbeat or
 * query-colo-status) is taken out of the fsm and shown as "refused", so that
 * no rule can ever plan a failover of it.
 */
#include "daemon.h"
#include "compiler.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <qb/qblog.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

struct vm_cmd_ctx {
	struct daemon *d;
	char vm[FSM_NAME_MAX];
	struct fsm_tag tag;
	enum fsm_qmp_cmd cmd;
	bool tagged;
};

/*
 * The VMs by name.  A node loss looks each VM up some ten times (its peer
 * messages, actions, replies, audit records); walking the list was half
 * of it per lookup, ~N^2/2 string compares in all, a twentieth of the
 * survivor's CPU at 500 VMs (BENCHMARKS.md).  Rebuilt on a removal, which
 * is rare; without memory for it, lookups walk the list.
 */
static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static void idx_put(struct daemon_vm **idx, unsigned cap, struct daemon_vm *v)
{
	unsigned i = name_hash(v->cfg.name) & (cap - 1);

	while (idx[i])
		i = (i + 1) & (cap - 1);
	idx[i] = v;
}

static void idx_rebuild(struct daemon *d, unsigned cap)
{
	struct daemon_vm **idx = cap ? calloc(cap, sizeof(*idx)) : NULL;

	free(d->vm_idx);
	d->vm_idx = idx;
	d->vm_idx_cap = idx ? cap : 0;
	if (!idx)
		return;
	for (struct daemon_vm *v = d->vms; v; v = v->next)
		idx_put(idx, cap, v);
}

static void idx_add(struct daemon *d, struct daemon_vm *v)
{
	unsigned cap = 64;

	if (d->vm_idx && d->n_vms * 2 <= d->vm_idx_cap) {
		idx_put(d->vm_idx, d->vm_idx_cap, v);
		return;
	}
	while (cap < d->n_vms * 2)
		cap *= 2;
	idx_rebuild(d, cap);
}

struct daemon_vm *daemon_vm_find(struct daemon *d, const char *name)
{
	if (d->vm_idx) {
		unsigned cap = d->vm_idx_cap, i = name_hash(name) & (cap - 1);

		for (; d->vm_idx[i]; i = (i + 1) & (cap - 1))
			if (!strcmp(d->vm_idx[i]->cfg.name, name))
				return d->vm_idx[i];
		return NULL;
	}
	for (struct daemon_vm *v = d->vms; v; v = v->next)
		if (!strcmp(v->cfg.name, name))
			return v;
	return NULL;
}

/* Field 22 of /proc/PID/stat: start time in clock ticks since boot. */
static int proc_start_time(pid_t pid, uint64_t *out)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* comm may hold spaces and parentheses */
	if (!p)
		return -EINVAL;
	p++; /* the space before field 3 */
	for (field = 3; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p)
		return -EINVAL;
	*out = strtoull(p + 1, NULL, 10);
	return 0;
}

static void ev_init(struct fsm_event *ev, enum fsm_event_kind k, const struct daemon_vm *v)
{
	memset(ev, 0, sizeof(*ev));
	ev->kind = k;
	snprintf(ev->u.qmp.vm, sizeof(ev->u.qmp.vm), "%s", v->cfg.name);
	ev->u.qmp.inst = v->inst;
}

/* A refused VM is not in the fsm: its facts still reach the status. */
static void vm_post(struct daemon_vm *v, struct fsm_event *ev)
{
	if (v->refused) {
		daemon_vm_note(v->d, ev);
		daemon_status_changed(v->d);
		return;
	}
	daemon_post(v->d, ev);
}

/* ---- pidfd ------------------------------------------------------------- */

#define PIDFD_RETRY_MS 1000

/* the watch goes before the descriptor: epoll keys on the open file */
static void pidfd_close(struct daemon_vm *v)
{
	if (v->pidfd >= 0) {
		if (v->pidfd_w)
			fdhub_del(v->d->hub_pidfd, v->pidfd_w);
		close(v->pidfd);
	}
	v->pidfd = -1;
	v->pidfd_w = NULL;
	if (v->pidfd_retry_armed)
		qb_loop_timer_del(v->d->loop, v->pidfd_retry);
	v->pidfd_retry_armed = false;
	v->pidfd_err = 0;
}

static int32_t pidfd_ready(int32_t fd, int32_t revents, void *data)
{
	struct daemon_vm *v = data;
	struct fsm_event ev;

	(void)fd;
	(void)revents;
	qb_log(LOG_NOTICE, "node=%u vm=%s: QEMU pid %u exited (pidfd)", v->d->nodeid,
	       v->cfg.name, v->inst.pid);
	ev_init(&ev, FSM_EV_QEMU_EXITED, v);
	pidfd_close(v);
	vm_post(v, &ev);
	return 0;
}

static void pidfd_retry(void *data);

/*
 * The fsm counts a side dead only on its pidfd (A7): a QEMU whose watch
 * failed (EMFILE, ENOMEM) would die unseen and its pair stall.  A failed
 * watch is retried every PIDFD_RETRY_MS until it holds or the instance
 * changes.  A retry may come after the pid was reused: the pidfd names the
 * instance only if the pid's start time still matches, checked after the
 * open (the pidfd pins the process it names).
 */
static void pidfd_watch(struct daemon_vm *v)
{
	pid_t pid = (pid_t)v->inst.pid;
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	int err = fd < 0 ? errno : 0;
	uint64_t start = 0;

	if (!err && v->inst.start &&
	    (proc_start_time(pid, &start) || start != v->inst.start)) {
		close(fd);
		err = ESRCH;
	}
	if (err == ESRCH) {
		/* already gone: the fsm hears it at once */
		struct fsm_event ev;

		qb_log(LOG_NOTICE, "node=%u vm=%s: QEMU pid %d is already gone", v->d->nodeid,
		       v->cfg.name, (int)pid);
		v->pidfd_err = 0;
		ev_init(&ev, FSM_EV_QEMU_EXITED, v);
		vm_post(v, &ev);
		return;
	}
	if (!err) {
		v->pidfd_w = fdhub_add(v->d->hub_pidfd, fd, POLLIN, pidfd_ready, v);
		if (v->pidfd_w) {
			v->pidfd = fd;
			if (v->pidfd_err)
				qb_log(LOG_NOTICE, "node=%u vm=%s: QEMU pid %d watched again",
				       v->d->nodeid, v->cfg.name, (int)pid);
			v->pidfd_err = 0;
			return;
		}
		err = errno ? errno : ENOMEM;
		close(fd);
	}
	if (err != v->pidfd_err)
		qb_log(LOG_ERR, "node=%u vm=%s: cannot watch QEMU pid %d (%s): its exit would "
		       "go unseen; retrying every %d ms", v->d->nodeid, v->cfg.name, (int)pid,
		       strerror(err), PIDFD_RETRY_MS);
	v->pidfd_err = err;
	if (qb_loop_timer_add(v->d->loop, QB_LOOP_MED, (uint64_t)PIDFD_RETRY_MS * QB_TIME_NS_IN_MSEC,
			      v, pidfd_retry, &v->pidfd_retry) == 0)
		v->pidfd_retry_armed = true;
	else
		qb_log(LOG_CRIT, "node=%u vm=%s: cannot arm the pidfd retry: the exit of QEMU "
		       "pid %d goes unseen", v->d->nodeid, v->cfg.name, (int)pid);
}

static void pidfd_retry(void *data)
{
	struct daemon_vm *v = data;

	v->pidfd_retry_armed = false;
	if (v->pidfd < 0 && v->inst.pid)
		pidfd_watch(v);
}

/* ---- results ----------------------------------------------------------- */

static enum fsm_colo_mode map_mode(enum qmp_colo_mode m)
{
	switch (m) {
	case QMP_COLO_MODE_NONE:
		return FSM_MODE_NONE;
	case QMP_COLO_MODE_PRIMARY:
		return FSM_MODE_PRIMARY;
	case QMP_COLO_MODE_SECONDARY:
		return FSM_MODE_SECONDARY;
	}
	return FSM_MODE_UNKNOWN;
}

static enum fsm_colo_reason map_reason(enum qmp_colo_reason r)
{
	switch (r) {
	case QMP_COLO_REASON_NONE:
		return FSM_REASON_NONE;
	case QMP_COLO_REASON_REQUEST:
		return FSM_REASON_REQUEST;
	case QMP_COLO_REASON_ERROR:
		return FSM_REASON_ERROR;
	case QMP_COLO_REASON_PROCESSING:
		return FSM_REASON_PROCESSING;
	}
	return FSM_REASON_NONE;
}

static enum fsm_mig_state map_mig(enum qmp_migration_status s)
{
	switch (s) {
	case QMP_MIGRATION_STATUS_NONE:
		return FSM_MIG_NONE;
	case QMP_MIGRATION_STATUS_COLO:
		return FSM_MIG_COLO;
	case QMP_MIGRATION_STATUS_COMPLETED:
		return FSM_MIG_COMPLETED;
	case QMP_MIGRATION_STATUS_FAILED:
	case QMP_MIGRATION_STATUS_CANCELLED:
		return FSM_MIG_FAILED;
	case QMP_MIGRATION_STATUS_SETUP:
	case QMP_MIGRATION_STATUS_ACTIVE:
	case QMP_MIGRATION_STATUS_DEVICE:
	case QMP_MIGRATION_STATUS_PRE_SWITCHOVER:
	case QMP_MIGRATION_STATUS_CANCELLING:
	case QMP_MIGRATION_STATUS_WAIT_UNPLUG:
		return FSM_MIG_ACTIVE;
	default:
		return FSM_MIG_UNKNOWN;
	}
}

/* A query's return as a fact event; false when it cannot be read. */
static bool query_fact(struct daemon_vm *v, enum fsm_qmp_cmd cmd, const json_t *ret,
		       struct fsm_event *ev)
{
	struct qmp_msg_error err;

	switch (cmd) {
	case FSM_QMP_QUERY_COLO_STATUS: {
		struct qmp_colo_status cs;

		if (qmp_colo_status_parse(ret, &cs, &err))
			return false;
		ev_init(ev, FSM_EV_QMP_COLO_STATUS, v);
		ev->u.qmp.mode = map_mode(cs.mode);
		ev->u.qmp.last_mode = map_mode(cs.last_mode);
		ev->u.qmp.reason = map_reason(cs.reason);
		return true;
	}
	case FSM_QMP_QUERY_STATUS: {
		struct qmp_vm_status st;

		if (qmp_vm_status_parse(ret, &st, &err))
			return false;
		ev_init(ev, FSM_EV_QMP_STATUS, v);
		ev->u.qmp.run = st.running ? FSM_RUN_RUNNING : FSM_RUN_PAUSED;
		return true;
	}
	case FSM_QMP_QUERY_MIGRATE: {
		enum qmp_migration_status ms;

		if (qmp_migrate_status_parse(ret, &ms, &err))
			return false;
		ev_init(ev, FSM_EV_QMP_MIGRATE, v);
		ev->u.qmp.mig = map_mig(ms);
		return true;
	}
	default:
		return false;
	}
}

static bool is_query(enum fsm_qmp_cmd c)
{
	return c == FSM_QMP_QUERY_COLO_STATUS || c == FSM_QMP_QUERY_STATUS ||
	       c == FSM_QMP_QUERY_MIGRATE;
}

static void cmd_done(struct qmp_client *c, const struct qmp_result *r, void *opaque)
{
	struct vm_cmd_ctx *x = opaque;
	struct daemon *d = x->d;
	struct daemon_vm *v = daemon_vm_find(d, x->vm);
	struct fsm_event ev;

	(void)c;
	if (r->kind == QMP_RESULT_CANCELLED || !v) {
		free(x);
		return;
	}
	qb_log(r->kind == QMP_RESULT_RETURN ? LOG_DEBUG : LOG_INFO,
	       "node=%u vm=%s: %s%s -> %s%s%s", d->nodeid, x->vm, r->command,
	       r->oob ? " (oob)" : "", qmp_result_kind_to_str(r->kind),
	       r->kind == QMP_RESULT_ERROR ? ": " : "",
	       r->kind == QMP_RESULT_ERROR ? (r->err_desc ? r->err_desc : "") :
	       r->reason ? r->reason : "");
	if (is_query(x->cmd) && r->kind == QMP_RESULT_RETURN) {
		if (query_fact(v, x->cmd, r->ret, &ev)) {
			ev.u.qmp.tagged = x->tagged;
			ev.u.qmp.tag = x->tag;
			vm_post(v, &ev); /* refused meanwhile (the probe): status only */
			free(x);
			return;
		}
		qb_log(LOG_WARNING, "node=%u vm=%s: unreadable reply to %s", d->nodeid, x->vm,
		       r->command);
	}
	if (x->tagged) {
		memset(&ev, 0, sizeof(ev));
		ev.kind = FSM_EV_QMP_RESULT;
		ev.u.result.tag = x->tag;
		ev.u.result.cmd = x->cmd;
		switch (r->kind) {
		case QMP_RESULT_RETURN:
			/* an unreadable query reply counts as an error */
			ev.u.result.result = is_query(x->cmd) ? FSM_RES_ERROR : FSM_RES_RETURN;
			break;
		case QMP_RESULT_ERROR:
			ev.u.result.result = FSM_RES_ERROR;
			break;
		case QMP_RESULT_TIMEOUT:
			ev.u.result.result = FSM_RES_TIMEOUT;
			break;
		default:
			ev.u.result.result = FSM_RES_NOT_DELIVERED;
			break;
		}
		daemon_post(d, &ev);
	}
	free(x);
}

/*
 * Sent commands are logged at INFO, except queries (they change nothing)
 * and x-colo-lost-heartbeat, whose own NOTICE line carries the id: a node
 * loss with hundreds of VMs logs every line once per VM, and journald
 * drops a service's lines past its rate limit (10000 in 30 s by default).
 */
static int send_cmd_id(struct daemon_vm *v, const char *name, json_t *args, unsigned flags,
		       enum fsm_qmp_cmd cmd, const struct fsm_tag *tag, int64_t *idp)
{
	struct daemon *d = v->d;
	struct vm_cmd_ctx *x = calloc(1, sizeof(*x));
	int64_t id;

	if (!x) {
		json_decref(args);
		return -ENOMEM;
	}
	x->d = d;
	snprintf(x->vm, sizeof(x->vm), "%s", v->cfg.name);
	x->cmd = cmd;
	if (tag) {
		x->tagged = true;
		x->tag = *tag;
	}
	id = qmp_client_execute(v->qc, name, args, flags, (unsigned)d->cfg.qmp_timeout_ms,
				cmd_done, x);
	if (id < 0) {
		free(x);
		return (int)id;
	}
	/* x-colo-lost-heartbeat: daemon_vm_exec's NOTICE names it, its id and
	 * its latency */
	if (cmd != FSM_QMP_LOST_HEARTBEAT)
		qb_log(is_query(cmd) ? LOG_DEBUG : LOG_INFO,
		       "node=%u vm=%s: -> %s%s (id %" PRId64 ")", d->nodeid, v->cfg.name,
		       name, flags & QMP_CMD_OOB ? " oob" : "", id);
	if (idp)
		*idp = id;
	return 0;
}

static int send_cmd(struct daemon_vm *v, const char *name, json_t *args, unsigned flags,
		    enum fsm_qmp_cmd cmd, const struct fsm_tag *tag)
{
	return send_cmd_id(v, name, args, flags, cmd, tag, NULL);
}

/* "block-node:#block364" / "migration" / "chardev:mirror0" -> instance */
static json_t *yank_args(const struct fsm_action *a)
{
	json_t *inst = json_array();
	const char *s = a->u.qmp.yank;

	for (unsigned i = 0; s && i < a->u.qmp.n_yank; i++, s += strlen(s) + 1) {
		if (!strncmp(s, "block-node:", 11))
			json_array_append_new(inst, json_pack("{s:s,s:s}", "type", "block-node",
							      "node-name", s + 11));
		else if (!strncmp(s, "chardev:", 8))
			json_array_append_new(inst, json_pack("{s:s,s:s}", "type", "chardev",
							      "id", s + 8));
		else
			json_array_append_new(inst, json_pack("{s:s}", "type", s));
	}
	return json_pack("{s:o}", "instances", inst);
}

static const char *plain_name(enum fsm_qmp_cmd c)
{
	switch (c) {
	case FSM_QMP_YANK:
		return "yank";
	case FSM_QMP_LOST_HEARTBEAT:
		return "x-colo-lost-heartbeat";
	case FSM_QMP_QUERY_COLO_STATUS:
		return "query-colo-status";
	case FSM_QMP_QUERY_STATUS:
		return "query-status";
	case FSM_QMP_QUERY_MIGRATE:
		return "query-migrate";
	case FSM_QMP_CONT:
		return "cont";
	case FSM_QMP_STOP:
		return "stop";
	case FSM_QMP_QUIT:
		return "quit";
	default:
		return NULL;
	}
}

void daemon_vm_exec(struct daemon *d, const struct fsm_action *a)
{
	struct daemon_vm *v = daemon_vm_find(d, a->u.qmp.vm);
	enum fsm_qmp_cmd c = a->u.qmp.cmd;
	const char *name = plain_name(c);
	json_t *args = NULL;
	unsigned flags = a->u.qmp.oob ? QMP_CMD_OOB : 0;
	struct fsm_event ev;
	int64_t id = 0;
	int rc;

	if (!v || !v->qc) {
		rc = -ENOENT;
		goto fail;
	}
	if (c == FSM_QMP_YANK) {
		args = yank_args(a);
	} else if (c == FSM_QMP_PRE || c == FSM_QMP_POST) {
		const struct arb_qmp_cmd *list = c == FSM_QMP_PRE ? v->cfg.pre : v->cfg.post;
		unsigned n = c == FSM_QMP_PRE ? v->cfg.n_pre : v->cfg.n_post;

		if (a->u.qmp.index >= n) {
			rc = -EINVAL;
			goto fail;
		}
		name = list[a->u.qmp.index].execute;
		args = json_incref(list[a->u.qmp.index].args);
	}
	if (!name) {
		json_decref(args);
		rc = -EINVAL;
		goto fail;
	}
	if ((flags & QMP_CMD_OOB) && !qmp_client_oob(v->qc)) {
		/* no oob offered: in-band is all there is, and a hung QEMU won't read it */
		qb_log(LOG_WARNING, "node=%u vm=%s: %s sent in-band: this monitor has no oob",
		       d->nodeid, v->cfg.name, name);
		flags &= ~QMP_CMD_OOB;
	}
	rc = send_cmd_id(v, name, args, flags, c, &a->u.qmp.tag, &id);
	if (!rc && c == FSM_QMP_LOST_HEARTBEAT) {
		int64_t now = daemon_mono_us();

		/* the arbiter's own share, and the whole chain since corosync spoke */
		qb_log(LOG_NOTICE, "node=%u vm=%s: x-colo-lost-heartbeat written %.3f ms after "
		       "the event that sent it, %.3f ms after the last membership event (%s) "
		       "(id %" PRId64 ")",
		       d->nodeid, v->cfg.name, (double)(now - d->cur_ev_us) / 1000.0,
		       d->last_memb_us ? (double)(now - d->last_memb_us) / 1000.0 : -1.0,
		       d->last_memb_kind ? d->last_memb_kind : "none", id);
	}
	if (!rc)
		return;
fail:
	qb_log(LOG_WARNING, "node=%u vm=%s: %s not sent: %s", d->nodeid, a->u.qmp.vm,
	       fsm_qmp_cmd_to_str(c), strerror(-rc));
	/* the fsm must not wait for a reply that will never come */
	memset(&ev, 0, sizeof(ev));
	ev.kind = FSM_EV_QMP_RESULT;
	ev.u.result.tag = a->u.qmp.tag;
	ev.u.result.cmd = c;
	ev.u.result.result = FSM_RES_NOT_DELIVERED;
	daemon_post(d, &ev);
}

void daemon_vm_kill(struct daemon *d, const struct fsm_action *a)
{
	struct daemon_vm *v = daemon_vm_find(d, a->u.kill.vm);
	uint64_t start = 0;
	pid_t pid = (pid_t)a->u.kill.inst.pid;

	if (!pid) {
		qb_log(LOG_WARNING, "node=%u vm=%s: kill of an unknown instance skipped",
		       d->nodeid, a->u.kill.vm);
		return;
	}
	/* only if that pid is still the same incarnation */
	if (proc_start_time(pid, &start) || start != a->u.kill.inst.start) {
		qb_log(LOG_NOTICE, "node=%u vm=%s: instance %d/%" PRIu64 " already gone",
		       d->nodeid, a->u.kill.vm, (int)pid, a->u.kill.inst.start);
		return;
	}
	if (v && v->pidfd >= 0 && v->inst.pid == (uint32_t)pid)
		syscall(SYS_pidfd_send_signal, v->pidfd, SIGKILL, NULL, 0);
	else
		kill(pid, SIGKILL);
	qb_log(LOG_NOTICE, "node=%u vm=%s: SIGKILL sent to QEMU pid %d", d->nodeid,
	       a->u.kill.vm, (int)pid);
}

/* ---- QMP client callbacks -------------------------------------------- */

static void yank_set(struct daemon_vm *v)
{
	const struct qmp_yank_list *all = qmp_client_yank(v->qc);
	struct qmp_yank_list sel = { 0 };
	const char *ex[ARB_YANK_EXCLUDE_MAX];
	struct fsm_event ev;
	int rc;

	if (!all)
		return;
	for (unsigned i = 0; i < v->cfg.n_yank_exclude; i++)
		ex[i] = v->cfg.yank_exclude[i];
	rc = qmp_yank_select_peer(all, ex, v->cfg.n_yank_exclude, &sel);
	/* the fsm keeps the selection; the whole list, read amid the probes
	 * of every monitor, would stay scattered over the heap */
	qmp_client_yank_forget(v->qc);
	if (rc)
		return;
	ev_init(&ev, FSM_EV_QMP_YANK_SET, v);
	/*
	 * The block node (the only rescue of a flush hung on a silent NBD peer)
	 * and the migration stream first: QEMU lists chardevs before them, and a
	 * set cut at FSM_YANK_MAX must lose a chardev, never those.
	 */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < sel.n; i++) {
			char *dst = ev.u.qmp.yank[ev.u.qmp.n_yank % FSM_YANK_MAX];

			if ((sel.v[i].type == QMP_YANK_CHARDEV) != (pass == 1))
				continue;
			if (ev.u.qmp.n_yank == FSM_YANK_MAX) {
				/* say exactly what is left out */
				qb_log(LOG_ERR, "node=%u vm=%s: yank instance %s%s%s not carried "
				       "(fsm limit %d)", v->d->nodeid, v->cfg.name,
				       qmp_yank_type_to_str(sel.v[i].type), sel.v[i].name ? ":" : "",
				       sel.v[i].name ? sel.v[i].name : "", FSM_YANK_MAX);
				continue;
			}
			switch (sel.v[i].type) {
			case QMP_YANK_BLOCK_NODE:
				snprintf(dst, FSM_YANK_NAME_MAX, "block-node:%s", sel.v[i].name);
				break;
			case QMP_YANK_CHARDEV:
				snprintf(dst, FSM_YANK_NAME_MAX, "chardev:%s", sel.v[i].name);
				break;
			case QMP_YANK_MIGRATION:
				snprintf(dst, FSM_YANK_NAME_MAX, "migration");
				break;
			default:
				continue;
			}
			ev.u.qmp.n_yank++;
		}
	}
	qmp_yank_list_free(&sel);
	daemon_post(v->d, &ev);
}

static void fsm_add(struct daemon *d, struct daemon_vm *v)
{
	struct fsm_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = FSM_EV_ADMIN;
	ev.u.admin.kind = FSM_ADMIN_VM_ADD;
	snprintf(ev.u.admin.vm, sizeof(ev.u.admin.vm), "%s", v->cfg.name);
	ev.u.admin.peer_node = v->cfg.peer_node;
	ev.u.admin.n_pre = v->cfg.n_pre;
	ev.u.admin.n_post = v->cfg.n_post;
	v->in_fsm = true;
	daemon_post(d, &ev);
}

/* Why this QEMU cannot be a COLO side (NULL: it can). */
static const char *colo_missing(const struct daemon_vm *v)
{
	if (qmp_client_has_command(v->qc, "x-colo-lost-heartbeat") == 0)
		return "QEMU without COLO: no x-colo-lost-heartbeat in query-commands";
	if (qmp_client_has_command(v->qc, "query-colo-status") == 0)
		return "QEMU without COLO: no query-colo-status in query-commands";
	return NULL;
}

/*
 * A QEMU started with -compat unstable-input=reject still lists
 * x-colo-lost-heartbeat in query-commands but refuses it, and every other
 * unstable command, as CommandNotFound ("disabled by policy"): the failover
 * command would fail exactly when it is needed.  No query reports the
 * policy, so a harmless unstable query that query-commands lists is run
 * once per connection; CommandNotFound for a listed command can only be
 * that policy.
 */
#define UNSTABLE_PROBE "x-query-roms"
static const char unstable_refused[] = "QEMU started with -compat unstable-input=reject: "
	"it refuses x-colo-lost-heartbeat (an unstable command) although query-commands lists it";

static bool vm_refuse(struct daemon_vm *v, const char *why);

static void probe_done(struct qmp_client *c, const struct qmp_result *r, void *opaque)
{
	struct vm_cmd_ctx *x = opaque;
	struct daemon_vm *v = daemon_vm_find(x->d, x->vm);

	(void)c;
	if (v && r->kind == QMP_RESULT_ERROR &&
	    r->err_class == QMP_ERROR_CLASS_COMMAND_NOT_FOUND) {
		vm_refuse(v, unstable_refused);
	} else if (v && r->kind == QMP_RESULT_RETURN && v->refused == unstable_refused) {
		qb_log(LOG_NOTICE, "node=%u vm=%s: this QEMU accepts unstable commands: "
		       "managed again", v->d->nodeid, v->cfg.name);
		v->refused = NULL;
		fsm_add(v->d, v);
		daemon_status_changed(v->d);
	}
	free(x);
}

static void probe_unstable(struct daemon_vm *v)
{
	struct vm_cmd_ctx *x;

	if (qmp_client_has_command(v->qc, UNSTABLE_PROBE) != 1)
		return;
	x = calloc(1, sizeof(*x));
	if (!x)
		return;
	x->d = v->d;
	snprintf(x->vm, sizeof(x->vm), "%s", v->cfg.name);
	if (qmp_client_execute(v->qc, UNSTABLE_PROBE, NULL, 0, (unsigned)v->d->cfg.qmp_timeout_ms,
			       probe_done, x) < 0)
		free(x);
}

/* Asks the fsm to forget v: 0, or -EBUSY while one of v's sequences runs
 * (the fsm refuses then and v stays). */
static int vm_fsm_remove(struct daemon_vm *v)
{
	struct fsm_event ev;

	if (!v->in_fsm)
		return 0;
	memset(&ev, 0, sizeof(ev));
	ev.kind = FSM_EV_ADMIN;
	ev.u.admin.kind = FSM_ADMIN_VM_REMOVE;
	snprintf(ev.u.admin.vm, sizeof(ev.u.admin.vm), "%s", v->cfg.name);
	if (daemon_post(v->d, &ev) == -EBUSY)
		return -EBUSY;
	v->in_fsm = false;
	return 0;
}

/* Takes v out of the fsm; false if the fsm refuses (a sequence runs). */
static bool vm_refuse(struct daemon_vm *v, const char *why)
{
	struct daemon *d = v->d;

	if (vm_fsm_remove(v) == -EBUSY) {
		qb_log(LOG_ERR, "node=%u vm=%s: %s; not refused while a sequence runs",
		       d->nodeid, v->cfg.name, why);
		return false;
	}
	if (v->refused != why)
		qb_log(LOG_ERR, "node=%u vm=%s: refused: %s (never failed over; replace the "
		       "QEMU with a COLO build)", d->nodeid, v->cfg.name, why);
	v->refused = why;
	v->status = FSM_ST_UNKNOWN;
	v->where = 0;
	v->why = NULL;
	daemon_status_changed(d);
	return true;
}

static void on_ready(struct daemon_vm *v)
{
	struct daemon *d = v->d;
	pid_t pid = qmp_client_peer_pid(v->qc);
	uint64_t start = 0;
	struct fsm_event ev;
	const char *why;

	if (pid > 0 && proc_start_time(pid, &start))
		start = 0;
	if (v->inst.pid != (uint32_t)pid || v->inst.start != start) {
		pidfd_close(v);
		v->inst.pid = (uint32_t)pid;
		v->inst.start = start;
		if (pid > 0)
			pidfd_watch(v);
	}
	qb_log(LOG_NOTICE, "node=%u vm=%s: QMP up, QEMU pid %d (start %" PRIu64 "), oob %s",
	       d->nodeid, v->cfg.name, (int)pid, start, qmp_client_oob(v->qc) ? "yes" : "NO");
	why = colo_missing(v);
	if (why && vm_refuse(v, why)) {
		/* facts for status only; no query: nothing here decides on them */
		ev_init(&ev, FSM_EV_QMP_CONNECTED, v);
		vm_post(v, &ev);
		return;
	}
	/* one refused by its policy is managed again only once the probe passes */
	if (!why && v->refused && v->refused != unstable_refused) {
		qb_log(LOG_NOTICE, "node=%u vm=%s: this QEMU has COLO: managed again", d->nodeid,
		       v->cfg.name);
		v->refused = NULL;
		fsm_add(d, v);
	}
	probe_unstable(v);
	ev_init(&ev, FSM_EV_QMP_CONNECTED, v);
	daemon_post(d, &ev);
	yank_set(v);
	/* the facts the fsm needs before deciding on this VM (A10) */
	send_cmd(v, "query-colo-status", NULL, 0, FSM_QMP_QUERY_COLO_STATUS, NULL);
	send_cmd(v, "query-status", NULL, 0, FSM_QMP_QUERY_STATUS, NULL);
	send_cmd(v, "query-migrate", NULL, 0, FSM_QMP_QUERY_MIGRATE, NULL);
	if (d->notify && qmp_client_oob(v->qc) && !v->fd_stored &&
	    daemon_notify_fdstore(d, v->cfg.name, qmp_client_fd(v->qc)) == 0)
		v->fd_stored = true;
}

static void on_state(struct qmp_client *c, enum qmp_client_state old_state,
		     enum qmp_client_state new_state, const char *reason, void *opaque)
{
	struct daemon_vm *v = opaque;
	struct fsm_event ev;

	(void)c;
	if (new_state == QMP_CLIENT_READY || new_state == QMP_CLIENT_DISCONNECTED)
		v->probed = true;
	qb_log(new_state == QMP_CLIENT_DISCONNECTED && old_state == QMP_CLIENT_READY ?
	       LOG_WARNING : LOG_DEBUG, "node=%u vm=%s: QMP %s -> %s: %s", v->d->nodeid,
	       v->cfg.name, qmp_client_state_to_str(old_state),
	       qmp_client_state_to_str(new_state), reason ? reason : "");
	if (new_state == QMP_CLIENT_READY) {
		on_ready(v);
	} else if (old_state == QMP_CLIENT_READY) {
		if (v->fd_stored)
			daemon_notify_fdremove(v->d, v->cfg.name);
		v->fd_stored = false;
		ev_init(&ev, FSM_EV_QMP_LOST, v);
		vm_post(v, &ev);
	}
}

/* Events every failover brings, whose effect the arbiter confirms by a
 * query and logs itself: DEBUG (see send_cmd_id).  COLO_EXIT, SHUTDOWN and
 * anything unexpected stay at INFO. */
static bool routine_event(const char *name)
{
	static const char *const routine[] = {
		"STOP", "RESUME", "MIGRATION", "MIGRATION_PASS", "BLOCK_EXPORT_DELETED",
	};

	for (size_t i = 0; i < sizeof(routine) / sizeof(routine[0]); i++)
		if (!strcmp(name, routine[i]))
			return true;
	return false;
}

static void on_event(struct qmp_client *c, const char *name, json_t *data,
		     int64_t ts_sec, int64_t ts_usec, void *opaque)
{
	struct daemon_vm *v = opaque;
	struct fsm_event ev;

	(void)c;
	qb_log(routine_event(name) ? LOG_DEBUG : LOG_INFO,
	       "node=%u vm=%s: QMP event %s at %" PRId64 ".%06" PRId64, v->d->nodeid,
	       v->cfg.name, name, ts_sec, ts_usec);
	if (!strcmp(name, "COLO_EXIT")) {
		enum qmp_colo_mode m = QMP_COLO_MODE_NONE;
		enum qmp_colo_reason r = QMP_COLO_REASON_NONE;
		struct qmp_msg_error err;

		ev_init(&ev, FSM_EV_QMP_COLO_EXIT, v);
		if (data && qmp_colo_exit_parse(data, &m, &r, &err) == 0) {
			ev.u.qmp.mode = map_mode(m);
			ev.u.qmp.reason = map_reason(r);
		}
	} else if (!strcmp(name, "RESUME")) {
		ev_init(&ev, FSM_EV_QMP_RESUME, v);
	} else if (!strcmp(name, "STOP")) {
		ev_init(&ev, FSM_EV_QMP_STOP, v);
	} else if (!strcmp(name, "MIGRATION")) {
		const char *s = json_string_value(json_object_get(data, "status"));

		if (!s)
			return;
		ev_init(&ev, FSM_EV_QMP_MIGRATE, v);
		ev.u.qmp.mig = map_mig(qmp_migration_status_from_str(s));
	} else {
		return;
	}
	vm_post(v, &ev);
}

static void on_late_reply(struct qmp_client *c, const struct qmp_result *r, void *opaque)
{
	struct daemon_vm *v = opaque;

	(void)c;
	qb_log(LOG_INFO, "node=%u vm=%s: late reply to %s: %s", v->d->nodeid, v->cfg.name,
	       r->command, qmp_result_kind_to_str(r->kind));
}

static void on_error(struct qmp_client *c, bool fatal, const char *msg, void *opaque)
{
	struct daemon_vm *v = opaque;

	(void)c;
	qb_log(fatal ? LOG_WARNING : LOG_INFO, "node=%u vm=%s: QMP %s: %s", v->d->nodeid,
	       v->cfg.name, fatal ? "error" : "anomaly", msg);
}

void daemon_vm_note(struct daemon *d, const struct fsm_event *ev)
{
	struct daemon_vm *v;
	struct fsm_side_report *l;

	if (ev->kind == FSM_EV_PEER_MSG) {
		const struct fsm_msg *m = &ev->u.peer.msg;

		v = m->kind == FSM_MSG_STATE ? daemon_vm_find(d, m->vm) : NULL;
		if (v && ev->u.peer.from == v->cfg.peer_node) {
			v->peer_reported = true;
			v->peer = m->side;
		}
		return;
	}
	if (ev->kind < FSM_EV_QMP_CONNECTED || ev->kind > FSM_EV_QEMU_EXITED ||
	    ev->kind == FSM_EV_QMP_RESULT)
		return;
	v = daemon_vm_find(d, ev->u.qmp.vm);
	if (!v)
		return;
	l = &v->local;
	switch (ev->kind) {
	case FSM_EV_QMP_CONNECTED:
		l->connected = l->alive = l->present = true;
		l->inst = ev->u.qmp.inst;
		break;
	case FSM_EV_QMP_LOST:
		l->connected = false;
		break;
	case FSM_EV_QEMU_EXITED:
		l->connected = l->alive = false;
		break;
	case FSM_EV_QMP_COLO_EXIT:
		l->colo_exit_seen = true;
		break;
	case FSM_EV_QMP_COLO_STATUS:
		l->mode = ev->u.qmp.mode;
		l->last_mode = ev->u.qmp.last_mode;
		l->reason = ev->u.qmp.reason;
		break;
	case FSM_EV_QMP_STATUS:
		l->run = ev->u.qmp.run;
		break;
	case FSM_EV_QMP_MIGRATE:
		l->mig = ev->u.qmp.mig;
		break;
	case FSM_EV_QMP_RESUME:
		l->run = FSM_RUN_RUNNING;
		break;
	case FSM_EV_QMP_STOP:
		l->run = FSM_RUN_PAUSED;
		break;
	default:
		break;
	}
}

/* ---- registry of local sides ----------------------------------------- */

int daemon_vm_add(struct daemon *d, struct arb_vm_config *cfg, bool runtime)
{
	struct daemon_vm *v, **pp;

	if (daemon_vm_find(d, cfg->name))
		return -EEXIST;
	if (d->n_vms >= FSM_MAX_VMS)
		return -ENOSPC;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->d = d;
	v->cfg = *cfg; /* takes the command lists */
	memset(cfg, 0, sizeof(*cfg));
	v->runtime = runtime;
	v->pidfd = -1;
	v->seen = true;
	for (pp = &d->vms; *pp; pp = &(*pp)->next)
		;
	*pp = v;
	d->n_vms++;
	idx_add(d, v);
	qb_log(LOG_NOTICE, "node=%u vm=%s: registered (%s, peer node %u, qmp %s%s)", d->nodeid,
	       v->cfg.name, v->cfg.role, v->cfg.peer_node, v->cfg.qmp,
	       runtime ? ", run time" : "");
	if (d->fsm)
		daemon_vm_activate(d, v, -1);
	return 0;
}

void daemon_vm_activate(struct daemon *d, struct daemon_vm *v, int adopt_fd)
{
	struct qmp_client_config qc = { 0 };
	struct qmp_client_callbacks cb = {
		.on_state = on_state,
		.on_event = on_event,
		.on_late_reply = on_late_reply,
		.on_error = on_error,
	};

	if (!v->in_fsm && !v->refused)
		fsm_add(d, v);
	if (v->qc) {
		if (adopt_fd >= 0)
			close(adopt_fd);
		return;
	}
	if (!d->qmp_cmdsets)
		d->qmp_cmdsets = qmp_cmdset_cache_new(); /* NULL: own copies */
	qc.cmdset_cache = d->qmp_cmdsets;
	qc.path = v->cfg.qmp;
	qc.first_id = d->qmp_first_id;
	qc.hub = d->hub_qmp;
	qc.timers = d->timers_qmp;
	d->qmp_first_id += 1000000;
	v->qc = qmp_client_new(d->loop, &qc, &cb, v);
	if (!v->qc) {
		qb_log(LOG_ERR, "node=%u vm=%s: cannot create the QMP client: %s", d->nodeid,
		       v->cfg.name, strerror(errno));
		if (adopt_fd >= 0)
			close(adopt_fd);
		return;
	}
	if (adopt_fd >= 0) {
		struct qmp_client_adopt ad = { .oob = true };
		int rc = qmp_client_adopt_fd(v->qc, adopt_fd, &ad);

		if (rc == 0) {
			qb_log(LOG_NOTICE, "node=%u vm=%s: adopted the stored QMP fd", d->nodeid,
			       v->cfg.name);
			v->fd_stored = true;
			return;
		}
		qb_log(LOG_WARNING, "node=%u vm=%s: cannot adopt stored fd: %s", d->nodeid,
		       v->cfg.name, strerror(-rc));
		close(adopt_fd);
	}
	qmp_client_start(v->qc);
}

static void vm_free(struct daemon *d, struct daemon_vm *v)
{
	if (v->fd_stored && !d->stopping)
		daemon_notify_fdremove(d, v->cfg.name);
	qmp_client_free(v->qc);
	pidfd_close(v);
	config_vm_free(&v->cfg);
	free(v);
}

int daemon_vm_remove(struct daemon *d, struct daemon_vm *v)
{
	struct daemon_vm **pp;

	for (pp = &d->vms; *pp && *pp != v; pp = &(*pp)->next)
		;
	if (!*pp)
		return -ENOENT;
	if (vm_fsm_remove(v) == -EBUSY) {
		qb_log(LOG_WARNING, "node=%u vm=%s: not removed: a sequence is running",
		       d->nodeid, v->cfg.name);
		return -EBUSY;
	}
	*pp = v->next;
	d->n_vms--;
	idx_rebuild(d, d->vm_idx_cap);
	qb_log(LOG_NOTICE, "node=%u vm=%s: removed", d->nodeid, v->cfg.name);
	vm_free(d, v);
	return 0;
}

bool daemon_vm_all_probed(const struct daemon *d)
{
	for (const struct daemon_vm *v = d->vms; v; v = v->next)
		if (v->qc && !v->probed)
			return false;
	return true;
}

void daemon_vm_free_all(struct daemon *d)
{
	while (d->vms) {
		struct daemon_vm *v = d->vms;

		d->vms = v->next;
		vm_free(d, v);
	}
	free(d->vm_idx);
	d->vm_idx = NULL;
	d->vm_idx_cap = d->n_vms = 0;
	qmp_cmdset_cache_free(d->qmp_cmdsets);
	d->qmp_cmdsets = NULL;
}
