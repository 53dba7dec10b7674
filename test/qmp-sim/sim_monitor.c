/*
 * sim_monitor.c: the QMP monitors of one simulated VM: unix server sockets
 * (one client each, others wait in the backlog as with QEMU's chardev
 * server), greeting, capabilities negotiation, QEMU's input checks and error
 * texts, the in-band queue (strictly one command at a time per VM, as QEMU's
 * main loop), out-of-band execution, events, fault injection and the log.
 * It knows nothing about COLO itself: commands go to sim_colo.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sim.h"

static uint64_t conn_next_id = 1;

json_t *sim_error(const char *cls, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return json_pack("{s:s,s:s}", "class", cls, "desc", buf);
}

void sim_vm_log(struct sim_vm *vm, struct sim_conn *c, const char *dir,
		json_t *msg, const char *raw)
{
	json_t *e = json_object();

	json_object_set_new(e, "t", json_integer((json_int_t)sim_now_us()));
	json_object_set_new(e, "dir", json_string(dir));
	json_object_set_new(e, "conn", json_integer(c ? (json_int_t)c->id : 0));
	json_object_set_new(e, "socket", json_integer(c ? c->sock : -1));
	if (msg)
		json_object_set(e, "msg", msg);
	else
		json_object_set_new(e, "raw", json_string_nocheck(raw ? raw : ""));
	if (json_array_size(vm->log) >= SIM_LOG_MAX) {
		json_array_remove(vm->log, 0);
		vm->log_dropped++;
	}
	json_array_append_new(vm->log, e);
}

static void conn_flush(struct sim_conn *c)
{
	/* a hung or vanished monitor keeps its output until "clear" */
	if (c->closing || c->fd < 0 || c->vm->hang_fault || c->vm->vanished)
		return;
	if (sim_outbuf_flush(&c->out, c->fd) < 0)
		c->closing = true;
}

static bool conn_queue(struct sim_conn *c, const char *data, size_t len)
{
	if (c->closing || c->fd < 0)
		return false;
	if (sim_outbuf_add(&c->out, data, len) < 0) {
		/* the client does not read: drop it like a dead peer */
		c->closing = true;
		return false;
	}
	return true;
}

void sim_conn_send_raw(struct sim_conn *c, const char *data, size_t len)
{
	if (conn_queue(c, data, len))
		conn_flush(c);
}

void sim_conn_send(struct sim_conn *c, const json_t *msg)
{
	char *s = sim_json_dump(msg);
	size_t n;

	if (!s)
		return;
	n = strlen(s);
	sim_vm_log(c->vm, c, "out", (json_t *)msg, NULL);
	/* QEMU's monitor turns "\n" into "\r\n"; one write for both */
	if (conn_queue(c, s, n) && conn_queue(c, "\r\n", 2))
		conn_flush(c);
	free(s);
}

struct sim_conn *sim_conn_find(struct sim_vm *vm, uint64_t id)
{
	struct sim_conn *c;

	for (c = vm->conns; c; c = c->next)
		if (c->id == id && !c->closing)
			return c;
	return NULL;
}

static void queue_drop_conn(struct sim_vm *vm, uint64_t id)
{
	struct sim_req **pp = &vm->queue;

	vm->queue_tail = NULL;
	while (*pp) {
		struct sim_req *r = *pp;

		if (r->conn_id == id) {
			*pp = r->next;
			json_decref(r->req);
			free(r->parse_error);
			free(r);
		} else {
			vm->queue_tail = r;
			pp = &r->next;
		}
	}
}

void sim_conn_close(struct sim_conn *c)
{
	struct sim_vm *vm = c->vm;
	struct sim_conn **pp;

	for (pp = &vm->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	/* QEMU drops requests not yet dispatched when the client goes */
	if (!vm->hangup_executes)
		queue_drop_conn(vm, c->id);
	sim_logf("%s: conn %llu closed", vm->name, (unsigned long long)c->id);
	sim_poll_close(c->fd);
	sim_framer_free(&c->in);
	sim_outbuf_free(&c->out);
	free(c);
	sim_free_gen++;
}

void sim_vm_event(struct sim_vm *vm, const char *name, json_t *data)
{
	json_t *ev = json_object();
	struct sim_conn *c;

	json_object_set_new(ev, "timestamp", sim_wall_timestamp());
	json_object_set_new(ev, "event", json_string(name));
	if (data)
		json_object_set(ev, "data", data);
	if (vm->alive && !vm->vanished)
		for (c = vm->conns; c; c = c->next)
			if (c->negotiated && !c->closing)
				sim_conn_send(c, ev);
	json_decref(ev);
}

void sim_vm_reply(struct sim_vm *vm, uint64_t conn_id, const json_t *id,
		  json_t *ret, bool is_error)
{
	struct sim_conn *c = sim_conn_find(vm, conn_id);
	json_t *msg = json_object();

	/* key order as QEMU's QDict prints it */
	if (is_error) {
		if (id)
			json_object_set(msg, "id", (json_t *)id);
		json_object_set_new(msg, "error", ret);
	} else {
		json_object_set_new(msg, "return", ret);
		if (id)
			json_object_set(msg, "id", (json_t *)id);
	}
	if (c)
		sim_conn_send(c, msg);
	json_decref(msg);
}

static void conn_greet(struct sim_conn *c)
{
	const struct sim_vm *vm = c->vm;
	json_t *g;

	if (vm->build == SIM_BUILD_QEMU10_BROKEN)
		g = json_pack("{s:{s:{s:{s:i,s:i,s:i},s:s},s:[s]}}", "QMP",
			      "version", "qemu", "micro", 2, "minor", 0,
			      "major", 10, "package",
			      "Debian 1:10.0.2+ds-2+deb13u1~bpo12+1",
			      "capabilities", "oob");
	else
		g = json_pack("{s:{s:{s:{s:i,s:i,s:i},s:s},s:[s]}}", "QMP",
			      "version", "qemu", "micro", 22, "minor", 2,
			      "major", 7, "package",
			      "Debian 1:7.2+dfsg-7+deb12u18+b3",
			      "capabilities", "oob");
	sim_conn_send(c, g);
	json_decref(g);
}

void sim_fault_free(struct sim_fault *f)
{
	free(f->match);
	free(f->bytes);
	free(f);
}

/* Takes the first pending fault of a kind for socket sock / command cmd. */
static struct sim_fault *fault_take(struct sim_vm *vm, int sock,
				    const enum sim_fault_kind *kinds,
				    size_t nkinds, const char *cmd)
{
	struct sim_fault **pp;

	for (pp = &vm->faults; *pp; pp = &(*pp)->next) {
		struct sim_fault *f = *pp;
		bool kind_ok = false;
		size_t i;

		for (i = 0; i < nkinds; i++)
			if (f->kind == kinds[i])
				kind_ok = true;
		if (!kind_ok || (f->sock >= 0 && f->sock != sock))
			continue;
		if (f->match && cmd && strcmp(f->match, cmd))
			continue;
		*pp = f->next;
		return f;
	}
	return NULL;
}

static void conn_write_fault(struct sim_conn *c, const struct sim_fault *f)
{
	if (f->kind == FAULT_GARBAGE) {
		const char *b = f->bytes ? f->bytes : "{\"QMP\": garbage\n";

		sim_vm_log(c->vm, c, "out", NULL, b);
		sim_conn_send_raw(c, b, strlen(b));
	} else if (f->kind == FAULT_OVERSIZE) {
		static const char head[] = "{\"event\": \"SIM_OVERSIZE\", "
					   "\"data\": {\"pad\": \"";
		static const char tail[] = "\"}}\r\n";
		size_t size = f->size ? f->size : (2u << 20);
		char *b = malloc(size + 1);

		if (!b)
			return;
		if (size >= sizeof(head) + sizeof(tail)) {
			memcpy(b, head, sizeof(head) - 1);
			memset(b + sizeof(head) - 1, 'x',
			       size - (sizeof(head) - 1) - (sizeof(tail) - 1));
			memcpy(b + size - (sizeof(tail) - 1), tail,
			       sizeof(tail) - 1);
		} else {
			memset(b, 'x', size);
			if (size)
				b[size - 1] = '\n';
		}
		b[size] = '\0';
		sim_vm_log(c->vm, c, "out", NULL, "(oversize line)");
		sim_conn_send_raw(c, b, size);
		free(b);
	}
}

void sim_vm_fault_write(struct sim_vm *vm, struct sim_fault *f)
{
	struct sim_conn *c;

	for (c = vm->conns; c; c = c->next)
		if (!c->closing && (f->sock < 0 || c->sock == f->sock)) {
			conn_write_fault(c, f);
			sim_fault_free(f);
			return;
		}
	f->next = vm->faults;
	vm->faults = f;
}

void sim_vm_accept(struct sim_vm *vm, int sock)
{
	static const enum sim_fault_kind greet[] = { FAULT_NO_GREETING };
	static const enum sim_fault_kind wr[] = { FAULT_GARBAGE,
						  FAULT_OVERSIZE };
	struct sim_conn *c;
	struct sim_fault *f;
	int fd;

	fd = accept4(vm->listen_fd[sock], NULL, NULL,
		     SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->vm = vm;
	c->sock = sock;
	c->fd = fd;
	c->id = conn_next_id++;
	c->next = vm->conns;
	vm->conns = c;
	sim_logf("%s: conn %llu on socket %d", vm->name,
		 (unsigned long long)c->id, sock);
	f = fault_take(vm, sock, greet, 1, NULL);
	if (f)
		sim_fault_free(f);
	else
		conn_greet(c);
	while ((f = fault_take(vm, sock, wr, 2, NULL))) {
		conn_write_fault(c, f);
		sim_fault_free(f);
	}
}

static void queue_push(struct sim_vm *vm, uint64_t conn_id, json_t *req,
		       const char *parse_error)
{
	struct sim_req *r = calloc(1, sizeof(*r));

	if (!r) {
		json_decref(req);
		return;
	}
	r->conn_id = conn_id;
	r->req = req;
	r->parse_error = parse_error ? strdup(parse_error) : NULL;
	if (vm->queue_tail)
		vm->queue_tail->next = r;
	else
		vm->queue = r;
	vm->queue_tail = r;
}

/*
 * QEMU's qmp_dispatch_check_obj(): returns NULL if the request is well
 * formed, else an error object.
 */
static json_t *check_obj(json_t *req, bool allow_oob, const char **cmd,
			 bool *oob)
{
	const char *key, *exec_key = NULL;
	json_t *v;

	if (!json_is_object(req))
		return sim_error("GenericError", "QMP input must be a JSON object");
	*cmd = NULL;
	*oob = false;
	json_object_foreach(req, key, v) {
		if (!strcmp(key, "execute") ||
		    (!strcmp(key, "exec-oob") && allow_oob)) {
			if (!json_is_string(v))
				return sim_error("GenericError",
					"QMP input member '%s' must be a string",
					key);
			if (exec_key)
				return sim_error("GenericError",
					"QMP input member '%s' clashes with '%s'",
					key, exec_key);
			exec_key = key;
			*cmd = json_string_value(v);
			*oob = !strcmp(key, "exec-oob");
		} else if (!strcmp(key, "arguments")) {
			if (!json_is_object(v))
				return sim_error("GenericError",
					"QMP input member 'arguments' must be an object");
		} else if (!strcmp(key, "id")) {
			continue;
		} else {
			return sim_error("GenericError",
				"QMP input member '%s' is unexpected", key);
		}
	}
	if (!exec_key)
		return sim_error("GenericError", "QMP input lacks member 'execute'");
	return NULL;
}

/* Runs one request (in-band from the queue, or OOB at once). */
static void dispatch(struct sim_vm *vm, struct sim_conn *c, json_t *req,
		     bool from_queue)
{
	static const enum sim_fault_kind cmdf[] = {
		FAULT_DELAY, FAULT_DROP_BEFORE, FAULT_DROP_AFTER };
	json_t *id = json_is_object(req) ? json_object_get(req, "id") : NULL;
	json_t *err, *args, *ret = NULL;
	const char *cmd = NULL;
	struct sim_fault *f;
	struct sim_job *job;
	bool oob = false, is_error = false;

	err = check_obj(req, c->oob, &cmd, &oob);
	if (err) {
		sim_vm_reply(vm, c->id, id, err, true);
		return;
	}
	args = json_object_get(req, "arguments");

	if (!c->negotiated) {
		if (!strcmp(cmd, "qmp_capabilities") && !oob) {
			json_t *en = args ? json_object_get(args, "enable") : NULL;
			size_t i;
			json_t *v;

			if (args) {
				const char *k;

				json_object_foreach(args, k, v)
					if (strcmp(k, "enable")) {
						sim_vm_reply(vm, c->id, id,
							sim_error("GenericError",
							"Parameter '%s' is unexpected",
							k), true);
						return;
					}
			}
			if (en && !json_is_array(en)) {
				sim_vm_reply(vm, c->id, id,
					     sim_error("GenericError",
						"Invalid parameter type for 'enable', expected: array"),
					     true);
				return;
			}
			json_array_foreach(en, i, v) {
				if (!json_is_string(v) ||
				    strcmp(json_string_value(v), "oob")) {
					sim_vm_reply(vm, c->id, id,
						sim_error("GenericError",
						"Parameter 'enable' does not accept value '%s'",
						json_is_string(v) ?
						json_string_value(v) : "?"),
						true);
					return;
				}
			}
			c->oob = json_array_size(en) > 0;
			c->negotiated = true;
			sim_vm_reply(vm, c->id, id, json_object(), false);
			return;
		}
		sim_vm_reply(vm, c->id, id,
			     sim_error("CommandNotFound",
				"Expecting capabilities negotiation with 'qmp_capabilities'"),
			     true);
		return;
	}
	if (!strcmp(cmd, "qmp_capabilities")) {
		sim_vm_reply(vm, c->id, id,
			     sim_error("CommandNotFound",
				"Capabilities negotiation is already complete, command ignored"),
			     true);
		return;
	}
	if (!colo_command_known(vm, cmd)) {
		sim_vm_reply(vm, c->id, id,
			     sim_error("CommandNotFound",
				       "The command %s has not been found", cmd),
			     true);
		return;
	}
	if (oob && !colo_command_oob(cmd)) {
		sim_vm_reply(vm, c->id, id,
			     sim_error("GenericError",
				       "The command %s does not support OOB", cmd),
			     true);
		return;
	}

	f = fault_take(vm, c->sock, cmdf, ARRAY_SIZE(cmdf), cmd);
	if (f && f->kind == FAULT_DROP_BEFORE) {
		sim_fault_free(f);
		c->closing = true;
		return;
	}
	job = colo_execute(vm, c, cmd, args, id, &ret, &is_error);
	if (job) {
		if (f && f->kind == FAULT_DROP_AFTER)
			job->drop_after_reply = true;
		if (f && f->kind == FAULT_DELAY) {
			size_t i;

			for (i = 0; i < job->nsteps; i++)
				if (job->steps[i].op == STEP_REPLY)
					job->steps[i].at_us +=
						(uint64_t)f->ms * 1000u;
		}
		if (f)
			sim_fault_free(f);
		if (job->blocks && from_queue)
			vm->inband = job;
		sim_job_schedule(job);
		sim_job_run(job);
		return;
	}
	if (f && f->kind == FAULT_DELAY) {
		job = sim_job_new(vm, from_queue);
		job->conn_id = c->id;
		job->id = id ? json_incref(id) : NULL;
		job->reply = ret;
		job->reply_is_error = is_error;
		job->what = strdup(cmd);
		sim_job_add(job, (uint64_t)f->ms * 1000u, STEP_REPLY, NULL,
			    NULL, NULL);
		sim_job_add(job, (uint64_t)f->ms * 1000u, STEP_DONE, NULL,
			    NULL, NULL);
		sim_fault_free(f);
		if (from_queue)
			vm->inband = job;
		sim_job_schedule(job);
		return;
	}
	sim_vm_reply(vm, c->id, id, ret, is_error);
	if (f) {
		if (f->kind == FAULT_DROP_AFTER)
			c->closing = true;
		sim_fault_free(f);
	}
}

static void conn_handle_text(struct sim_conn *c, const char *text, size_t len)
{
	struct sim_vm *vm = c->vm;
	json_error_t jerr;
	json_t *req = json_loadb(text, len, JSON_DECODE_ANY, &jerr);

	if (!req) {
		char desc[300];

		sim_vm_log(vm, c, "in", NULL, text);
		snprintf(desc, sizeof(desc), "JSON parse error, %s", jerr.text);
		queue_push(vm, c->id, NULL, desc);
		return;
	}
	sim_vm_log(vm, c, "in", req, NULL);
	if (json_is_object(req) && json_object_get(req, "exec-oob") &&
	    !json_object_get(req, "execute")) {
		/* QEMU runs these at once in the monitor I/O thread */
		dispatch(vm, c, req, false);
		json_decref(req);
		return;
	}
	queue_push(vm, c->id, req, NULL);
}

/*
 * A monitor without oob reads one command, then QEMU suspends it until that
 * command was dispatched: later input stays unread (even an exec-oob).
 */
static bool conn_blocked(const struct sim_conn *c)
{
	const struct sim_req *r;

	if (c->oob)
		return false;
	if (c->vm->inband && c->vm->inband->conn_id == c->id)
		return true;
	for (r = c->vm->queue; r; r = r->next)
		if (r->conn_id == c->id)
			return true;
	return false;
}

static void conn_drain(struct sim_conn *c)
{
	while (!c->closing && !conn_blocked(c)) {
		char *text;
		size_t len;
		int r = sim_framer_next(&c->in, &text, &len);

		if (r < 0) {
			sim_vm_log(c->vm, c, "in", NULL, "(input too large)");
			c->closing = true;
			break;
		}
		if (r == 0)
			break;
		conn_handle_text(c, text, len);
		free(text);
	}
}

void sim_vm_pump(struct sim_vm *vm)
{
	struct sim_conn *c, *nx;
	bool progress = true;

	while (progress) {
		progress = false;
		if (!vm->alive || vm->vanished || vm->hang_fault)
			break;
		for (c = vm->conns; c; c = c->next)
			conn_drain(c);
		while (!vm->inband && vm->queue) {
			struct sim_req *r = vm->queue;

			progress = true;
			vm->queue = r->next;
			if (!vm->queue)
				vm->queue_tail = NULL;
			c = sim_conn_find(vm, r->conn_id);
			if (c && r->parse_error) {
				sim_vm_reply(vm, c->id, NULL,
					     sim_error("GenericError", "%s",
						       r->parse_error), true);
			} else if (r->parse_error) {
				/* nobody to tell */
			} else if (c) {
				dispatch(vm, c, r->req, true);
			} else if (vm->hangup_executes) {
				/* run it for a client that left: no reply */
				struct sim_conn ghost;

				memset(&ghost, 0, sizeof(ghost));
				ghost.vm = vm;
				ghost.id = r->conn_id;
				ghost.negotiated = true;
				ghost.fd = -1;
				dispatch(vm, &ghost, r->req, true);
			}
			json_decref(r->req);
			free(r->parse_error);
			free(r);
			if (!vm->alive)
				return;
		}
	}
	for (c = vm->conns; c; c = nx) {
		nx = c->next;
		if (c->closing)
			sim_conn_close(c);
	}
}

void sim_conn_readable(struct sim_conn *c)
{
	char buf[65536];
	bool eof = false;

	for (;;) {
		ssize_t n = read(c->fd, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				eof = true;
			break;
		}
		if (n == 0) {
			eof = true;
			break;
		}
		if (sim_framer_feed(&c->in, buf, (size_t)n) < 0) {
			sim_vm_log(c->vm, c, "in", NULL, "(input too large)");
			eof = true;
			break;
		}
		if ((size_t)n < sizeof(buf))
			break;
	}
	conn_drain(c);
	if (eof)
		c->closing = true;
}

void sim_conn_writable(struct sim_conn *c)
{
	conn_flush(c);
}

static int listen_unix(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, path);
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 16) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

struct sim_vm *sim_vm_new(const char *name, enum sim_build b, bool incoming,
			  char **paths, int npaths, bool fast, bool process,
			  char *err, size_t errlen)
{
	static int vm_index;
	struct sim_vm *vm = calloc(1, sizeof(*vm));
	int i;

	if (!vm) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	vm->name = strdup(name);
	vm->index = vm_index++;
	vm->build = b;
	vm->fast = fast;
	vm->alive = true;
	vm->log = json_array();
	vm->child_fd = -1;
	for (i = 0; i < SIM_MAX_SOCKS; i++)
		vm->listen_fd[i] = -1;
	for (i = 0; i < npaths; i++) {
		vm->sock_path[i] = strdup(paths[i]);
		vm->nsocks = i + 1;
	}
	if (process && sim_proc_spawn(vm, paths, npaths, err, errlen) < 0) {
		sim_vm_close_sockets(vm, true);
		sim_vm_free(vm);
		return NULL;
	}
	for (i = 0; i < npaths && !process; i++) {
		vm->listen_fd[i] = listen_unix(paths[i], err, errlen);
		if (vm->listen_fd[i] < 0) {
			sim_vm_close_sockets(vm, true);
			sim_vm_free(vm);
			return NULL;
		}
	}
	colo_delays_default(&vm->d, fast);
	vm->rand_state = 0x2545f491u ^ (uint32_t)vm->index;
	colo_vm_init(vm, incoming);
	return vm;
}

void sim_vm_close_sockets(struct sim_vm *vm, bool unlink_files)
{
	int i;

	/* the process first: its pidfd fires no later than the hang-up */
	sim_proc_kill(vm);
	while (vm->conns) {
		struct sim_conn *c = vm->conns;

		vm->conns = c->next;
		sim_poll_close(c->fd);
		sim_framer_free(&c->in);
		sim_outbuf_free(&c->out);
		free(c);
		sim_free_gen++;
	}
	for (i = 0; i < vm->nsocks; i++) {
		sim_poll_close(vm->listen_fd[i]);
		vm->listen_fd[i] = -1;
		if (unlink_files && vm->sock_path[i])
			unlink(vm->sock_path[i]);
	}
}

void sim_vm_free(struct sim_vm *vm)
{
	int i;

	while (vm->queue) {
		struct sim_req *r = vm->queue;

		vm->queue = r->next;
		json_decref(r->req);
		free(r->parse_error);
		free(r);
	}
	while (vm->faults) {
		struct sim_fault *f = vm->faults;

		vm->faults = f->next;
		sim_fault_free(f);
	}
	for (i = 0; i < SIM_MAX_SOCKS; i++)
		free(vm->sock_path[i]);
	json_decref(vm->mig_params);
	json_decref(vm->mig_caps);
	json_decref(vm->nbd_exports);
	json_decref(vm->objects);
	json_decref(vm->log);
	free(vm->peer);
	free(vm->name);
	free(vm);
	sim_free_gen++;
}

/* The process is gone (kill -9, quit): sockets close, files stay. */
void sim_vm_kill_now(struct sim_vm *vm, bool reset_peer)
{
	struct sim_vm *peer = sim_vm_find(vm->peer);

	if (!vm->alive)
		return;
	sim_jobs_cancel_vm(vm);
	sim_vm_close_sockets(vm, false);
	while (vm->queue) {
		struct sim_req *r = vm->queue;

		vm->queue = r->next;
		json_decref(r->req);
		free(r->parse_error);
		free(r);
	}
	vm->queue_tail = NULL;
	vm->alive = false;
	vm->running = false;
	snprintf(vm->status, sizeof(vm->status), "dead");
	if (peer && reset_peer)
		colo_peer_killed(peer, vm);
}
