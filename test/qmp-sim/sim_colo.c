/*
 * sim_colo.c: the QEMU COLO model of qmp-sim, as recorded on QEMU 7.2 (and
 * the broken 10.0.2 backport): commands, pair formation, failover with its
 * recorded event order and delays, the NBD flush hang after a silent loss and
 * its rescue by an OOB yank, and how each side reacts to its peer's death.
 * All state lives in struct sim_vm; every timed effect is a sim_job.
 * It must not do socket I/O itself (sim_monitor.c sends).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

static int block_counter = 300;

const char *sim_build_to_str(enum sim_build b)
{
	switch (b) {
	case SIM_BUILD_COLO: return "colo";
	case SIM_BUILD_NO_COLO: return "no-colo";
	case SIM_BUILD_QEMU10_BROKEN: return "qemu10-broken";
	}
	return "?";
}

const char *colo_mode_to_str(enum colo_mode m)
{
	switch (m) {
	case COLO_MODE_NONE: return "none";
	case COLO_MODE_PRIMARY: return "primary";
	case COLO_MODE_SECONDARY: return "secondary";
	}
	return "?";
}

const char *colo_reason_to_str(enum colo_reason r)
{
	switch (r) {
	case COLO_REASON_NONE: return "none";
	case COLO_REASON_REQUEST: return "request";
	case COLO_REASON_ERROR: return "error";
	case COLO_REASON_PROCESSING: return "processing";
	}
	return "?";
}

static const char *link_to_str(enum sim_link l)
{
	switch (l) {
	case LINK_OK: return "ok";
	case LINK_RESET: return "reset";
	case LINK_SILENT: return "silent";
	}
	return "?";
}

void colo_delays_default(struct sim_delays *d, bool fast)
{
	uint32_t *p, *end;

	*d = (struct sim_delays){
		.p_stop = 500, .p_migrated = 600, .p_reply = 1300,
		.p_exit = 1450, .p_resume = 1500,
		.s_stop = 800, .s_migrated = 3900, .s_exit = 4000,
		.s_reply = 14000, .s_resume = 15000,
		.s_notice_kill = 3100, .s_notice_reset = 4000,
		.s_notice_yank = 1500, .rescue = 2000,
		.stop_event = 500, .stop_reply = 600,
		.checkpoint_fail = 800, .checkpoint_silent = 924000000, .quit_exit = 30000,
		.blockdev_add_nbd = 90000,
		.mig_s_active = 500, .mig_pass1 = 1500, .mig_block_p = 45000, .mig_active = 1600,
		.mig_pass2 = 83000, .mig_colo_p = 84000, .mig_colo_s = 86000,
		.mig_resume_s = 90000, .mig_resume_p = 90300,
		.q10_device = 360000, .q10_pass2 = 360500,
		.q10_completed = 361700, .q10_colo_s = 362600,
		.q10_resume_s = 365000, .q10_exit_s = 365200,
	};
	if (!fast)
		return;
	/* same order of effects, a hundred times faster */
	p = (uint32_t *)d;
	end = (uint32_t *)(d + 1);
	for (; p < end; p++)
		*p /= 100;
}

/* ------------------------------------------------------------------ jobs */

struct sim_job *sim_job_new(struct sim_vm *vm, bool blocks)
{
	struct sim_job *j = calloc(1, sizeof(*j));

	if (!j)
		abort();
	j->vm = vm;
	j->blocks = blocks;
	j->start_us = sim_now_us();
	return j;
}

void sim_job_add(struct sim_job *job, uint64_t at_us, enum sim_step_op op,
		 const char *event, json_t *data, sim_step_fn fn)
{
	struct sim_step *s;

	if (job->nsteps == job->cap) {
		size_t cap = job->cap ? job->cap * 2 : 8;
		struct sim_step *ns = realloc(job->steps, cap * sizeof(*ns));

		if (!ns)
			abort();
		job->steps = ns;
		job->cap = cap;
	}
	s = &job->steps[job->nsteps++];
	s->at_us = at_us;
	s->op = op;
	s->event = event ? strdup(event) : NULL;
	s->data = data;
	s->fn = fn;
}

void sim_job_free(struct sim_job *job)
{
	size_t i;

	for (i = 0; i < job->nsteps; i++) {
		free(job->steps[i].event);
		json_decref(job->steps[i].data);
	}
	free(job->steps);
	json_decref(job->id);
	json_decref(job->reply);
	free(job->what);
	free(job);
}

/* The disk flush waits forever on an NBD peer that silently vanished. */
static bool flush_hangs(const struct sim_vm *vm)
{
	return vm->nbd_node[0] && !vm->nbd_yanked &&
	       vm->nbd_link == LINK_SILENT;
}

static bool flush_fails(const struct sim_vm *vm)
{
	return vm->nbd_node[0] && (vm->nbd_yanked || vm->nbd_link == LINK_RESET);
}

struct sim_job *sim_current_job;

void sim_job_step(struct sim_job *job)
{
	struct sim_vm *vm = job->vm;
	struct sim_step *s;

	if (job->hung || job->pos >= job->nsteps)
		return;
	s = &job->steps[job->pos++];
	sim_current_job = job;
	switch (s->op) {
	case STEP_EVENT:
		if (!strncmp(s->event, "MIGRATION", 9) && !vm->cap_events)
			break;
		sim_vm_event(vm, s->event, s->data);
		break;
	case STEP_REPLY:
		if (job->reply) {
			sim_vm_reply(vm, job->conn_id, job->id, job->reply,
				     job->reply_is_error);
			job->reply = NULL;
			if (job->drop_after_reply) {
				struct sim_conn *c = sim_conn_find(vm,
								   job->conn_id);

				if (c)
					c->closing = true;
			}
		}
		break;
	case STEP_CALL:
		s->fn(vm, job);
		break;
	case STEP_HANG:
		if (flush_hangs(vm)) {
			job->hung = true;
			sim_logf("%s: %s hangs in the NBD flush", vm->name,
				 job->what ? job->what : "?");
		}
		break;
	case STEP_DONE:
		if (vm->inband == job)
			vm->inband = NULL;
		break;
	}
	sim_current_job = NULL;
}

void sim_job_run(struct sim_job *job)
{
	uint64_t now = sim_now_us();

	while (!job->hung && job->pos < job->nsteps &&
	       job->start_us + job->steps[job->pos].at_us <= now)
		sim_job_step(job);
}

/* A yank of the NBD node (or a heal) lets a stuck flush return. */
static void colo_rescue(struct sim_vm *vm, bool failed)
{
	struct sim_job *j = vm->inband;
	uint64_t now = sim_now_us();

	if (!j || !j->hung)
		return;
	j->hung = false;
	j->rescued = failed;
	if (j->pos < j->nsteps)
		j->start_us = now + vm->d.rescue - j->steps[j->pos].at_us;
	sim_logf("%s: %s rescued", vm->name, j->what ? j->what : "?");
}

/* After a failed flush through quorum, QEMU reports the bad child. */
static void step_quorum_report(struct sim_vm *vm, struct sim_job *job)
{
	if ((job->rescued || flush_fails(vm)) && vm->repl_attached) {
		json_t *d = json_pack("{s:s,s:i,s:i,s:s,s:s}", "node-name",
				      "replication0", "sectors-count", 0,
				      "sector-num", 0, "type", "flush",
				      "error", "Input/output error");

		sim_vm_event(vm, "QUORUM_REPORT_BAD", d);
		json_decref(d);
	}
}

static void add_call(struct sim_job *j, uint64_t at, sim_step_fn fn)
{
	sim_job_add(j, at, STEP_CALL, NULL, NULL, fn);
}

static struct sim_job *reply_job(struct sim_vm *vm, struct sim_conn *c,
				 const char *cmd, json_t *id, json_t *ret,
				 bool is_error)
{
	struct sim_job *j = sim_job_new(vm, true);

	j->conn_id = c->id;
	j->id = id ? json_incref(id) : NULL;
	j->reply = ret;
	j->reply_is_error = is_error;
	j->what = strdup(cmd);
	return j;
}

static json_t *colo_exit_data(enum colo_mode m, enum colo_reason r)
{
	return json_pack("{s:s,s:s}", "mode", colo_mode_to_str(m), "reason",
			 colo_reason_to_str(r));
}

static void set_status(struct sim_vm *vm, const char *st, bool running)
{
	snprintf(vm->status, sizeof(vm->status), "%s", st);
	vm->running = running;
}

/* ------------------------------------------------------------- the model */

static void add_chardev(struct sim_vm *vm, const char *label, bool peer,
			bool fe_open)
{
	struct sim_chardev *c;

	if (vm->nchardevs >= (int)ARRAY_SIZE(vm->chardevs))
		return;
	c = &vm->chardevs[vm->nchardevs++];
	snprintf(c->label, sizeof(c->label), "%s", label);
	c->present = true;
	c->peer_facing = peer;
	c->frontend_open = fe_open;
}

static struct sim_chardev *find_chardev(struct sim_vm *vm, const char *label)
{
	int i;

	for (i = 0; i < vm->nchardevs; i++)
		if (vm->chardevs[i].present &&
		    !strcmp(vm->chardevs[i].label, label))
			return &vm->chardevs[i];
	return NULL;
}

void colo_vm_init(struct sim_vm *vm, bool incoming)
{
	size_t i;

	if (incoming)
		set_status(vm, "inmigrate", false);
	else
		set_status(vm, "running", true);
	vm->mig_params = sim_default_mig_params();
	vm->mig_caps = json_object();
	for (i = 0; i < sim_mig_ncapabilities; i++)
		json_object_set_new(vm->mig_caps, sim_mig_capabilities[i],
				    json_false());
	vm->nbd_exports = json_array();
	vm->objects = json_object();
	vm->setup_time = 1;
	/* the recorded command lines: proxy chardevs and filter objects */
	if (incoming) {
		add_chardev(vm, "red0", true, true);
		add_chardev(vm, "red1", true, false);
		add_chardev(vm, "serial0", false, true);
		json_object_set_new(vm->objects, "f1",
				    json_string("filter-redirector"));
		json_object_set_new(vm->objects, "f2",
				    json_string("filter-redirector"));
		json_object_set_new(vm->objects, "rew0",
				    json_string("filter-rewriter"));
	} else {
		add_chardev(vm, "mirror0", true, false);
		add_chardev(vm, "compare1", true, true);
		add_chardev(vm, "compare0", false, false);
		add_chardev(vm, "compare0-0", false, true);
		add_chardev(vm, "compare_out", false, true);
		add_chardev(vm, "compare_out0", false, false);
		add_chardev(vm, "serial0", false, true);
		json_object_set_new(vm->objects, "m0",
				    json_string("filter-mirror"));
		json_object_set_new(vm->objects, "redire0",
				    json_string("filter-redirector"));
		json_object_set_new(vm->objects, "redire1",
				    json_string("filter-redirector"));
		json_object_set_new(vm->objects, "iothread1",
				    json_string("iothread"));
		json_object_set_new(vm->objects, "comp0",
				    json_string("colo-compare"));
	}
}

static struct sim_vm *peer_of(const struct sim_vm *vm)
{
	return sim_vm_find(vm->peer);
}

bool colo_command_known(const struct sim_vm *vm, const char *cmd)
{
	size_t i;

	if (vm->build == SIM_BUILD_NO_COLO &&
	    (!strcmp(cmd, "x-colo-lost-heartbeat") ||
	     !strcmp(cmd, "query-colo-status") ||
	     !strcmp(cmd, "xen-colo-do-checkpoint")))
		return false;
	for (i = 0; i < sim_qemu72_ncommands; i++)
		if (!strcmp(sim_qemu72_commands[i], cmd))
			return true;
	return false;
}

bool colo_command_oob(const char *cmd)
{
	/* QEMU 7.2's allow-oob commands that matter here */
	return !strcmp(cmd, "yank") || !strcmp(cmd, "migrate-pause") ||
	       !strcmp(cmd, "migrate-recover");
}

static bool in_colo(const struct sim_vm *vm)
{
	return vm->mode != COLO_MODE_NONE;
}

static enum colo_reason requested_exit_reason(struct sim_vm *vm)
{
	switch (vm->exit_reason) {
	case EXIT_REASON_REQUEST:
		return COLO_REASON_REQUEST;
	case EXIT_REASON_ERROR:
		return COLO_REASON_ERROR;
	case EXIT_REASON_RANDOM:
		/* xorshift32: reproducible with the "seed" knob */
		vm->rand_state ^= vm->rand_state << 13;
		vm->rand_state ^= vm->rand_state >> 17;
		vm->rand_state ^= vm->rand_state << 5;
		return (vm->rand_state % 8) == 0 ? COLO_REASON_ERROR :
						     COLO_REASON_REQUEST;
	}
	return COLO_REASON_REQUEST;
}

/* --- failover (x-colo-lost-heartbeat) --- */

static void fo_stop(struct sim_vm *vm, struct sim_job *j)
{
	set_status(vm, "paused", false);
	sim_vm_event(vm, "STOP", NULL);
}

static void fo_migrated(struct sim_vm *vm, struct sim_job *j)
{
	snprintf(vm->migration, sizeof(vm->migration), "completed");
	if (vm->cap_events) {
		json_t *d = json_pack("{s:s}", "status", "completed");

		sim_vm_event(vm, "MIGRATION", d);
		json_decref(d);
	}
}

static void fo_exit(struct sim_vm *vm, struct sim_job *j)
{
	json_t *d;

	if (vm->colo_exited)
		return;
	vm->colo_exited = true;
	d = colo_exit_data(vm->mode, requested_exit_reason(vm));
	sim_vm_event(vm, "COLO_EXIT", d);
	json_decref(d);
}

static void peer_exit_error(struct sim_vm *vm, struct sim_job *j)
{
	json_t *d;

	if (vm->colo_exited || !in_colo(vm) || !vm->alive || vm->vanished)
		return;
	vm->colo_exited = true;
	d = colo_exit_data(vm->mode, COLO_REASON_ERROR);
	sim_vm_event(vm, "COLO_EXIT", d);
	json_decref(d);
}

static void schedule_exit_error(struct sim_vm *vm, uint32_t delay)
{
	struct sim_job *j;

	if (!vm || !vm->alive || vm->vanished || !in_colo(vm) ||
	    vm->colo_exited)
		return;
	j = sim_job_new(vm, false);
	j->what = strdup("colo-exit-error");
	add_call(j, delay, peer_exit_error);
	sim_job_schedule(j);
}

static void fo_resume(struct sim_vm *vm, struct sim_job *j)
{
	struct sim_vm *peer = peer_of(vm);
	enum colo_mode was = vm->mode;

	set_status(vm, "running", true);
	vm->last_mode = vm->mode;
	vm->mode = COLO_MODE_NONE;
	vm->reason = COLO_REASON_REQUEST;
	vm->failover_in_flight = false;
	sim_vm_event(vm, "RESUME", NULL);
	/* the failover closed our end of the migration stream */
	if (peer && peer->alive) {
		if (peer->mig_link == LINK_OK)
			peer->mig_link = LINK_RESET;
		if (was == COLO_MODE_PRIMARY && vm->mig_link == LINK_OK)
			schedule_exit_error(peer, peer->d.s_notice_kill);
	}
}

static struct sim_job *cmd_lost_heartbeat(struct sim_vm *vm,
					  struct sim_conn *c, json_t *id,
					  json_t **ret, bool *is_error)
{
	const struct sim_delays *d = &vm->d;
	struct sim_job *j;

	if (!in_colo(vm)) {
		*ret = sim_error("GenericError", "%s",
				 vm->build == SIM_BUILD_QEMU10_BROKEN ?
				 "VM is not in COLO mode" :
				 "The feature 'colo' is not enabled");
		*is_error = true;
		return NULL;
	}
	if (vm->failover_in_flight) {
		*ret = sim_error("GenericError",
				 "COLO failover is already activated");
		*is_error = true;
		return NULL;
	}
	vm->failover_in_flight = true;
	j = reply_job(vm, c, "x-colo-lost-heartbeat", id, json_object(),
		      false);
	if (vm->mode == COLO_MODE_PRIMARY) {
		add_call(j, d->p_stop, fo_stop);
		/* vm_stop() flushes the disks: hangs on a silent NBD peer */
		sim_job_add(j, d->p_stop, STEP_HANG, NULL, NULL, NULL);
		add_call(j, d->p_stop, step_quorum_report);
		add_call(j, d->p_migrated, fo_migrated);
		sim_job_add(j, d->p_reply, STEP_REPLY, NULL, NULL, NULL);
		add_call(j, d->p_exit, fo_exit);
		add_call(j, d->p_resume, fo_resume);
		sim_job_add(j, d->p_resume, STEP_DONE, NULL, NULL, NULL);
	} else {
		add_call(j, d->s_stop, fo_stop);
		add_call(j, d->s_migrated, fo_migrated);
		add_call(j, d->s_exit, fo_exit);
		sim_job_add(j, d->s_reply, STEP_REPLY, NULL, NULL, NULL);
		add_call(j, d->s_resume, fo_resume);
		sim_job_add(j, d->s_resume, STEP_DONE, NULL, NULL, NULL);
	}
	return j;
}

/* --- stop / cont / quit --- */

static void stop_paused(struct sim_vm *vm, struct sim_job *j)
{
	if (strcmp(vm->status, "inmigrate"))
		set_status(vm, "paused", false);
}

static struct sim_job *cmd_stop(struct sim_vm *vm, struct sim_conn *c,
				json_t *id)
{
	const struct sim_delays *d = &vm->d;
	struct sim_job *j = reply_job(vm, c, "stop", id, json_object(), false);

	if (!strcmp(vm->status, "inmigrate")) {
		sim_job_add(j, 0, STEP_REPLY, NULL, NULL, NULL);
		sim_job_add(j, 0, STEP_DONE, NULL, NULL, NULL);
		return j;
	}
	if (vm->running)
		add_call(j, d->stop_event, fo_stop);
	else
		add_call(j, d->stop_event, stop_paused);
	sim_job_add(j, d->stop_event, STEP_HANG, NULL, NULL, NULL);
	add_call(j, d->stop_event, step_quorum_report);
	sim_job_add(j, d->stop_reply, STEP_REPLY, NULL, NULL, NULL);
	sim_job_add(j, d->stop_reply, STEP_DONE, NULL, NULL, NULL);
	return j;
}

static json_t *cmd_cont(struct sim_vm *vm)
{
	if (!strcmp(vm->status, "inmigrate") || vm->running)
		return json_object();
	set_status(vm, "running", true);
	sim_vm_event(vm, "RESUME", NULL);
	return json_object();
}

static void quit_gone(struct sim_vm *vm, struct sim_job *j)
{
	sim_logf("%s: exits after quit", vm->name);
	/* the job is freed with the VM's other jobs: stop using it */
	sim_vm_kill_now(vm, true);
	snprintf(vm->status, sizeof(vm->status), "exited");
}

static void quit_events(struct sim_vm *vm, struct sim_job *j)
{
	json_t *d = json_pack("{s:b,s:s}", "guest", 0, "reason",
			      "host-qmp-quit");
	size_t i;
	json_t *v;

	set_status(vm, "shutdown", false);
	sim_vm_event(vm, "SHUTDOWN", d);
	json_decref(d);
	json_array_foreach(vm->nbd_exports, i, v) {
		d = json_pack("{s:O}", "id", v);
		sim_vm_event(vm, "BLOCK_EXPORT_DELETED", d);
		json_decref(d);
	}
	json_array_clear(vm->nbd_exports);
}

static struct sim_job *cmd_quit(struct sim_vm *vm, struct sim_conn *c,
				json_t *id)
{
	struct sim_job *j = reply_job(vm, c, "quit", id, json_object(), false);

	sim_job_add(j, 0, STEP_REPLY, NULL, NULL, NULL);
	add_call(j, 0, quit_events);
	/* the dispatcher stays blocked: the process is going away */
	sim_job_add(j, vm->d.quit_exit, STEP_CALL, NULL, NULL, quit_gone);
	return j;
}

/* --- migration and pair formation --- */

static void mig_status_event(struct sim_vm *vm, const char *st)
{
	snprintf(vm->migration, sizeof(vm->migration), "%s", st);
	if (vm->cap_events) {
		json_t *d = json_pack("{s:s}", "status", st);

		sim_vm_event(vm, "MIGRATION", d);
		json_decref(d);
	}
}

static void p_setup(struct sim_vm *vm, struct sim_job *j)
{
	mig_status_event(vm, "setup");
}

static void p_active(struct sim_vm *vm, struct sim_job *j)
{
	mig_status_event(vm, "active");
}

static void p_device(struct sim_vm *vm, struct sim_job *j)
{
	mig_status_event(vm, "device");
}

static void mig_pass(struct sim_vm *vm, int pass)
{
	if (vm->cap_events) {
		json_t *d = json_pack("{s:i}", "pass", pass);

		sim_vm_event(vm, "MIGRATION_PASS", d);
		json_decref(d);
	}
}

static void p_pass1(struct sim_vm *vm, struct sim_job *j)
{
	mig_pass(vm, 1);
}

static void p_pass2(struct sim_vm *vm, struct sim_job *j)
{
	mig_pass(vm, 2);
}

static void p_colo(struct sim_vm *vm, struct sim_job *j)
{
	struct sim_vm *s = peer_of(vm);

	/* the secondary died during the migration: it fails, we go on alone */
	if (!s || !s->alive || vm->mig_link != LINK_OK) {
		mig_status_event(vm, "failed");
		return;
	}
	vm->mode = COLO_MODE_PRIMARY;
	vm->colo_exited = false;
	vm->reason = COLO_REASON_NONE;
	mig_status_event(vm, "colo");
}

static void vm_resume(struct sim_vm *vm, struct sim_job *j)
{
	set_status(vm, "running", true);
	sim_vm_event(vm, "RESUME", NULL);
}

/*
 * The final stage of the migration holds QEMU's main loop: a command that
 * arrives then is answered only when COLO starts.
 */
static void p_block(struct sim_vm *vm, struct sim_job *j)
{
	if (!vm->inband)
		vm->inband = j;
}

static void p_unblock(struct sim_vm *vm, struct sim_job *j)
{
	if (vm->inband == j) {
		vm->inband = NULL;
		sim_vm_pump(vm);
	}
}

static void p_completed(struct sim_vm *vm, struct sim_job *j)
{
	set_status(vm, "postmigrate", false);
	mig_status_event(vm, "completed");
}

static void p_failed(struct sim_vm *vm, struct sim_job *j)
{
	mig_status_event(vm, "failed");
}

static void s_active(struct sim_vm *vm, struct sim_job *j)
{
	mig_status_event(vm, "active");
}

static void s_colo(struct sim_vm *vm, struct sim_job *j)
{
	vm->mode = COLO_MODE_SECONDARY;
	vm->colo_exited = false;
	vm->reason = COLO_REASON_NONE;
	mig_status_event(vm, "colo");
}

static void s_completed(struct sim_vm *vm, struct sim_job *j)
{
	mig_status_event(vm, "completed");
}

static json_t *cmd_migrate(struct sim_vm *vm, struct sim_conn *c,
			   json_t *args, json_t *id, struct sim_job **job)
{
	const struct sim_delays *d = &vm->d;
	struct sim_vm *s = peer_of(vm);
	const char *uri = json_string_value(json_object_get(args, "uri"));
	struct sim_job *pj, *sj = NULL;
	bool ok, colo;

	if (!uri)
		return sim_error("GenericError", "Parameter 'uri' is missing");
	if (vm->migration[0] && strcmp(vm->migration, "failed") &&
	    strcmp(vm->migration, "completed") &&
	    strcmp(vm->migration, "cancelled"))
		return sim_error("GenericError",
				 "There's a migration process in progress");
	snprintf(vm->mig_uri, sizeof(vm->mig_uri), "%s", uri);
	ok = s && s->alive && !s->vanished && !strcmp(s->status, "inmigrate") &&
	     vm->mig_link == LINK_OK;
	colo = vm->cap_xcolo && vm->build != SIM_BUILD_NO_COLO;

	pj = reply_job(vm, c, "migrate", id, json_object(), false);
	pj->blocks = false;
	add_call(pj, 0, p_setup);
	sim_job_add(pj, 0, STEP_REPLY, NULL, NULL, NULL);
	if (!ok) {
		add_call(pj, d->mig_pass1, p_failed);
		*job = pj;
		return NULL;
	}
	vm->is_linked_primary = true;
	snprintf(s->mig_uri, sizeof(s->mig_uri), "%s", uri);
	vm->setup_time = 1;
	add_call(pj, d->mig_pass1, p_pass1);
	add_call(pj, d->mig_active, p_active);
	sj = sim_job_new(s, false);
	sj->what = strdup("incoming");
	add_call(sj, d->mig_s_active, s_active);
	if (vm->build == SIM_BUILD_QEMU10_BROKEN) {
		add_call(pj, d->q10_device, p_device);
		add_call(pj, d->q10_pass2, p_pass2);
		add_call(pj, d->q10_completed, p_completed);
		if (colo && s->cap_xcolo) {
			add_call(sj, d->q10_colo_s, s_colo);
			add_call(sj, d->q10_resume_s, vm_resume);
			add_call(sj, d->q10_exit_s, peer_exit_error);
		} else {
			add_call(sj, d->q10_colo_s, s_completed);
			add_call(sj, d->q10_resume_s, vm_resume);
		}
	} else if (colo && s->cap_xcolo) {
		add_call(pj, d->mig_block_p, p_block);
		add_call(pj, d->mig_pass2, p_pass2);
		/* which of the two comes first is a race in QEMU */
		if (vm->query_before_colo) {
			add_call(pj, d->mig_colo_p, p_unblock);
			add_call(pj, d->mig_colo_p, p_colo);
		} else {
			add_call(pj, d->mig_colo_p, p_colo);
			add_call(pj, d->mig_colo_p, p_unblock);
		}
		add_call(pj, d->mig_resume_p, vm_resume);
		add_call(sj, d->mig_colo_s, s_colo);
		add_call(sj, d->mig_resume_s, vm_resume);
	} else {
		add_call(pj, d->mig_pass2, p_pass2);
		add_call(pj, d->mig_colo_p, p_completed);
		add_call(sj, d->mig_colo_s, s_completed);
		add_call(sj, d->mig_resume_s, vm_resume);
	}
	sim_job_schedule(sj);
	*job = pj;
	return NULL;
}

static json_t *query_migrate(struct sim_vm *vm)
{
	const char *st = vm->migration;

	if (!st[0])
		return json_object();
	if (!strcmp(st, "completed") && vm->is_linked_primary)
		return sim_migrate_completed_info(vm->build, vm->setup_time);
	if (!strcmp(st, "colo") && vm->mode == COLO_MODE_SECONDARY) {
		char host[64] = "127.0.0.1", port[16] = "0";
		const char *u = vm->mig_uri, *colon;

		if (!strncmp(u, "tcp:", 4))
			u += 4;
		colon = strrchr(u, ':');
		if (colon) {
			snprintf(host, sizeof(host), "%.*s", (int)(colon - u), u);
			snprintf(port, sizeof(port), "%s", colon + 1);
		}
		return json_pack("{s:s,s:[{s:s,s:b,s:s,s:s}]}", "status", st,
				 "socket-address", "port", port, "ipv4", 1,
				 "host", host, "type", "inet");
	}
	return json_pack("{s:s}", "status", st);
}

static json_t *cmd_set_caps(struct sim_vm *vm, json_t *args)
{
	json_t *caps = json_object_get(args, "capabilities"), *v;
	size_t i;

	if (!json_is_array(caps))
		return sim_error("GenericError",
				 "Parameter 'capabilities' is missing");
	json_array_foreach(caps, i, v) {
		const char *name = json_string_value(json_object_get(v,
							"capability"));
		json_t *st = json_object_get(v, "state");

		if (!name || !json_is_boolean(st))
			return sim_error("GenericError",
				"Invalid parameter type for 'capabilities', expected: object");
		if (!json_object_get(vm->mig_caps, name))
			return sim_error("GenericError",
				"Parameter 'capability' does not accept value '%s'",
				name);
	}
	json_array_foreach(caps, i, v) {
		const char *name = json_string_value(json_object_get(v,
							"capability"));
		bool on = json_is_true(json_object_get(v, "state"));

		json_object_set_new(vm->mig_caps, name, json_boolean(on));
		if (!strcmp(name, "x-colo"))
			vm->cap_xcolo = on;
		if (!strcmp(name, "events"))
			vm->cap_events = on;
	}
	return json_object();
}

static json_t *query_caps(struct sim_vm *vm)
{
	json_t *out = json_array();
	size_t i;

	for (i = 0; i < sim_mig_ncapabilities; i++)
		json_array_append_new(out, json_pack("{s:O,s:s}", "state",
			json_object_get(vm->mig_caps, sim_mig_capabilities[i]),
			"capability", sim_mig_capabilities[i]));
	return out;
}

/* --- checkpoints --- */

static void cp_fail(struct sim_vm *vm, struct sim_job *j)
{
	peer_exit_error(vm, j);
}

/* the reply never came: TCP gives up after its retransmissions */
static void cp_silent_timeout(struct sim_vm *vm, struct sim_job *j)
{
	if (vm->mig_link == LINK_SILENT && vm->checkpoint_stalled) {
		vm->checkpoint_stalled = false;
		peer_exit_error(vm, j);
	}
}

static void cp_ok_resume(struct sim_vm *vm, struct sim_job *j)
{
	if (!vm->running) {
		set_status(vm, "running", true);
		sim_vm_event(vm, "RESUME", NULL);
	}
}

/* Returns 0, or -EINVAL when vm is no COLO primary with a running loop. */
int colo_checkpoint(struct sim_vm *vm)
{
	struct sim_vm *s = peer_of(vm);
	struct sim_job *j;

	if (vm->mode != COLO_MODE_PRIMARY || vm->colo_exited)
		return -EINVAL;
	if (!s || !s->alive || vm->mig_link == LINK_RESET || vm->mig_yanked) {
		/* the send fails at once: COLO_EXIT, the VM keeps running */
		j = sim_job_new(vm, false);
		j->what = strdup("checkpoint");
		add_call(j, vm->d.checkpoint_fail, cp_fail);
		sim_job_schedule(j);
		return 0;
	}
	if (s->vanished || vm->mig_link == LINK_SILENT) {
		/*
		 * The request is sent before the VM stops; the COLO thread then
		 * waits for the reply until TCP times out (~15 min by default).
		 */
		vm->checkpoint_stalled = true;
		j = sim_job_new(vm, false);
		j->what = strdup("checkpoint");
		add_call(j, vm->d.checkpoint_silent, cp_silent_timeout);
		sim_job_schedule(j);
		return 0;
	}
	/* a successful checkpoint (KVM-like; TCG's deadlock is not modelled) */
	j = sim_job_new(vm, false);
	j->what = strdup("checkpoint");
	add_call(j, 300, fo_stop);
	add_call(j, 40000, cp_ok_resume);
	sim_job_schedule(j);
	j = sim_job_new(s, false);
	j->what = strdup("checkpoint");
	add_call(j, 1000, fo_stop);
	add_call(j, 46000, cp_ok_resume);
	sim_job_schedule(j);
	return 0;
}

static json_t *cmd_set_params(struct sim_vm *vm, json_t *args)
{
	const char *k;
	json_t *v;
	bool delay = false;

	json_object_foreach(args, k, v) {
		json_t *cur = json_object_get(vm->mig_params, k);

		if (!cur)
			return sim_error("GenericError",
					 "Parameter '%s' is unexpected", k);
		if (json_typeof(cur) != json_typeof(v) &&
		    !(json_is_boolean(cur) && json_is_boolean(v)))
			return sim_error("GenericError",
				"Invalid parameter type for '%s', expected: %s",
				k, json_is_integer(cur) ? "integer" :
				json_is_string(cur) ? "string" : "boolean");
	}
	json_object_foreach(args, k, v) {
		json_object_set(vm->mig_params, k, v);
		if (!strcmp(k, "x-checkpoint-delay"))
			delay = true;
	}
	/* in COLO state a new delay asks for a checkpoint now */
	if (delay && vm->mode == COLO_MODE_PRIMARY && !vm->colo_exited)
		colo_checkpoint(vm);
	return json_object();
}

/* --- block layer --- */

static void bd_add_done(struct sim_vm *vm, struct sim_job *j)
{
	vm->repl_node = true;
	vm->nbd_yanked = false;
	snprintf(vm->nbd_node, sizeof(vm->nbd_node), "#block%d",
		 block_counter++);
}

static json_t *cmd_blockdev_add(struct sim_vm *vm, struct sim_conn *c,
				json_t *args, json_t *id,
				struct sim_job **job)
{
	const char *drv = json_string_value(json_object_get(args, "driver"));
	const char *node = json_string_value(json_object_get(args,
							     "node-name"));
	json_t *file = json_object_get(args, "file");
	const char *fdrv = json_string_value(json_object_get(file, "driver"));
	struct sim_vm *s = peer_of(vm);
	struct sim_job *j;

	if (!drv)
		return sim_error("GenericError", "Parameter 'driver' is missing");
	if (!(drv && !strcmp(drv, "replication") && fdrv &&
	      !strcmp(fdrv, "nbd")))
		return json_object();
	if (!node || strcmp(node, "replication0"))
		return sim_error("GenericError",
			"qmp-sim: only node-name 'replication0' is simulated");
	if (vm->repl_node)
		return sim_error("GenericError",
				 "Duplicate nodes with node-name='%s'", node);
	if (!s || !s->alive || !s->nbd_server ||
	    !json_array_size(s->nbd_exports) || vm->nbd_link == LINK_RESET)
		return sim_error("GenericError",
				 "Failed to connect to NBD server: Connection refused");
	if (vm->nbd_link == LINK_SILENT)
		return sim_error("GenericError",
				 "Failed to connect to NBD server: Connection timed out");
	j = reply_job(vm, c, "blockdev-add", id, json_object(), false);
	add_call(j, vm->d.blockdev_add_nbd, bd_add_done);
	sim_job_add(j, vm->d.blockdev_add_nbd, STEP_REPLY, NULL, NULL, NULL);
	sim_job_add(j, vm->d.blockdev_add_nbd, STEP_DONE, NULL, NULL, NULL);
	*job = j;
	return NULL;
}

static void bd_del_done(struct sim_vm *vm, struct sim_job *j)
{
	vm->repl_node = false;
	vm->nbd_node[0] = '\0';
}

static json_t *cmd_blockdev_del(struct sim_vm *vm, struct sim_conn *c,
				json_t *args, json_t *id,
				struct sim_job **job)
{
	const char *node = json_string_value(json_object_get(args,
							     "node-name"));
	struct sim_job *j;

	if (!node)
		return sim_error("GenericError",
				 "Parameter 'node-name' is missing");
	if (strcmp(node, "replication0") || !vm->repl_node)
		return json_object();
	if (vm->repl_attached)
		return sim_error("GenericError",
				 "Node 'replication0' is busy: node is used as child of 'colo-disk0'");
	j = reply_job(vm, c, "blockdev-del", id, json_object(), false);
	/* bdrv_unref() flushes the NBD node */
	sim_job_add(j, 0, STEP_HANG, NULL, NULL, NULL);
	add_call(j, 0, bd_del_done);
	sim_job_add(j, 0, STEP_REPLY, NULL, NULL, NULL);
	sim_job_add(j, 0, STEP_DONE, NULL, NULL, NULL);
	*job = j;
	return NULL;
}

static json_t *cmd_blockdev_change(struct sim_vm *vm, json_t *args)
{
	const char *parent = json_string_value(json_object_get(args, "parent"));
	const char *node = json_string_value(json_object_get(args, "node"));
	const char *child = json_string_value(json_object_get(args, "child"));

	if (!parent)
		return sim_error("GenericError", "Parameter 'parent' is missing");
	if (strcmp(parent, "colo-disk0"))
		return sim_error("GenericError",
			"Cannot find device='' nor node-name='%s'", parent);
	if (node) {
		if (strcmp(node, "replication0") || !vm->repl_node)
			return sim_error("GenericError",
				"Cannot find device='' nor node-name='%s'", node);
		vm->repl_attached = true;
		return json_object();
	}
	if (child) {
		if (strcmp(child, "children.1") || !vm->repl_attached)
			return sim_error("GenericError",
				"Node '%s' does not have child '%s'", parent,
				child);
		vm->repl_attached = false;
		return json_object();
	}
	return sim_error("GenericError",
			 "Either child or node must be specified");
}

static json_t *cmd_nbd_start(struct sim_vm *vm, json_t *args)
{
	json_t *addr = json_object_get(args, "addr");
	json_t *data = json_object_get(addr, "data");

	if (!addr)
		return sim_error("GenericError", "Parameter 'addr' is missing");
	if (vm->nbd_server)
		return sim_error("GenericError", "NBD server already running");
	if (!json_is_object(data))
		return sim_error("GenericError",
				 "Parameter 'addr.data' is missing");
	vm->nbd_server = true;
	return json_object();
}

static json_t *cmd_nbd_add(struct sim_vm *vm, json_t *args)
{
	const char *dev = json_string_value(json_object_get(args, "device"));
	const char *name = json_string_value(json_object_get(args, "name"));

	if (!dev)
		return sim_error("GenericError", "Parameter 'device' is missing");
	if (!vm->nbd_server)
		return sim_error("GenericError", "NBD server not running");
	json_array_append_new(vm->nbd_exports, json_string(name ? name : dev));
	return json_object();
}

static json_t *cmd_nbd_stop(struct sim_vm *vm)
{
	struct sim_vm *p = peer_of(vm);
	size_t i;
	json_t *v;

	if (!vm->nbd_server)
		return sim_error("GenericError", "NBD server not running");
	json_array_foreach(vm->nbd_exports, i, v) {
		json_t *d = json_pack("{s:O}", "id", v);

		sim_vm_event(vm, "BLOCK_EXPORT_DELETED", d);
		json_decref(d);
	}
	json_array_clear(vm->nbd_exports);
	vm->nbd_server = false;
	/* the primary's NBD client sees the connection close */
	if (p && p->alive && p->nbd_link == LINK_OK &&
	    vm->mig_link != LINK_SILENT)
		p->nbd_link = LINK_RESET;
	return json_object();
}

/* --- yank --- */

static json_t *yank_instances(struct sim_vm *vm)
{
	json_t *out = json_array();
	static const char *const order[] = { "mirror0", "compare1", "compare0",
		"compare0-0", "compare_out", "compare_out0", "red0", "red1" };
	size_t i;
	int s;

	for (s = 0; s < vm->nsocks; s++) {
		char id[32];

		snprintf(id, sizeof(id), "compat_monitor%d", s);
		json_array_append_new(out, json_pack("{s:s,s:s}", "type",
						     "chardev", "id", id));
	}
	for (i = 0; i < ARRAY_SIZE(order); i++)
		if (find_chardev(vm, order[i]))
			json_array_append_new(out, json_pack("{s:s,s:s}",
				"type", "chardev", "id", order[i]));
	if (vm->nbd_node[0])
		json_array_append_new(out, json_pack("{s:s,s:s}", "node-name",
			vm->nbd_node, "type", "block-node"));
	if (!strcmp(vm->status, "inmigrate") ||
	    !strcmp(vm->migration, "setup") ||
	    !strcmp(vm->migration, "active") ||
	    !strcmp(vm->migration, "device") ||
	    !strcmp(vm->migration, "colo"))
		json_array_append_new(out, json_pack("{s:s}", "type",
						     "migration"));
	return out;
}

static bool yank_has(json_t *list, json_t *inst)
{
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v)
		if (json_equal(v, inst))
			return true;
	return false;
}

static json_t *cmd_yank(struct sim_vm *vm, json_t *args)
{
	json_t *inst = json_object_get(args, "instances"), *v, *have;
	size_t i;

	if (!inst)
		return sim_error("GenericError",
				 "Parameter 'instances' is missing");
	if (!json_is_array(inst))
		return sim_error("GenericError",
			"Invalid parameter type for 'instances', expected: array");
	have = yank_instances(vm);
	json_array_foreach(inst, i, v) {
		if (!yank_has(have, v)) {
			json_decref(have);
			return sim_error("DeviceNotFound", "Instance not found");
		}
	}
	json_decref(have);
	json_array_foreach(inst, i, v) {
		const char *type = json_string_value(json_object_get(v, "type"));
		const char *cid = json_string_value(json_object_get(v, "id"));

		if (!strcmp(type, "block-node")) {
			vm->nbd_yanked = true;
			colo_rescue(vm, true);
		} else if (!strcmp(type, "migration")) {
			vm->mig_yanked = true;
			if (vm->mode == COLO_MODE_SECONDARY)
				schedule_exit_error(vm, vm->d.s_notice_yank);
		} else if (cid && !strncmp(cid, "compat_monitor", 14)) {
			int s = atoi(cid + 14);
			struct sim_conn *c;

			/* the monitor's own chardev: its client is cut */
			for (c = vm->conns; c; c = c->next)
				if (c->sock == s)
					c->closing = true;
		}
	}
	return json_object();
}

/* --- chardevs, objects --- */

static json_t *query_chardev(struct sim_vm *vm)
{
	json_t *out = json_array();
	struct sim_vm *peer = peer_of(vm);
	bool linked = peer && peer->alive && !peer->vanished &&
		      vm->mig_link != LINK_SILENT;
	int i, base = 20000 + vm->index * 16;

	for (i = 0; i < vm->nchardevs; i++) {
		const struct sim_chardev *c = &vm->chardevs[i];
		char fn[300];
		bool server = !strcmp(c->label, "mirror0") ||
			      !strcmp(c->label, "compare1") ||
			      !strcmp(c->label, "compare0") ||
			      !strcmp(c->label, "compare_out");

		if (!c->present)
			continue;
		if (!strcmp(c->label, "serial0"))
			snprintf(fn, sizeof(fn), "file");
		else if (c->peer_facing && !linked)
			snprintf(fn, sizeof(fn), "disconnected:tcp:127.0.0.1:%d%s",
				 base + i, server ? ",server=on" : "");
		else if (server)
			snprintf(fn, sizeof(fn),
				 "tcp:127.0.0.1:%d,server=on <-> 127.0.0.1:%d",
				 base + i, 40000 + base + i);
		else
			snprintf(fn, sizeof(fn), "tcp:127.0.0.1:%d <-> 127.0.0.1:%d",
				 40000 + base + i, base + i);
		json_array_append_new(out, json_pack("{s:b,s:s,s:s}",
			"frontend-open", c->frontend_open, "filename", fn,
			"label", c->label));
	}
	for (i = 0; i < vm->nsocks; i++) {
		struct sim_conn *c;
		bool conn = false;
		char fn[300], label[32];

		for (c = vm->conns; c; c = c->next)
			if (c->sock == i && !c->closing)
				conn = true;
		snprintf(fn, sizeof(fn), "%sunix:%s,server=on",
			 conn ? "" : "disconnected:", vm->sock_path[i]);
		snprintf(label, sizeof(label), "compat_monitor%d", i);
		json_array_append_new(out, json_pack("{s:b,s:s,s:s}",
			"frontend-open", 1, "filename", fn, "label", label));
	}
	return out;
}

static json_t *cmd_object_add(struct sim_vm *vm, json_t *args)
{
	const char *type = json_string_value(json_object_get(args, "qom-type"));
	const char *oid = json_string_value(json_object_get(args, "id"));

	if (!type)
		return sim_error("GenericError", "Parameter 'qom-type' is missing");
	if (!oid)
		return sim_error("GenericError", "Parameter 'id' is missing");
	if (json_object_get(vm->objects, oid))
		return sim_error("GenericError",
			"attempt to add duplicate property '%s' to object (type 'container')",
			oid);
	json_object_set_new(vm->objects, oid, json_string(type));
	return json_object();
}

static json_t *cmd_object_del(struct sim_vm *vm, json_t *args)
{
	const char *oid = json_string_value(json_object_get(args, "id"));

	if (!oid)
		return sim_error("GenericError", "Parameter 'id' is missing");
	if (!json_object_get(vm->objects, oid))
		return sim_error("GenericError", "object '%s' not found", oid);
	json_object_del(vm->objects, oid);
	return json_object();
}

static json_t *cmd_chardev_add(struct sim_vm *vm, json_t *args)
{
	const char *cid = json_string_value(json_object_get(args, "id"));

	if (!cid)
		return sim_error("GenericError", "Parameter 'id' is missing");
	if (!json_object_get(args, "backend"))
		return sim_error("GenericError", "Parameter 'backend' is missing");
	if (find_chardev(vm, cid))
		return sim_error("GenericError",
				 "attempt to add duplicate property '%s' to object (type 'container')",
				 cid);
	add_chardev(vm, cid, false, false);
	return json_object();
}

static json_t *cmd_chardev_remove(struct sim_vm *vm, json_t *args)
{
	const char *cid = json_string_value(json_object_get(args, "id"));
	struct sim_chardev *c;

	if (!cid)
		return sim_error("GenericError", "Parameter 'id' is missing");
	c = find_chardev(vm, cid);
	if (!c)
		return sim_error("GenericError", "Chardev '%s' not found", cid);
	c->present = false;
	return json_object();
}

static json_t *query_commands(struct sim_vm *vm)
{
	json_t *out = json_array();
	size_t i;

	for (i = 0; i < sim_qemu72_ncommands; i++)
		if (colo_command_known(vm, sim_qemu72_commands[i]))
			json_array_append_new(out, json_pack("{s:s}", "name",
				sim_qemu72_commands[i]));
	return out;
}

static json_t *query_status(struct sim_vm *vm)
{
	if (vm->build == SIM_BUILD_QEMU10_BROKEN)
		return json_pack("{s:s,s:b}", "status", vm->status, "running",
				 vm->running);
	return json_pack("{s:s,s:b,s:b}", "status", vm->status, "singlestep",
			 0, "running", vm->running);
}

/*
 * QEMU's generated argument visitors: a missing member first, then an
 * unexpected one. "*" lets the command check for itself.
 */
static const struct {
	const char *cmd, *allowed, *required;
} argspec[] = {
	{ "query-status", "", "" },
	{ "query-colo-status", "", "" },
	{ "query-migrate", "", "" },
	{ "query-yank", "", "" },
	{ "yank", "instances", "instances" },
	{ "stop", "", "" },
	{ "cont", "", "" },
	{ "quit", "", "" },
	{ "x-colo-lost-heartbeat", "", "" },
	{ "migrate-set-capabilities", "capabilities", "capabilities" },
	{ "migrate-set-parameters", "*", "" },
	{ "query-migrate-parameters", "", "" },
	{ "query-migrate-capabilities", "", "" },
	{ "migrate", "uri blk inc detach resume", "uri" },
	{ "nbd-server-start", "addr tls-creds tls-authz max-connections", "addr" },
	{ "nbd-server-add", "device name description writable bitmap", "device" },
	{ "nbd-server-stop", "", "" },
	{ "blockdev-add", "*", "" },
	{ "blockdev-del", "node-name", "node-name" },
	{ "x-blockdev-change", "parent child node", "parent" },
	{ "object-add", "*", "" },
	{ "object-del", "id", "id" },
	{ "chardev-add", "id backend", "id backend" },
	{ "chardev-remove", "id", "id" },
	{ "query-chardev", "", "" },
	{ "query-commands", "", "" },
	{ "query-version", "", "" },
	{ "query-name", "", "" },
};

static bool word_in(const char *list, const char *w)
{
	size_t n = strlen(w);
	const char *p = list;

	while ((p = strstr(p, w))) {
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || !p[n]))
			return true;
		p += n;
	}
	return false;
}

static json_t *check_args(const char *cmd, json_t *args)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(argspec); i++) {
		const char *k, *p;
		char name[64];
		json_t *v;

		if (strcmp(argspec[i].cmd, cmd))
			continue;
		if (!strcmp(argspec[i].allowed, "*"))
			return NULL;
		for (p = argspec[i].required; *p;) {
			size_t n = strcspn(p, " ");

			snprintf(name, sizeof(name), "%.*s", (int)n, p);
			if (!json_object_get(args, name))
				return sim_error("GenericError",
						 "Parameter '%s' is missing", name);
			p += n;
			while (*p == ' ')
				p++;
		}
		json_object_foreach(args, k, v)
			if (!word_in(argspec[i].allowed, k))
				return sim_error("GenericError",
						 "Parameter '%s' is unexpected", k);
		return NULL;
	}
	return NULL;
}

struct sim_job *colo_execute(struct sim_vm *vm, struct sim_conn *c,
			     const char *cmd, json_t *args, json_t *id,
			     json_t **ret, bool *is_error)
{
	struct sim_job *job = NULL;
	json_t *r = NULL;

	*is_error = false;
	r = check_args(cmd, args);
	if (r) {
		*is_error = true;
		*ret = r;
		return NULL;
	}
	if (!strcmp(cmd, "query-status")) {
		r = query_status(vm);
	} else if (!strcmp(cmd, "query-colo-status")) {
		r = json_pack("{s:s,s:s,s:s}", "last-mode",
			      colo_mode_to_str(vm->last_mode), "mode",
			      colo_mode_to_str(vm->mode), "reason",
			      colo_reason_to_str(vm->failover_in_flight ?
						 COLO_REASON_PROCESSING :
						 vm->reason));
	} else if (!strcmp(cmd, "query-migrate")) {
		r = query_migrate(vm);
	} else if (!strcmp(cmd, "query-yank")) {
		r = yank_instances(vm);
	} else if (!strcmp(cmd, "yank")) {
		r = cmd_yank(vm, args);
	} else if (!strcmp(cmd, "stop")) {
		return cmd_stop(vm, c, id);
	} else if (!strcmp(cmd, "cont")) {
		r = cmd_cont(vm);
	} else if (!strcmp(cmd, "quit")) {
		return cmd_quit(vm, c, id);
	} else if (!strcmp(cmd, "x-colo-lost-heartbeat")) {
		return cmd_lost_heartbeat(vm, c, id, ret, is_error);
	} else if (!strcmp(cmd, "migrate-set-capabilities")) {
		r = cmd_set_caps(vm, args);
	} else if (!strcmp(cmd, "query-migrate-capabilities")) {
		r = query_caps(vm);
	} else if (!strcmp(cmd, "migrate-set-parameters")) {
		r = cmd_set_params(vm, args);
	} else if (!strcmp(cmd, "query-migrate-parameters")) {
		r = json_deep_copy(vm->mig_params);
	} else if (!strcmp(cmd, "migrate")) {
		r = cmd_migrate(vm, c, args, id, &job);
	} else if (!strcmp(cmd, "nbd-server-start")) {
		r = cmd_nbd_start(vm, args);
	} else if (!strcmp(cmd, "nbd-server-add")) {
		r = cmd_nbd_add(vm, args);
	} else if (!strcmp(cmd, "nbd-server-stop")) {
		r = cmd_nbd_stop(vm);
	} else if (!strcmp(cmd, "blockdev-add")) {
		r = cmd_blockdev_add(vm, c, args, id, &job);
	} else if (!strcmp(cmd, "blockdev-del")) {
		r = cmd_blockdev_del(vm, c, args, id, &job);
	} else if (!strcmp(cmd, "x-blockdev-change")) {
		r = cmd_blockdev_change(vm, args);
	} else if (!strcmp(cmd, "object-add")) {
		r = cmd_object_add(vm, args);
	} else if (!strcmp(cmd, "object-del")) {
		r = cmd_object_del(vm, args);
	} else if (!strcmp(cmd, "chardev-add")) {
		r = cmd_chardev_add(vm, args);
	} else if (!strcmp(cmd, "chardev-remove")) {
		r = cmd_chardev_remove(vm, args);
	} else if (!strcmp(cmd, "query-chardev")) {
		r = query_chardev(vm);
	} else if (!strcmp(cmd, "query-commands")) {
		r = query_commands(vm);
	} else if (!strcmp(cmd, "query-version")) {
		r = vm->build == SIM_BUILD_QEMU10_BROKEN ?
		    json_pack("{s:{s:i,s:i,s:i},s:s}", "qemu", "micro", 2,
			      "minor", 0, "major", 10, "package",
			      "Debian 1:10.0.2+ds-2+deb13u1~bpo12+1") :
		    json_pack("{s:{s:i,s:i,s:i},s:s}", "qemu", "micro", 22,
			      "minor", 2, "major", 7, "package",
			      "Debian 1:7.2+dfsg-7+deb12u18+b3");
	} else if (!strcmp(cmd, "query-name")) {
		r = json_pack("{s:s}", "name", vm->name);
	} else {
		r = sim_error("GenericError",
			      "qmp-sim: command '%s' is not simulated", cmd);
	}
	if (job)
		return job;
	if (r && json_object_get(r, "class") && json_object_get(r, "desc") &&
	    json_object_size(r) == 2)
		*is_error = true;
	*ret = r;
	return NULL;
}

/* ------------------------------------------------- control-side events */

void colo_peer_killed(struct sim_vm *vm, struct sim_vm *dead)
{
	/* behind a silent link the RST never arrives */
	if (!vm->alive || vm->mig_link == LINK_SILENT)
		return;
	if (vm->mig_link != LINK_SILENT)
		vm->mig_link = LINK_RESET;
	if (vm->nbd_link != LINK_SILENT)
		vm->nbd_link = LINK_RESET;
	/* only the secondary reads the stream: it sees the EOF */
	if (vm->mode == COLO_MODE_SECONDARY)
		schedule_exit_error(vm, vm->d.s_notice_kill);
}

void colo_silent_loss(struct sim_vm *vm)
{
	struct sim_vm *p = peer_of(vm);

	vm->vanished = true;
	sim_jobs_cancel_vm(vm);
	if (p && p->alive) {
		p->mig_link = LINK_SILENT;
		p->nbd_link = LINK_SILENT;
	}
	vm->mig_link = LINK_SILENT;
	vm->nbd_link = LINK_SILENT;
}

int colo_partition(struct sim_vm *a, struct sim_vm *b, bool cut)
{
	struct sim_vm *v[2] = { a, b };
	int i;

	if (!a->peer || strcmp(a->peer, b->name))
		return -ENOENT;
	for (i = 0; i < 2; i++) {
		if (cut) {
			if (v[i]->mig_link == LINK_OK)
				v[i]->mig_link = LINK_SILENT;
			if (v[i]->nbd_link == LINK_OK)
				v[i]->nbd_link = LINK_SILENT;
		} else {
			if (v[i]->mig_link == LINK_SILENT)
				v[i]->mig_link = LINK_OK;
			if (v[i]->nbd_link == LINK_SILENT) {
				v[i]->nbd_link = LINK_OK;
				/* the flush gets its answer after all */
				colo_rescue(v[i], false);
			}
		}
	}
	return 0;
}

int colo_reset_migration(struct sim_vm *vm)
{
	struct sim_vm *p = peer_of(vm);
	struct sim_vm *sec = NULL;

	if (!p)
		return -ENOENT;
	if (vm->mig_link != LINK_RESET)
		vm->mig_link = LINK_RESET;
	if (p->mig_link != LINK_RESET)
		p->mig_link = LINK_RESET;
	if (vm->mode == COLO_MODE_SECONDARY)
		sec = vm;
	else if (p->mode == COLO_MODE_SECONDARY)
		sec = p;
	if (sec)
		schedule_exit_error(sec, sec->d.s_notice_reset);
	return 0;
}

int colo_link(struct sim_vm *p, struct sim_vm *s)
{
	if (p == s)
		return -EINVAL;
	free(p->peer);
	free(s->peer);
	p->peer = strdup(s->name);
	s->peer = strdup(p->name);
	p->is_linked_primary = true;
	s->is_linked_primary = false;
	p->mig_link = s->mig_link = LINK_OK;
	p->nbd_link = s->nbd_link = LINK_OK;
	return 0;
}

int colo_pair(struct sim_vm *p, struct sim_vm *s)
{
	json_t *d;

	if (!p->alive || !s->alive || p->vanished || s->vanished ||
	    in_colo(p) || in_colo(s))
		return -EBUSY;
	colo_link(p, s);
	p->cap_xcolo = p->cap_events = s->cap_xcolo = s->cap_events = true;
	json_object_set_new(p->mig_caps, "x-colo", json_true());
	json_object_set_new(p->mig_caps, "events", json_true());
	json_object_set_new(s->mig_caps, "x-colo", json_true());
	json_object_set_new(s->mig_caps, "events", json_true());
	json_object_set_new(p->mig_params, "x-checkpoint-delay",
			    json_integer(3600000));
	s->nbd_server = true;
	if (!json_array_size(s->nbd_exports))
		json_array_append_new(s->nbd_exports, json_string("parent0"));
	p->repl_node = p->repl_attached = true;
	snprintf(p->nbd_node, sizeof(p->nbd_node), "#block%d", block_counter++);
	snprintf(p->mig_uri, sizeof(p->mig_uri), "tcp:127.0.0.1:%d",
		 30000 + s->index);
	snprintf(s->mig_uri, sizeof(s->mig_uri), "%s", p->mig_uri);
	p->mode = COLO_MODE_PRIMARY;
	s->mode = COLO_MODE_SECONDARY;
	p->colo_exited = s->colo_exited = false;
	snprintf(p->migration, sizeof(p->migration), "colo");
	snprintf(s->migration, sizeof(s->migration), "colo");
	d = json_pack("{s:s}", "status", "colo");
	sim_vm_event(p, "MIGRATION", d);
	set_status(p, "running", true);
	sim_vm_event(p, "RESUME", NULL);
	sim_vm_event(s, "MIGRATION", d);
	set_status(s, "running", true);
	sim_vm_event(s, "RESUME", NULL);
	json_decref(d);
	return 0;
}

json_t *colo_state(struct sim_vm *vm)
{
	struct sim_conn *c;
	struct sim_req *q;
	int connected = 0, queued = 0;

	for (c = vm->conns; c; c = c->next)
		if (!c->closing)
			connected++;
	for (q = vm->queue; q; q = q->next)
		queued++;
	return json_pack("{s:s,s:s,s:s,s:s,s:b,s:s,s:b,s:b,s:s?,s:i,s:I,"
			 "s:s,s:b,s:b,s:s,s:s,s:b,s:b,s:s,s:b,s:b,s:b,s:i}",
		"mode", colo_mode_to_str(vm->mode),
		"last-mode", colo_mode_to_str(vm->last_mode),
		"reason", colo_reason_to_str(vm->reason),
		"status", vm->status,
		"running", vm->running,
		"migration", vm->migration[0] ? vm->migration : "none",
		"failover_in_flight", vm->failover_in_flight,
		"monitor_hung", (vm->inband && vm->inband->hung) ||
				vm->hang_fault || vm->vanished,
		"peer", vm->peer,
		"connected", connected,
		"pid", (json_int_t)(vm->child_pid ? vm->child_pid :
				   0x7fff0000 + vm->index),
		"build", sim_build_to_str(vm->build),
		"alive", vm->alive,
		"vanished", vm->vanished,
		"migration_link", link_to_str(vm->mig_link),
		"nbd_link", link_to_str(vm->nbd_link),
		"nbd_yanked", vm->nbd_yanked,
		"colo_exited", vm->colo_exited,
		"block_node", vm->nbd_node,
		"replication_attached", vm->repl_attached,
		"nbd_server", vm->nbd_server,
		"checkpoint_stalled", vm->checkpoint_stalled,
		"queued", queued);
}
