/*
 * daemon_control.c: colo-arbiterd's control socket handlers, on control.c.
 *
 * status (daemon_status_text), vm-add / vm-remove (run-time VMs, stored
 * under run_dir/vm.d so that they survive a daemon restart), failover (an
 * FSM_ADMIN_FAILOVER request: the fsm still applies every safety rule
 * unless force), watch (STATUS and AUDIT broadcasts).  Handlers answer from
 * a snapshot and return at once; they never decide.
 */
#include "daemon.h"
#include "daemon_control.h"
#include "control.h"

#include <errno.h>
#include <stdarg.h>
#include <qb/qblog.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void notice(int level, const char *msg, void *opaque)
{
	struct daemon *d = opaque;

	qb_log(level, "node=%u: control: %s", d->nodeid, msg);
}

static int fail(char *ec, size_t ecl, char *desc, size_t dl, const char *cls, int rc,
		const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static int fail(char *ec, size_t ecl, char *desc, size_t dl, const char *cls, int rc,
		const char *fmt, ...)
{
	va_list ap;

	snprintf(ec, ecl, "%s", cls);
	va_start(ap, fmt);
	vsnprintf(desc, dl, fmt, ap);
	va_end(ap);
	return rc;
}

static int do_vm_add(struct daemon *d, json_t *args, char *ec, size_t ecl, char *desc,
		     size_t dl)
{
	struct arb_vm_config vm;
	struct config_error err;
	char name[FSM_NAME_MAX];
	int rc;

	memset(&vm, 0, sizeof(vm));
	memset(&err, 0, sizeof(err));
	if (config_vm_from_json(args, &vm, &err)) {
		config_error_format(&err, desc, dl);
		snprintf(ec, ecl, "%s", CONTROL_ERR_GENERIC);
		return -EINVAL;
	}
	if (daemon_vm_find(d, vm.name)) {
		config_vm_free(&vm);
		return fail(ec, ecl, desc, dl, CONTROL_ERR_GENERIC, -EEXIST,
			    "VM %s is already registered", args ? json_string_value(
				    json_object_get(args, "name")) : "?");
	}
	/* stored first: a VM the daemon arbitrates must survive its restart */
	rc = daemon_registry_store(d, &vm);
	if (rc) {
		config_vm_free(&vm);
		return fail(ec, ecl, desc, dl, CONTROL_ERR_GENERIC, rc,
			    "cannot store the VM file: %s", strerror(-rc));
	}
	snprintf(name, sizeof(name), "%s", vm.name);
	rc = daemon_vm_add(d, &vm, true);
	if (rc) {
		config_vm_free(&vm);
		daemon_registry_unstore(d, name);
		return fail(ec, ecl, desc, dl, CONTROL_ERR_GENERIC, rc, "VM not added: %s",
			    strerror(-rc));
	}
	daemon_status_changed(d);
	return 0;
}

static int do_vm_remove(struct daemon *d, json_t *args, char *ec, size_t ecl, char *desc,
			size_t dl)
{
	const char *name = json_string_value(json_object_get(args, "name"));
	struct daemon_vm *v = name ? daemon_vm_find(d, name) : NULL;
	int rc;

	if (!name)
		return fail(ec, ecl, desc, dl, CONTROL_ERR_GENERIC, -EINVAL, "%s",
			    "vm-remove needs {\"name\": VM}");
	if (!v)
		return fail(ec, ecl, desc, dl, CONTROL_ERR_GENERIC, -ENOENT, "no VM %s", name);
	if (!v->runtime)
		return fail(ec, ecl, desc, dl, CONTROL_ERR_GENERIC, -EPERM,
			    "VM %s comes from vm_dir: remove its file and reload (SIGHUP)", name);
	rc = daemon_vm_remove(d, v);
	if (rc)
		return fail(ec, ecl, desc, dl, CONTROL_ERR_SAFETY, rc,
			    "VM %s is in the middle of a failover or freeze: try again", name);
	rc = daemon_registry_unstore(d, name);
	if (rc)
		return fail(ec, ecl, desc, dl, CONTROL_ERR_GENERIC, rc,
			    "VM removed, but its file could not be: %s", strerror(-rc));
	daemon_status_changed(d);
	return 0;
}

static int do_failover(struct daemon *d, json_t *args, char *ec, size_t ecl, char *desc,
		       size_t dl)
{
	const char *name = json_string_value(json_object_get(args, "name"));
	json_t *force = json_object_get(args, "force");
	struct fsm_event ev;
	int rc;

	if (!name || (force && !json_is_boolean(force)))
		return fail(ec, ecl, desc, dl, CONTROL_ERR_GENERIC, -EINVAL, "%s",
			    "failover needs {\"name\": VM[, \"force\": bool]}");
	if (!daemon_vm_find(d, name))
		return fail(ec, ecl, desc, dl, CONTROL_ERR_GENERIC, -ENOENT, "no local VM %s",
			    name);
	if (!d->fsm)
		return fail(ec, ecl, desc, dl, CONTROL_ERR_SAFETY, -EAGAIN, "%s",
			    "not connected to corosync yet");
	memset(&ev, 0, sizeof(ev));
	ev.kind = FSM_EV_ADMIN;
	ev.u.admin.kind = FSM_ADMIN_FAILOVER;
	snprintf(ev.u.admin.vm, sizeof(ev.u.admin.vm), "%s", name);
	ev.u.admin.force = json_is_true(force);
	qb_log(ev.u.admin.force ? LOG_WARNING : LOG_NOTICE,
	       "node=%u vm=%s: manual failover requested%s", d->nodeid, name,
	       ev.u.admin.force ? " with FORCE: safety gates bypassed" : "");
	rc = daemon_post(d, &ev);
	if (rc)
		return fail(ec, ecl, desc, dl, CONTROL_ERR_GENERIC, rc,
			    "the decision core refused the request: %s", strerror(-rc));
	return 0;
}

static int handler(struct control_conn *conn, const char *cmd, json_t *args, json_t **ret,
		   char *ec, size_t ecl, char *desc, size_t dl, void *opaque)
{
	struct daemon *d = opaque;
	int rc;

	*ret = NULL;
	if (!strcmp(cmd, "status")) {
		char *text = daemon_status_text(d);

		if (!text)
			return -ENOMEM;
		control_conn_return_text(conn, text);
		return 0;
	}
	if (!strcmp(cmd, "watch")) {
		control_conn_watch(conn);
		return 0;
	}
	if (!strcmp(cmd, "vm-add"))
		rc = do_vm_add(d, args, ec, ecl, desc, dl);
	else if (!strcmp(cmd, "vm-remove"))
		rc = do_vm_remove(d, args, ec, ecl, desc, dl);
	else if (!strcmp(cmd, "failover"))
		rc = do_failover(d, args, ec, ecl, desc, dl);
	else
		return fail(ec, ecl, desc, dl, CONTROL_ERR_NOT_FOUND, -ENOENT,
			    "unknown command '%s'", cmd);
	if (!rc)
		qb_log(LOG_INFO, "node=%u: control: %s done", d->nodeid, cmd);
	return rc;
}

struct control_server *daemon_control_start(struct daemon *d)
{
	struct control_server_config cfg = { 0 };
	struct control_server *s;

	mkdir(d->cfg.run_dir, 0750);
	cfg.path = d->cfg.control_socket;
	cfg.group = d->cfg.control_group;
	cfg.mode = d->cfg.control_mode;
	cfg.node = d->nodeid;
	cfg.version = COLO_VERSION;
	cfg.notice = notice;
	cfg.notice_opaque = d;
	s = control_server_new(d->loop, &cfg, handler, d);
	if (!s)
		qb_log(LOG_ERR, "control socket %s: %s", d->cfg.control_socket, strerror(errno));
	return s;
}

void daemon_control_stop(struct daemon *d)
{
	control_server_free(d->control);
	d->control = NULL;
}

void daemon_control_broadcast(struct daemon *d, const char *event, json_t *data)
{
	if (d->control && data)
		control_server_broadcast(d->control, event, data);
	json_decref(data);
}

void daemon_control_broadcast_text(struct daemon *d, const char *event, const char *data)
{
	if (d->control && data)
		control_server_broadcast_text(d->control, event, data);
}
