/*
 * fake-arbiterd.c: a stand-in for colo-arbiterd that serves the real
 * control socket code (control.c) with canned replies, so test_ctl.sh can
 * run the real colo-arbiterctl against it. Test-only: it decides nothing.
 *
 * Usage: fake-arbiterd --socket PATH --ready FILE [--log FILE]
 *                      [--status FILE] [--group NAME] [--mode OCTAL]
 * Canned behaviour:
 *   status            the JSON of --status FILE (default: a small one)
 *   vm-add            checks name/qmp/role/peer-node; name "exists" fails
 *   vm-remove         name "nosuch" fails (GenericError)
 *   failover          name "refused": SafetyRefused; name "hang": sleeps
 *                     5 s before answering (for the client's timeout);
 *                     name "broken": closes nothing, returns an error
 *                     of class "DeviceNotActive"
 *   watch             subscribes; 100 ms later one STATUS and one AUDIT
 *                     event are broadcast
 *   anything else     CommandNotFound
 * Every request is appended to --log as one line: CMD ARGS-JSON.
 */
#include "control.h"

#include "compiler.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fake {
	qb_loop_t *loop;
	struct control_server *srv;
	json_t *status;
	FILE *log;
};

static struct fake fake;

static const char default_status[] =
	"{\"node\":{\"id\":1,\"name\":\"n1\"},"
	"\"cluster\":{\"quorate\":true,\"ring_id\":\"1.1c\",\"quorum_ring_id\":\"1.1c\","
	"\"members\":[1,2,3],\"gate\":\"open\",\"gate_reason\":null,"
	"\"ipc\":{\"cpg\":true,\"quorum\":true},\"fence_policy\":\"pacemaker\","
	"\"no_quorum\":\"freeze\"},\"vms\":[]}";

static void set_err(char *cls, size_t cl, char *desc, size_t dl,
		    const char *c, const char *d)
{
	snprintf(cls, cl, "%s", c);
	snprintf(desc, dl, "%s", d);
}

static void broadcast_fire(void *data)
{
	json_t *st = json_pack("{s:s,s:s,s:i,s:s}", "vm", "web1", "status",
			       "solo", "where", 1, "why",
			       "rule1-secondary-node-lost");
	json_t *au = json_pack("{s:s,s:s,s:s,s:s,s:I,s:[{s:s,s:s}]}", "vm",
			       "web1", "rule", "rule1-secondary-node-lost",
			       "decision", "transition committed", "event",
			       "quorum", "wall_ms", (json_int_t)1764102662123,
			       "actions", "kind", "qmp", "cmd",
			       "x-colo-lost-heartbeat");

	control_server_broadcast(fake.srv, "STATUS", st);
	control_server_broadcast(fake.srv, "AUDIT", au);
	json_decref(st);
	json_decref(au);
}

static int handler(struct control_conn *conn, const char *cmd, json_t *args,
		   json_t **ret, char *cls, size_t cl, char *desc, size_t dl,
		   void *opaque)
{
	const char *name = json_string_value(json_object_get(args, "name"));

	if (fake.log) {
		char *a = json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS);

		fprintf(fake.log, "%s %s\n", cmd, a ? a : "?");
		fflush(fake.log);
		free(a);
	}
	if (!strcmp(cmd, "status")) {
		*ret = json_incref(fake.status);
		return 0;
	}
	if (!strcmp(cmd, "vm-add")) {
		const char *role = json_string_value(json_object_get(args, "role"));

		if (!name || !json_is_string(json_object_get(args, "qmp")) ||
		    !role || !json_is_integer(json_object_get(args, "peer-node"))) {
			set_err(cls, cl, desc, dl, CONTROL_ERR_GENERIC,
				"vm-add: name, qmp, role and peer-node are required");
			return -EINVAL;
		}
		if (!strcmp(name, "exists")) {
			set_err(cls, cl, desc, dl, CONTROL_ERR_GENERIC,
				"VM 'exists' is already configured");
			return -EEXIST;
		}
		*ret = json_pack("{s:s}", "name", name);
		return 0;
	}
	if (!strcmp(cmd, "vm-remove")) {
		if (!name || !strcmp(name, "nosuch")) {
			set_err(cls, cl, desc, dl, CONTROL_ERR_GENERIC,
				"no such VM");
			return -ENOENT;
		}
		return 0;
	}
	if (!strcmp(cmd, "failover")) {
		if (!name) {
			set_err(cls, cl, desc, dl, CONTROL_ERR_GENERIC,
				"failover: 'name' is required");
			return -EINVAL;
		}
		if (!strcmp(name, "refused")) {
			set_err(cls, cl, desc, dl, CONTROL_ERR_SAFETY,
				"gate closed: not quorate");
			return -EPERM;
		}
		if (!strcmp(name, "broken")) {
			set_err(cls, cl, desc, dl, "DeviceNotActive",
				"QMP monitor of broken is not connected");
			return -EIO;
		}
		if (!strcmp(name, "hang"))
			sleep(5); /* a fake may block its loop: that is the test */
		*ret = json_pack("{s:s,s:s}", "vm", name, "status",
				 "failing-over");
		return 0;
	}
	if (!strcmp(cmd, "watch")) {
		qb_loop_timer_handle t;

		control_conn_watch(conn);
		qb_loop_timer_add(fake.loop, QB_LOOP_MED, 100ull * 1000 * 1000,
				  NULL, broadcast_fire, &t);
		return 0;
	}
	set_err(cls, cl, desc, dl, CONTROL_ERR_NOT_FOUND, "unknown command");
	return -ENOENT;
}

static int32_t on_signal(int32_t sig, void *data)
{
	qb_loop_stop(fake.loop);
	return 0;
}

static void on_notice(int level, const char *msg, void *opaque)
{
	fprintf(stderr, "fake-arbiterd: <%d> %s\n", level, msg);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "ready", required_argument, NULL, 'r' },
		{ "log", required_argument, NULL, 'l' },
		{ "status", required_argument, NULL, 'S' },
		{ "group", required_argument, NULL, 'g' },
		{ "mode", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	struct control_server_config cfg = {
		.node = 1, .notice = on_notice,
	};
	const char *ready = NULL;
	qb_loop_signal_handle sh;
	json_error_t jerr;
	FILE *f;
	int ch;

	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 's':
			cfg.path = optarg;
			break;
		case 'r':
			ready = optarg;
			break;
		case 'l':
			fake.log = fopen(optarg, "a");
			break;
		case 'S':
			fake.status = json_load_file(optarg, 0, &jerr);
			if (!fake.status) {
				fprintf(stderr, "fake-arbiterd: %s: %s\n", optarg,
					jerr.text);
				return 1;
			}
			break;
		case 'g':
			cfg.group = optarg;
			break;
		case 'm':
			cfg.mode = (mode_t)strtoul(optarg, NULL, 8);
			break;
		default:
			return 2;
		}
	}
	if (!cfg.path || !ready) {
		fprintf(stderr, "usage: fake-arbiterd --socket PATH --ready FILE ...\n");
		return 2;
	}
	if (!fake.status)
		fake.status = json_loads(default_status, 0, NULL);
	fake.loop = qb_loop_create();
	qb_loop_signal_add(fake.loop, QB_LOOP_HIGH, SIGTERM, NULL, on_signal, &sh);
	qb_loop_signal_add(fake.loop, QB_LOOP_HIGH, SIGINT, NULL, on_signal, &sh);
	fake.srv = control_server_new(fake.loop, &cfg, handler, NULL);
	if (!fake.srv) {
		fprintf(stderr, "fake-arbiterd: %s: %s\n", cfg.path, strerror(errno));
		return 1;
	}
	f = fopen(ready, "w");
	if (!f)
		return 1;
	fprintf(f, "%ld\n", (long)getpid());
	fclose(f);
	qb_loop_run(fake.loop);
	control_server_free(fake.srv);
	qb_loop_destroy(fake.loop);
	json_decref(fake.status);
	if (fake.log)
		fclose(fake.log);
	return 0;
}
