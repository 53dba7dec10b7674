/*
 * daemon_status.c: the `status` snapshot (contract shape of issue 5),
 * built from the fsm's status (fsm_status_cluster_json(), fsm_vm_status_json())
 * plus the daemon's own cluster and QMP facts,
 * and its copy in run_dir/status.json (rewritten atomically after a change,
 * at most every 100 ms, or ten times as long as a snapshot takes to build,
 * at most 1 s: with hundreds of VMs changing during a failover a snapshot
 * every 100 ms took a large share of the loop; and not while a VM's
 * failover or freeze commands are due, for up to 1 s) for tests and for
 * looking at a node without colo-arbiterctl.  Builds data only; decides nothing.
 */
#include "daemon.h"
#include "config_lex.h"
#include "daemon_control.h"
#include "file_util.h"

#include <errno.h>
#include <fcntl.h>
#include <qb/qblog.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATUS_DELAY_MIN_MS 100
#define STATUS_DELAY_MAX_MS 1000
#define STATUS_DEFER_MS 20

static json_t *side_json(const struct fsm_side_report *s, bool local)
{
	json_t *o = json_pack("{s:b,s:s,s:s,s:s,s:s}", "connected", s->connected,
			      "mode", fsm_colo_mode_to_str(s->mode),
			      "last_mode", fsm_colo_mode_to_str(s->last_mode),
			      "reason", fsm_colo_reason_to_str(s->reason),
			      "run", fsm_run_state_to_str(s->run));

	if (!o)
		return json_null();
	json_object_set_new(o, "migration", json_string(fsm_mig_state_to_str(s->mig)));
	json_object_set_new(o, "alive", json_boolean(s->alive));
	if (local) {
		json_object_set_new(o, "pid", json_integer(s->inst.pid));
		json_object_set_new(o, "start", json_integer((json_int_t)s->inst.start));
	}
	return o;
}

static json_t *cluster_json(struct daemon *d, json_t *fs)
{
	json_t *members = json_array(), *o;
	char r[MEMBERSHIP_RING_ID_STRLEN], q[MEMBERSHIP_RING_ID_STRLEN];
	const char *gate_reason = fs ? json_string_value(json_object_get(fs, "gate_closed")) :
				  "not started";

	for (unsigned i = 0; i < d->n_members; i++)
		json_array_append_new(members, json_integer(d->members[i]));
	membership_ring_id_to_str(&d->ring, r, sizeof(r));
	membership_ring_id_to_str(&d->qring, q, sizeof(q));
	o = json_pack("{s:b,s:s,s:s,s:o,s:s,s:s?,s:{s:b,s:b},s:s,s:s}",
			 "quorate", d->quorate, "ring_id", r, "quorum_ring_id", q,
			 "members", members,
			 "gate", d->fsm && fsm_gate_open(d->fsm) ? "open" : "closed",
			 "gate_reason", gate_reason, "ipc", "cpg", d->ipc_cpg, "quorum",
			 d->ipc_quorum, "fence_policy",
			 fsm_fence_policy_to_str(d->cfg.fence_policy), "no_quorum",
			 d->cfg.no_quorum == FSM_NOQUORUM_KILL ? "kill" : "freeze");
	if (o)
		json_object_set_new(o, "watchdog", json_string(!d->wdog_on ? "none" :
							       d->wdog_petting ? "petted" :
							       "not petted"));
	return o;
}

static json_t *vm_json(struct daemon *d, struct daemon_vm *v)
{
	json_t *fv = d->fsm ? fsm_vm_status_json(d->fsm, v->cfg.name) : NULL;
	json_t *o = json_pack("{s:s,s:s,s:I}", "name", v->cfg.name, "role", v->cfg.role,
			      "peer_node", (json_int_t)v->cfg.peer_node);

	if (!o) {
		json_decref(fv);
		return NULL;
	}
	json_object_set(o, "epoch", fv ? json_object_get(fv, "epoch") : json_null());
	json_object_set_new(o, "status", json_string(v->refused ? "refused" :
						     fsm_vm_status_to_str(v->status)));
	json_object_set_new(o, "why", v->refused ? json_string(v->refused) :
			    v->why ? json_string(v->why) : json_null());
	json_object_set_new(o, "where", json_integer(v->where));
	json_object_set_new(o, "protected", json_boolean(v->status == FSM_ST_PROTECTED));
	json_object_set_new(o, "frozen", json_boolean(fv &&
				json_is_true(json_object_get(fv, "frozen"))));
	json_object_set_new(o, "local", side_json(&v->local, true));
	if (v->peer_reported) {
		json_t *p = side_json(&v->peer, false);
		bool in_ring = false;

		for (unsigned i = 0; i < d->n_members; i++)
			in_ring |= d->members[i] == v->cfg.peer_node;
		json_object_set_new(p, "reported", json_true());
		/* a lost node's last report is history, not its state */
		json_object_set_new(p, "current", json_boolean(in_ring));
		json_object_set_new(o, "peer", p);
	} else {
		json_object_set_new(o, "peer", json_pack("{s:b}", "reported", 0));
	}
	json_decref(fv);
	return o; /* "last_decision" is spliced in as text (daemon_status_text) */
}

static int sbuf_add(const char *buf, size_t n, void *data)
{
	struct config_sbuf *b = data;

	config_sbuf_printf(b, "%.*s", (int)n, buf);
	return b->oom ? -1 : 0;
}

static void sbuf_json(struct config_sbuf *b, json_t *j)
{
	if (!j || json_dump_callback(j, sbuf_add, b, JSON_COMPACT | JSON_ENCODE_ANY))
		b->oom = true;
	json_decref(j);
}

/*
 * The snapshot as compact JSON text: {"node":..,"cluster":..,"vms":[..],
 * "nodes":..}, one VM's jansson tree at a time.  The whole tree for 500
 * VMs was ~3 MB of small blocks, several times a second while VMs change;
 * freed, its holes stayed in the heap between longer-lived blocks
 * allocated meanwhile (heaptrack: the daemon's peak, and ~1 MB of its
 * idle RSS).  NULL when out of memory.
 */
char *daemon_status_text(struct daemon *d)
{
	json_t *fs = d->fsm ? fsm_status_cluster_json(d->fsm) : NULL;
	struct config_sbuf b = { 0 };
	char host[64] = "";
	bool first = true;

	gethostname(host, sizeof(host) - 1);
	config_sbuf_printf(&b, "{\"node\":");
	sbuf_json(&b, json_pack("{s:I,s:s}", "id", (json_int_t)d->nodeid, "name", host));
	config_sbuf_printf(&b, ",\"cluster\":");
	sbuf_json(&b, cluster_json(d, fs));
	config_sbuf_printf(&b, ",\"vms\":[");
	for (struct daemon_vm *v = d->vms; v; v = v->next) {
		json_t *o = vm_json(d, v);

		if (!o)
			continue;
		config_sbuf_printf(&b, "%s", first ? "" : ",");
		first = false;
		sbuf_json(&b, o);
		/* the last decision (on_audit) goes in as text, as the
		 * object's last member */
		if (!b.oom && b.len && b.p[b.len - 1] == '}') {
			char *last = v->has_last ? fsm_last_decision_text(&v->last, v->cfg.name)
						 : NULL;

			b.len--;
			if (v->has_last && !last)
				b.oom = true;
			config_sbuf_printf(&b, ",\"last_decision\":%s}", last ? last : "null");
			free(last);
		}
	}
	config_sbuf_printf(&b, "]");
	if (fs && json_object_get(fs, "nodes")) {
		config_sbuf_printf(&b, ",\"nodes\":");
		sbuf_json(&b, json_incref(json_object_get(fs, "nodes")));
	}
	config_sbuf_printf(&b, "}");
	json_decref(fs);
	return config_sbuf_finish(&b);
}

/* Whether a VM here is between a decision and its command: failing over
 * or freezing. */
static bool commands_due(const struct daemon *d)
{
	for (const struct daemon_vm *v = d->vms; v; v = v->next)
		if (v->status == FSM_ST_FAILING_OVER || v->status == FSM_ST_FREEZING)
			return true;
	return false;
}

static void status_dump(void *data)
{
	struct daemon *d = data;
	char path[ARB_PATH_MAX + 32], tmp[ARB_PATH_MAX + 32];
	int64_t t0 = daemon_mono_us(), ms;
	char *s;
	int fd, rc;

	/* The failover's commands go first: a snapshot of 500 VMs holds the
	 * loop ~8 ms, and one that fell due amid a node loss held back the
	 * last x-colo-lost-heartbeat by as much (BENCHMARKS.md).  It waits
	 * while commands are due, at most STATUS_DELAY_MAX_MS after the
	 * change that asked for it. */
	if (t0 / 1000 - d->status_asked_ms < STATUS_DELAY_MAX_MS && commands_due(d) &&
	    qb_loop_timer_add(d->loop, QB_LOOP_LOW, STATUS_DEFER_MS * QB_TIME_NS_IN_MSEC, d,
			      status_dump, &d->status_timer) == 0)
		return;
	d->status_dirty = false;
	s = daemon_status_text(d);
	if (!s)
		return;
	snprintf(path, sizeof(path), "%s/status.json", d->cfg.run_dir);
	snprintf(tmp, sizeof(tmp), "%s/.status.json.tmp", d->cfg.run_dir);
	mkdir(d->cfg.run_dir, 0750);
	/* tmpfs under /run: no fsync, a reader just sees old or new */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	rc = fd < 0 ? -errno : file_write_all(fd, s, strlen(s));
	if (fd >= 0 && close(fd) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (rc) {
		qb_log(LOG_DEBUG, "status dump: %s", strerror(-rc));
		if (fd >= 0)
			unlink(tmp);
	}
	daemon_control_broadcast_text(d, "STATUS", s);
	free(s);
	daemon_mem_trim_soon(d);
	ms = (daemon_mono_us() - t0) / 1000;
	d->status_delay_ms = ms * 10 < STATUS_DELAY_MIN_MS ? STATUS_DELAY_MIN_MS :
			     ms * 10 > STATUS_DELAY_MAX_MS ? STATUS_DELAY_MAX_MS : (unsigned)ms * 10;
}

void daemon_status_changed(struct daemon *d)
{
	if (d->status_dirty || d->stopping)
		return;
	d->status_asked_ms = daemon_mono_us() / 1000;
	if (qb_loop_timer_add(d->loop, QB_LOOP_LOW,
			      (uint64_t)(d->status_delay_ms ? d->status_delay_ms :
					 STATUS_DELAY_MIN_MS) * QB_TIME_NS_IN_MSEC,
			      d, status_dump, &d->status_timer) == 0)
		d->status_dirty = true;
}

void daemon_status_stop(struct daemon *d)
{
	if (d->status_dirty)
		qb_loop_timer_del(d->loop, d->status_timer);
	d->status_dirty = false;
}
