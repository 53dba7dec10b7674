/*
 * sim_control.c: the control protocol of qmp-sim (CONTROL.md): one JSON
 * request per line in, one JSON reply per line out. Malformed requests get
 * {"ok":false,"error":...}; nothing here may crash on bad input.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

static json_t *ctl_err(const char *fmt, ...) ATTR_PRINTF(1, 2);
static json_t *ctl_err(const char *fmt, ...)
{
	char buf[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return json_pack("{s:b,s:s}", "ok", 0, "error", buf);
}

static json_t *ctl_ok(void)
{
	return json_pack("{s:b}", "ok", 1);
}

static const char *str_field(json_t *req, const char *key)
{
	return json_string_value(json_object_get(req, key));
}

static struct sim_vm *need_vm(json_t *req, const char *key, json_t **err)
{
	const char *name = str_field(req, key);
	struct sim_vm *vm;

	if (!name) {
		*err = ctl_err("missing string field '%s'", key);
		return NULL;
	}
	vm = sim_vm_find(name);
	if (!vm)
		*err = ctl_err("unknown VM '%s'", name);
	return vm;
}

static json_t *do_vm_add(json_t *req)
{
	static const char *const keys[SIM_MAX_SOCKS] = { "qmp", "qmp2", "qmp3",
							 "qmp4" };
	const char *name = str_field(req, "name");
	const char *build = str_field(req, "build");
	const char *version = str_field(req, "version");
	json_t *inc = json_object_get(req, "incoming");
	json_t *fast = json_object_get(req, "fast");
	json_t *proc = json_object_get(req, "process");
	char *paths[SIM_MAX_SOCKS];
	enum sim_build b = SIM_BUILD_COLO;
	struct sim_vm *vm, **tail;
	char err[300];
	int n = 0, i;

	if (!name || !name[0])
		return ctl_err("missing string field 'name'");
	if (strlen(name) > 200)
		return ctl_err("name too long");
	if (sim_vm_find(name))
		return ctl_err("VM '%s' exists", name);
	for (i = 0; i < SIM_MAX_SOCKS; i++) {
		const char *p = str_field(req, keys[i]);
		json_t *v = json_object_get(req, keys[i]);

		if (v && !p)
			return ctl_err("field '%s' must be a string", keys[i]);
		if (!p) {
			if (i == 0)
				return ctl_err("missing string field 'qmp'");
			break;
		}
		paths[n++] = (char *)p;
	}
	if (build) {
		if (!strcmp(build, "colo"))
			b = SIM_BUILD_COLO;
		else if (!strcmp(build, "no-colo"))
			b = SIM_BUILD_NO_COLO;
		else if (!strcmp(build, "qemu10-broken"))
			b = SIM_BUILD_QEMU10_BROKEN;
		else
			return ctl_err("unknown build '%s'", build);
	} else if (json_object_get(req, "build")) {
		return ctl_err("field 'build' must be a string");
	}
	if (version && !strcmp(version, "10.0.2"))
		b = SIM_BUILD_QEMU10_BROKEN;
	else if (version && strcmp(version, "7.2.22"))
		return ctl_err("unknown version '%s'", version);
	if (inc && !json_is_boolean(inc))
		return ctl_err("field 'incoming' must be a boolean");
	if (fast && !json_is_boolean(fast))
		return ctl_err("field 'fast' must be a boolean");
	if (proc && !json_is_boolean(proc))
		return ctl_err("field 'process' must be a boolean");
	vm = sim_vm_new(name, b, json_is_true(inc), paths, n,
			json_is_true(fast), json_is_true(proc), err, sizeof(err));
	if (!vm)
		return ctl_err("%s", err);
	for (tail = &sim_vms; *tail; tail = &(*tail)->next)
		;
	*tail = vm;
	sim_logf("vm-add %s (%s)", name, sim_build_to_str(b));
	return ctl_ok();
}

static json_t *do_vm_remove(json_t *req)
{
	json_t *err = NULL;
	struct sim_vm *vm = need_vm(req, "name", &err), **pp;

	if (!vm)
		return err;
	sim_vm_kill_now(vm, true);
	for (pp = &sim_vms; *pp; pp = &(*pp)->next)
		if (*pp == vm) {
			*pp = vm->next;
			break;
		}
	sim_jobs_cancel_vm(vm);
	sim_vm_close_sockets(vm, true);
	sim_vm_free(vm);
	return ctl_ok();
}

static json_t *do_pair_or_link(json_t *req, bool pair)
{
	json_t *err = NULL;
	struct sim_vm *p = need_vm(req, "primary", &err), *s;
	int r;

	if (!p)
		return err;
	s = need_vm(req, "secondary", &err);
	if (!s)
		return err;
	if (p == s)
		return ctl_err("primary and secondary are the same VM");
	r = pair ? colo_pair(p, s) : colo_link(p, s);
	if (r < 0)
		return ctl_err("cannot pair: %s", strerror(-r));
	return ctl_ok();
}

static json_t *do_fault(json_t *req)
{
	static const char *const socks[SIM_MAX_SOCKS] = { "qmp", "qmp2", "qmp3",
							  "qmp4" };
	json_t *err = NULL;
	struct sim_vm *vm = need_vm(req, "name", &err);
	const char *kind = str_field(req, "fault");
	const char *match = str_field(req, "match");
	const char *sock = str_field(req, "socket");
	json_t *ms = json_object_get(req, "ms");
	json_t *size = json_object_get(req, "size");
	const char *bytes = str_field(req, "bytes");
	struct sim_fault *f;
	int si = 0, i;

	if (!vm)
		return err;
	if (!kind)
		return ctl_err("missing string field 'fault'");
	if (sock) {
		si = -2;
		for (i = 0; i < SIM_MAX_SOCKS; i++)
			if (!strcmp(sock, socks[i]))
				si = i;
		if (!strcmp(sock, "any"))
			si = -1;
		if (si == -2 || si >= vm->nsocks)
			return ctl_err("unknown socket '%s'", sock);
	}
	if (!strcmp(kind, "clear")) {
		while (vm->faults) {
			f = vm->faults;
			vm->faults = f->next;
			sim_fault_free(f);
		}
		vm->hang_fault = false;
		vm->no_accept = false;
		return ctl_ok();
	}
	if (!strcmp(kind, "hang")) {
		vm->hang_fault = true;
		return ctl_ok();
	}
	if (!strcmp(kind, "no-accept")) {
		vm->no_accept = true;
		return ctl_ok();
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return ctl_err("out of memory");
	f->sock = si;
	if (match)
		f->match = strdup(match);
	if (!strcmp(kind, "delay")) {
		if (!json_is_integer(ms) || json_integer_value(ms) < 0 ||
		    json_integer_value(ms) > 3600000) {
			sim_fault_free(f);
			return ctl_err("'delay' needs an integer 'ms' (0..3600000)");
		}
		f->kind = FAULT_DELAY;
		f->ms = (uint32_t)json_integer_value(ms);
	} else if (!strcmp(kind, "drop-before-reply")) {
		f->kind = FAULT_DROP_BEFORE;
	} else if (!strcmp(kind, "drop-after-reply")) {
		f->kind = FAULT_DROP_AFTER;
	} else if (!strcmp(kind, "no-greeting")) {
		f->kind = FAULT_NO_GREETING;
	} else if (!strcmp(kind, "garbage") || !strcmp(kind, "oversize")) {
		f->kind = !strcmp(kind, "garbage") ? FAULT_GARBAGE :
						     FAULT_OVERSIZE;
		if (bytes)
			f->bytes = strdup(bytes);
		if (size) {
			if (!json_is_integer(size) ||
			    json_integer_value(size) < 1 ||
			    json_integer_value(size) > (64 << 20)) {
				sim_fault_free(f);
				return ctl_err("'size' must be 1..64 MiB");
			}
			f->size = (size_t)json_integer_value(size);
		}
		sim_vm_fault_write(vm, f);
		return ctl_ok();
	} else {
		sim_fault_free(f);
		return ctl_err("unknown fault '%s'", kind);
	}
	/* keep the order in which faults were asked for */
	{
		struct sim_fault **pp = &vm->faults;

		while (*pp)
			pp = &(*pp)->next;
		*pp = f;
	}
	return ctl_ok();
}

static json_t *do_tune(json_t *req)
{
	static const struct { const char *name; size_t off; } dl[] = {
#define D(x) { #x, offsetof(struct sim_delays, x) }
		D(p_stop), D(p_migrated), D(p_reply), D(p_exit), D(p_resume),
		D(s_stop), D(s_migrated), D(s_exit), D(s_reply), D(s_resume),
		D(s_notice_kill), D(s_notice_reset), D(s_notice_yank),
		D(rescue), D(stop_event), D(stop_reply), D(checkpoint_fail),
		D(checkpoint_silent),
		D(quit_exit), D(blockdev_add_nbd), D(mig_s_active),
		D(mig_pass1), D(mig_block_p), D(mig_active), D(mig_pass2), D(mig_colo_p),
		D(mig_colo_s), D(mig_resume_s), D(mig_resume_p),
		D(q10_device), D(q10_pass2), D(q10_completed), D(q10_colo_s),
		D(q10_resume_s), D(q10_exit_s),
#undef D
	};
	json_t *err = NULL;
	struct sim_vm *vm = need_vm(req, "name", &err);
	json_t *fast = json_object_get(req, "fast");
	json_t *delays = json_object_get(req, "delays");
	const char *reason = str_field(req, "exit-reason");
	const char *hangup = str_field(req, "hangup");
	json_t *seed = json_object_get(req, "seed");
	const char *race = str_field(req, "migrate-query-race");
	struct sim_delays nd;
	const char *k;
	json_t *v;
	size_t i;

	if (!vm)
		return err;
	if (fast && !json_is_boolean(fast))
		return ctl_err("field 'fast' must be a boolean");
	if (delays && !json_is_object(delays))
		return ctl_err("field 'delays' must be an object");
	if (reason && strcmp(reason, "request") && strcmp(reason, "error") &&
	    strcmp(reason, "random"))
		return ctl_err("unknown exit-reason '%s'", reason);
	if (hangup && strcmp(hangup, "drop") && strcmp(hangup, "execute"))
		return ctl_err("unknown hangup policy '%s'", hangup);
	if (race && strcmp(race, "before-colo") && strcmp(race, "after-colo"))
		return ctl_err("unknown migrate-query-race '%s'", race);
	if (seed && !json_is_integer(seed))
		return ctl_err("field 'seed' must be an integer");
	nd = vm->d;
	if (fast)
		colo_delays_default(&nd, json_is_true(fast));
	json_object_foreach(delays, k, v) {
		bool found = false;

		for (i = 0; i < ARRAY_SIZE(dl); i++)
			if (!strcmp(k, dl[i].name)) {
				if (!json_is_integer(v) ||
				    json_integer_value(v) < 0 ||
				    json_integer_value(v) > 4000000000LL)
					return ctl_err("delay '%s' must be 0..4000000000 us",
						       k);
				*(uint32_t *)((char *)&nd + dl[i].off) =
					(uint32_t)json_integer_value(v);
				found = true;
			}
		if (!found)
			return ctl_err("unknown delay '%s'", k);
	}
	vm->d = nd;
	if (fast)
		vm->fast = json_is_true(fast);
	if (reason)
		vm->exit_reason = !strcmp(reason, "request") ? EXIT_REASON_REQUEST :
				  !strcmp(reason, "error") ? EXIT_REASON_ERROR :
				  EXIT_REASON_RANDOM;
	if (seed)
		vm->rand_state = (uint32_t)json_integer_value(seed) | 1u;
	if (race)
		vm->query_before_colo = !strcmp(race, "before-colo");
	if (hangup)
		vm->hangup_executes = !strcmp(hangup, "execute");
	return ctl_ok();
}

static json_t *handle(json_t *req)
{
	const char *cmd;
	json_t *err = NULL;
	struct sim_vm *vm, *b;

	if (!json_is_object(req))
		return ctl_err("request must be a JSON object");
	cmd = str_field(req, "cmd");
	if (!cmd)
		return ctl_err("missing string field 'cmd'");
	if (!strcmp(cmd, "vm-add"))
		return do_vm_add(req);
	if (!strcmp(cmd, "vm-remove"))
		return do_vm_remove(req);
	if (!strcmp(cmd, "pair"))
		return do_pair_or_link(req, true);
	if (!strcmp(cmd, "link"))
		return do_pair_or_link(req, false);
	if (!strcmp(cmd, "fault"))
		return do_fault(req);
	if (!strcmp(cmd, "tune"))
		return do_tune(req);
	if (!strcmp(cmd, "list")) {
		json_t *names = json_array();

		for (vm = sim_vms; vm; vm = vm->next)
			json_array_append_new(names, json_string(vm->name));
		return json_pack("{s:b,s:o}", "ok", 1, "vms", names);
	}
	if (!strcmp(cmd, "exit")) {
		sim_request_exit();
		return ctl_ok();
	}
	if (!strcmp(cmd, "partition") || !strcmp(cmd, "heal")) {
		vm = need_vm(req, "a", &err);
		if (!vm)
			return err;
		b = need_vm(req, "b", &err);
		if (!b)
			return err;
		if (colo_partition(vm, b, !strcmp(cmd, "partition")) < 0)
			return ctl_err("'%s' and 'b' are not linked",
				       vm->name);
		return ctl_ok();
	}
	if (strcmp(cmd, "kill") && strcmp(cmd, "silent-loss") &&
	    strcmp(cmd, "reset-migration") && strcmp(cmd, "checkpoint") &&
	    strcmp(cmd, "state") && strcmp(cmd, "log"))
		return ctl_err("unknown cmd '%s'", cmd);
	vm = need_vm(req, "name", &err);
	if (!vm)
		return err;
	if (!strcmp(cmd, "kill")) {
		if (!vm->alive)
			return ctl_err("VM '%s' is not running", vm->name);
		sim_vm_kill_now(vm, true);
		return ctl_ok();
	}
	if (!strcmp(cmd, "silent-loss")) {
		if (!vm->alive)
			return ctl_err("VM '%s' is not running", vm->name);
		colo_silent_loss(vm);
		return ctl_ok();
	}
	if (!strcmp(cmd, "reset-migration")) {
		if (colo_reset_migration(vm) < 0)
			return ctl_err("VM '%s' has no migration peer", vm->name);
		return ctl_ok();
	}
	if (!strcmp(cmd, "checkpoint")) {
		if (colo_checkpoint(vm) < 0)
			return ctl_err("VM '%s' is not a COLO primary in COLO",
				       vm->name);
		return ctl_ok();
	}
	if (!strcmp(cmd, "state"))
		return json_pack("{s:b,s:o}", "ok", 1, "state", colo_state(vm));
	if (!strcmp(cmd, "log")) {
		json_t *r = json_pack("{s:b,s:O,s:I}", "ok", 1, "log", vm->log,
				      "dropped", (json_int_t)vm->log_dropped);

		return r;
	}
	return ctl_err("unknown cmd '%s'", cmd);
}

void sim_control_handle(int fd_unused, const char *line, size_t len,
			struct sim_outbuf *out)
{
	json_error_t jerr;
	json_t *req = json_loadb(line, len, 0, &jerr), *rep;
	char *s;

	(void)fd_unused;
	if (!req) {
		char buf[300];

		snprintf(buf, sizeof(buf), "malformed JSON at line %d column %d: %s",
			 jerr.line, jerr.column, jerr.text);
		rep = json_pack("{s:b,s:s}", "ok", 0, "error", buf);
	} else {
		rep = handle(req);
		json_decref(req);
	}
	s = json_dumps(rep, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(rep);
	if (!s)
		return;
	sim_outbuf_add(out, s, strlen(s));
	sim_outbuf_add(out, "\n", 1);
	free(s);
}
