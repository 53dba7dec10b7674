/*
 * test_sim_control.c: qmp-sim's control protocol and monitor edge cases:
 * malformed and unknown requests, unknown VMs, 500 VMs added, listed and
 * idle, one client per QMP socket, QEMU's negotiation errors, the fault
 * injections, a VM with a listener process of its own ("process":true), and
 * a clean exit (also on SIGTERM) that removes every socket.
 * Prints TAP. Every simulator it starts is stopped, also on failure.
 */
#include <errno.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "simtest.h"

static int test_num, test_failed;

static void check(bool ok, const char *fmt, ...) ATTR_PRINTF(2, 3);
static void check(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d - ", ok ? "ok" : "not ok", ++test_num);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!ok)
		test_failed++;
}

static bool exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* the reply has ok:false and an error text containing want */
static bool ctl_fails(struct simtest_sim *s, const char *req, const char *want)
{
	json_t *r = simtest_ctl(s, req);
	const char *e = json_string_value(json_object_get(r, "error"));
	bool ok = r && json_is_false(json_object_get(r, "ok")) && e &&
		  (!want || strstr(e, want));

	if (!ok) {
		char *d = r ? json_dumps(r, 0) : NULL;

		printf("# %.200s -> %s\n", req, d ? d : "(no reply)");
		free(d);
	}
	json_decref(r);
	return ok;
}

static bool add_vm(struct simtest_sim *s, const char *name, bool fast)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s.sock", s->dir, name);
	return simtest_ctl_ok(s, "{\"cmd\":\"vm-add\",\"name\":\"%s\","
			      "\"qmp\":\"%s\",\"fast\":%s}", name, p,
			      fast ? "true" : "false");
}

static char *qmp_open(struct simtest_conn *c, struct simtest_sim *s,
		      const char *name, int timeout_ms)
{
	char p[256], *line = NULL;

	snprintf(p, sizeof(p), "%s/%s.sock", s->dir, name);
	if (simtest_connect(c, p) < 0)
		return NULL;
	if (simtest_read_line(c, timeout_ms, &line) != 1)
		return NULL;
	return line;
}

/* sends text, returns the next line as JSON (NULL on timeout) */
static json_t *qmp_cmd(struct simtest_conn *c, const char *text, int ms)
{
	char *line = NULL;
	json_t *j;

	if (text && simtest_send(c, text) < 0)
		return NULL;
	if (simtest_read_line(c, ms, &line) != 1)
		return NULL;
	j = json_loads(line, 0, NULL);
	free(line);
	return j;
}

static bool err_is(json_t *j, const char *cls, const char *desc)
{
	json_t *e = json_object_get(j, "error");
	const char *c = json_string_value(json_object_get(e, "class"));
	const char *d = json_string_value(json_object_get(e, "desc"));
	bool ok = c && d && !strcmp(c, cls) && !strcmp(d, desc);

	if (!ok) {
		char *x = j ? json_dumps(j, 0) : NULL;

		printf("# got %s\n", x ? x : "(nothing)");
		free(x);
	}
	json_decref(j);
	return ok;
}

static bool is_return(json_t *j)
{
	bool ok = json_object_get(j, "return") != NULL;

	json_decref(j);
	return ok;
}

static void test_control_errors(struct simtest_sim *s)
{
	check(ctl_fails(s, "{\"cmd\":", "malformed JSON"),
	      "malformed JSON gets an error reply");
	check(ctl_fails(s, "[1,2]", "object"), "a non-object request is refused");
	check(ctl_fails(s, "{\"name\":\"x\"}", "cmd"), "a request without cmd");
	check(ctl_fails(s, "{\"cmd\":\"frobnicate\"}", "unknown cmd"),
	      "an unknown cmd");
	check(ctl_fails(s, "{\"cmd\":\"state\",\"name\":\"nope\"}", "unknown VM"),
	      "state of an unknown VM");
	check(ctl_fails(s, "{\"cmd\":\"kill\",\"name\":\"nope\"}", "unknown VM"),
	      "kill of an unknown VM");
	check(ctl_fails(s, "{\"cmd\":\"fault\",\"name\":\"nope\",\"fault\":\"hang\"}",
			"unknown VM"), "fault on an unknown VM");
	check(ctl_fails(s, "{\"cmd\":\"state\",\"name\":7}", "name"),
	      "a name of the wrong type");
	check(ctl_fails(s, "{\"cmd\":\"vm-add\",\"name\":\"a\"}", "qmp"),
	      "vm-add without a socket path");
	check(ctl_fails(s, "{\"cmd\":\"vm-add\",\"name\":\"a\",\"qmp\":\"/tmp/x\","
			"\"build\":\"qemu99\"}", "build"), "vm-add with a bad build");
	check(ctl_fails(s, "{\"cmd\":\"vm-add\",\"name\":\"a\",\"qmp\":"
			"\"/nonexistent-dir/x.sock\"}", NULL),
	      "vm-add with an unusable path");
	check(add_vm(s, "dup", false) && ctl_fails(s,
	      "{\"cmd\":\"vm-add\",\"name\":\"dup\",\"qmp\":\"/tmp/y\"}", "exists"),
	      "a duplicate VM name is refused");
	check(ctl_fails(s, "{\"cmd\":\"fault\",\"name\":\"dup\",\"fault\":\"delay\"}",
			"ms"), "delay without ms");
	check(ctl_fails(s, "{\"cmd\":\"fault\",\"name\":\"dup\",\"fault\":\"boom\"}",
			"unknown fault"), "an unknown fault");
	check(ctl_fails(s, "{\"cmd\":\"tune\",\"name\":\"dup\",\"delays\":"
			"{\"nope\":1}}", "unknown delay"), "an unknown delay knob");
	check(ctl_fails(s, "{\"cmd\":\"pair\",\"primary\":\"dup\",\"secondary\":"
			"\"dup\"}", NULL), "pairing a VM with itself");
	check(ctl_fails(s, "{\"cmd\":\"checkpoint\",\"name\":\"dup\"}", "COLO"),
	      "checkpoint outside COLO");
	{
		char big[70000];

		memset(big, ' ', sizeof(big));
		memcpy(big, "{\"cmd\":\"list\",\"x\":\"", 19);
		memset(big + 19, 'a', sizeof(big) - 21);
		big[sizeof(big) - 2] = '"';
		big[sizeof(big) - 1] = '\0';
		check(ctl_fails(s, big, "malformed"), "a long broken request");
	}
	check(simtest_ctl_ok(s, "{\"cmd\":\"list\"}"),
	      "the simulator still answers after bad requests");
	simtest_ctl_ok(s, "{\"cmd\":\"vm-remove\",\"name\":\"dup\"}");
}

static long proc_cpu_ticks(pid_t pid)
{
	char p[64], buf[1024], *q;
	long ut = 0, st = 0;
	FILE *f;
	int i;

	snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
	f = fopen(p, "r");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	q = strrchr(buf, ')');
	if (!q)
		return -1;
	/* fields after ")" start at 3 (state); utime is 14, stime 15 */
	for (i = 3; i < 14 && q; i++)
		q = strchr(q + 1, ' ');
	if (!q || sscanf(q, " %ld %ld", &ut, &st) != 2)
		return -1;
	return ut + st;
}

static void test_many_vms(struct simtest_sim *s)
{
	char name[32], p[256];
	json_t *r, *vms;
	bool ok = true;
	long t0, t1;
	int i, socks = 0, greeted = 0;

	for (i = 0; i < 500 && ok; i++) {
		snprintf(name, sizeof(name), "vm%03d", i);
		ok = add_vm(s, name, true);
	}
	check(ok, "500 VMs added");
	r = simtest_ctl(s, "{\"cmd\":\"list\"}");
	vms = json_object_get(r, "vms");
	check(json_array_size(vms) == 500, "list shows %zu VMs",
	      json_array_size(vms));
	json_decref(r);
	for (i = 0; i < 500; i++) {
		snprintf(p, sizeof(p), "%s/vm%03d.sock", s->dir, i);
		socks += exists(p);
	}
	check(socks == 500, "500 QMP sockets exist (%d)", socks);
	for (i = 0; i < 500; i += 50) {
		struct simtest_conn c;
		char *g;

		snprintf(name, sizeof(name), "vm%03d", i);
		g = qmp_open(&c, s, name, 5000);
		if (g && strstr(g, "\"QMP\""))
			greeted++;
		free(g);
		simtest_close(&c);
	}
	check(greeted == 10, "every 50th VM greets (%d of 10)", greeted);
	/* idle: nothing to do, so almost no CPU (ticks are 1/100 s) */
	t0 = proc_cpu_ticks(s->pid);
	simtest_sleep_ms(1000);
	t1 = proc_cpu_ticks(s->pid);
	check(t0 >= 0 && t1 - t0 <= 10, "500 idle VMs use %ld ticks in 1 s",
	      t1 - t0);
	{
		struct simtest_conn c;
		char *g = qmp_open(&c, s, "vm499", 5000);

		check(g && is_return(qmp_cmd(&c, "{\"execute\":\"qmp_capabilities\"}",
					      5000)) &&
		      simtest_ctl_ok(s, "{\"cmd\":\"pair\",\"primary\":\"vm498\","
				     "\"secondary\":\"vm499\"}") &&
		      simtest_ctl_ok(s, "{\"cmd\":\"kill\",\"name\":\"vm498\"}"),
		      "a fast pair among 500 VMs, primary killed");
		free(g);
		/* MIGRATION colo, RESUME, then COLO_EXIT after the kill */
		for (i = 0; i < 3; i++) {
			json_t *ev = qmp_cmd(&c, NULL, 5000);
			const char *e = json_string_value(json_object_get(ev,
									"event"));

			if (i == 2)
				check(e && !strcmp(e, "COLO_EXIT"),
				      "the secondary reports COLO_EXIT after the kill");
			json_decref(ev);
		}
		simtest_close(&c);
	}
	for (i = 0; i < 500 && ok; i++) {
		char req[96];

		snprintf(req, sizeof(req),
			 "{\"cmd\":\"vm-remove\",\"name\":\"vm%03d\"}", i);
		ok = simtest_ctl_ok(s, "%s", req);
	}
	socks = 0;
	for (i = 0; i < 500; i++) {
		snprintf(p, sizeof(p), "%s/vm%03d.sock", s->dir, i);
		socks += exists(p);
	}
	check(ok && socks == 0, "vm-remove of 500 VMs removes their sockets");
}

static json_t *vm_state(struct simtest_sim *s, const char *name)
{
	json_t *r = simtest_ctlf(s, "{\"cmd\":\"state\",\"name\":\"%s\"}", name);
	json_t *st = json_incref(json_object_get(r, "state"));

	json_decref(r);
	return st;
}

static long long state_int(struct simtest_sim *s, const char *name, const char *key)
{
	json_t *st = vm_state(s, name);
	json_t *v = json_object_get(st, key);
	long long x = json_is_integer(v) ? json_integer_value(v) :
		      json_is_boolean(v) ? json_is_true(v) : -1;

	json_decref(st);
	return x;
}

static pid_t peer_pid(int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0 ? cr.pid : -1;
}

/* true once VM name's state key has the value want (within ms) */
static bool state_becomes(struct simtest_sim *s, const char *name, const char *key,
			  long long want, int ms)
{
	long long end = simtest_now_ms() + ms;

	do {
		if (state_int(s, name, key) == want)
			return true;
		simtest_sleep_ms(20);
	} while (simtest_now_ms() < end);
	return false;
}

/* vm-add "process":true: a listener process per VM that dies like a QEMU,
 * and the no-accept fault */
static void test_process(struct simtest_sim *s)
{
	struct simtest_conn a, b;
	char p[256], p2[256], *g = NULL;
	pid_t pid, pid2;

	snprintf(p, sizeof(p), "%s/proc.sock", s->dir);
	check(simtest_ctl_ok(s, "{\"cmd\":\"vm-add\",\"name\":\"proc\",\"qmp\":\"%s\","
			     "\"process\":true}", p), "process: vm-add with its own process");
	check(ctl_fails(s, "{\"cmd\":\"vm-add\",\"name\":\"x\",\"qmp\":\"/tmp/x\","
			"\"process\":1}", "'process' must be a boolean"),
	      "process: a non-boolean 'process' is refused");
	pid = (pid_t)state_int(s, "proc", "pid");
	check(pid > 0 && pid != s->pid && kill(pid, 0) == 0,
	      "process: state pid %d is a live process, not the simulator (%d)", (int)pid,
	      (int)s->pid);
	g = qmp_open(&a, s, "proc", 5000);
	check(g && peer_pid(a.fd) == pid, "process: greeted, SO_PEERCRED names it (%d)",
	      (int)peer_pid(a.fd));
	free(g);
	g = NULL;
	check(simtest_ctl_ok(s, "{\"cmd\":\"fault\",\"name\":\"proc\",\"fault\":\"no-accept\"}") &&
	      is_return(qmp_cmd(&a, "{\"execute\":\"qmp_capabilities\"}", 3000)) &&
	      is_return(qmp_cmd(&a, "{\"execute\":\"query-status\"}", 3000)),
	      "no-accept: the connected client is still served");
	simtest_close(&a);
	simtest_connect(&b, p);
	check(simtest_read_line(&b, 500, &g) == 0, "no-accept: a new client gets no greeting");
	check(simtest_ctl_ok(s, "{\"cmd\":\"fault\",\"name\":\"proc\",\"fault\":\"clear\"}") &&
	      simtest_read_line(&b, 5000, &g) == 1 && strstr(g, "\"QMP\""),
	      "no-accept: greeted after clear");
	free(g);
	check(simtest_ctl_ok(s, "{\"cmd\":\"kill\",\"name\":\"proc\"}") &&
	      kill(pid, 0) < 0 && errno == ESRCH && simtest_wait_eof(&b, 3000),
	      "process: kill ends the process (reaped) and closes the client");
	simtest_close(&b);
	check(simtest_connect(&b, p) < 0 && state_int(s, "proc", "alive") == 0,
	      "process: killed: connect refused, state alive false");
	simtest_close(&b);

	/* killed from outside: the simulator notices, the peer reacts */
	snprintf(p, sizeof(p), "%s/pp.sock", s->dir);
	snprintf(p2, sizeof(p2), "%s/ps.sock", s->dir);
	simtest_ctl_ok(s, "{\"cmd\":\"vm-add\",\"name\":\"pp\",\"qmp\":\"%s\",\"process\":true}", p);
	simtest_ctl_ok(s, "{\"cmd\":\"vm-add\",\"name\":\"ps\",\"qmp\":\"%s\",\"process\":true,"
		       "\"incoming\":true}", p2);
	check(simtest_ctl_ok(s, "{\"cmd\":\"pair\",\"primary\":\"pp\",\"secondary\":\"ps\"}"),
	      "process: two such VMs pair");
	pid = (pid_t)state_int(s, "pp", "pid");
	pid2 = (pid_t)state_int(s, "ps", "pid");
	g = qmp_open(&a, s, "pp", 5000);
	free(g);
	check(pid > 0 && pid2 > 0 && pid != pid2 && kill(pid, SIGKILL) == 0 &&
	      state_becomes(s, "pp", "alive", 0, 3000) && simtest_wait_eof(&a, 3000),
	      "process: SIGKILL from outside is the VM's death (alive false, client closed)");
	check(state_becomes(s, "ps", "colo_exited", 1, 3000),
	      "process: the peer sees the primary killed (COLO_EXIT)");
	simtest_close(&a);
	simtest_ctl_ok(s, "{\"cmd\":\"vm-remove\",\"name\":\"ps\"}");
	check(kill(pid2, 0) < 0 && errno == ESRCH, "process: vm-remove ends the process");
	simtest_ctl_ok(s, "{\"cmd\":\"vm-remove\",\"name\":\"pp\"}");
	simtest_ctl_ok(s, "{\"cmd\":\"vm-remove\",\"name\":\"proc\"}");
}

static void test_one_client(struct simtest_sim *s)
{
	struct simtest_conn a, b;
	char *g1, *g2 = NULL, p[256];
	bool waited;

	add_vm(s, "solo", false);
	g1 = qmp_open(&a, s, "solo", 5000);
	check(g1 != NULL, "first client greeted");
	snprintf(p, sizeof(p), "%s/solo.sock", s->dir);
	simtest_connect(&b, p);
	waited = simtest_read_line(&b, 300, &g2) == 0;
	check(waited, "a second client waits in the backlog, no greeting");
	simtest_close(&a);
	check(simtest_read_line(&b, 5000, &g2) == 1 && strstr(g2, "\"QMP\""),
	      "it is greeted once the first one leaves");
	free(g1);
	free(g2);
	simtest_close(&b);
}

static void test_monitor(struct simtest_sim *s)
{
	static const char greeting[] =
		"{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, "
		"\"major\": 7}, \"package\": \"Debian 1:7.2+dfsg-7+deb12u18+b3\"}, "
		"\"capabilities\": [\"oob\"]}}";
	struct simtest_conn c;
	char *g;
	json_t *j;
	long long t0;

	add_vm(s, "mon", false);
	g = qmp_open(&c, s, "mon", 5000);
	check(g && !strcmp(g, greeting), "greeting byte for byte as QEMU 7.2");
	free(g);
	check(err_is(qmp_cmd(&c, "{\"execute\":\"query-status\",\"id\":1}", 5000),
		     "CommandNotFound",
		     "Expecting capabilities negotiation with 'qmp_capabilities'"),
	      "commands before negotiation are refused");
	check(err_is(qmp_cmd(&c, "{\"exec-oob\":\"yank\",\"arguments\":"
			     "{\"instances\":[]}}", 5000), "GenericError",
		     "QMP input member 'exec-oob' is unexpected"),
	      "exec-oob without oob");
	check(is_return(qmp_cmd(&c, "{\"execute\":\"qmp_capabilities\"}", 5000)),
	      "qmp_capabilities without id");
	check(err_is(qmp_cmd(&c, "{\"execute\":\"qmp_capabilities\"}", 5000),
		     "CommandNotFound",
		     "Capabilities negotiation is already complete, command ignored"),
	      "a second qmp_capabilities");
	check(err_is(qmp_cmd(&c, "{\"execute\":\"nope\",\"id\":\"x\"}", 5000),
		     "CommandNotFound", "The command nope has not been found"),
	      "an unknown command");
	check(err_is(qmp_cmd(&c, "{\"execute\":\"x-colo-lost-heartbeat\"}", 5000),
		     "GenericError", "The feature 'colo' is not enabled"),
	      "x-colo-lost-heartbeat outside COLO");
	check(err_is(qmp_cmd(&c, "{\"execute\":\"stop\",\"foo\":1}", 5000),
		     "GenericError", "QMP input member 'foo' is unexpected"),
	      "an unexpected member");
	check(err_is(qmp_cmd(&c, "{\"execute\":\"query-status\",\"arguments\":"
			     "{\"x\":1}}", 5000), "GenericError",
		     "Parameter 'x' is unexpected"), "an unexpected argument");
	check(err_is(qmp_cmd(&c, "{\"execute\":\"object-del\"}", 5000),
		     "GenericError", "Parameter 'id' is missing"),
	      "a missing argument");
	j = qmp_cmd(&c, "{\"execute\":", 300);
	check(j == NULL, "half a command waits for the rest");
	j = qmp_cmd(&c, "\"query-status\"}", 5000);
	check(json_is_true(json_object_get(json_object_get(j, "return"),
					   "running")),
	      "a command split across writes works");
	json_decref(j);
	j = qmp_cmd(&c, "nonsense", 5000);
	check(!strncmp(json_string_value(json_object_get(json_object_get(j,
			"error"), "desc")) ?: "", "JSON parse error", 16),
	      "garbage input gets a JSON parse error");
	json_decref(j);

	/* faults */
	simtest_ctl_ok(s, "{\"cmd\":\"fault\",\"name\":\"mon\",\"fault\":\"delay\","
		       "\"ms\":300,\"match\":\"query-status\"}");
	t0 = simtest_now_ms();
	j = qmp_cmd(&c, "{\"execute\":\"query-status\"}", 5000);
	check(j && simtest_now_ms() - t0 >= 280, "delay holds the reply (%lld ms)",
	      simtest_now_ms() - t0);
	json_decref(j);
	/* without oob, QEMU reads nothing more while a command waits */
	simtest_ctl_ok(s, "{\"cmd\":\"fault\",\"name\":\"mon\",\"fault\":\"delay\","
		       "\"ms\":200,\"match\":\"query-status\"}");
	simtest_send(&c, "{\"execute\":\"query-status\",\"id\":\"a\"}");
	simtest_send(&c, "{\"exec-oob\":\"yank\",\"id\":\"b\",\"arguments\":"
		     "{\"instances\":[]}}");
	j = qmp_cmd(&c, NULL, 5000);
	check(!strcmp(json_string_value(json_object_get(j, "id")) ?: "", "a"),
	      "no oob: a later exec-oob waits for the slow command");
	json_decref(j);
	check(err_is(qmp_cmd(&c, NULL, 5000), "GenericError",
		     "QMP input member 'exec-oob' is unexpected"),
	      "no oob: then it is refused");
	simtest_ctl_ok(s, "{\"cmd\":\"fault\",\"name\":\"mon\",\"fault\":"
		       "\"garbage\",\"bytes\":\"}}}garbage\\n\"}");
	g = NULL;
	check(simtest_read_line(&c, 5000, &g) == 1 && !strcmp(g, "}}}garbage"),
	      "garbage is written to the client");
	free(g);
	simtest_ctl_ok(s, "{\"cmd\":\"fault\",\"name\":\"mon\",\"fault\":"
		       "\"oversize\",\"size\":100000}");
	g = NULL;
	check(simtest_read_line(&c, 5000, &g) == 1 && strlen(g) == 99998,
	      "oversize writes one line of the asked size");
	free(g);
	simtest_ctl_ok(s, "{\"cmd\":\"fault\",\"name\":\"mon\",\"fault\":\"hang\"}");
	check(qmp_cmd(&c, "{\"execute\":\"query-status\"}", 300) == NULL,
	      "hang: no answer");
	simtest_ctl_ok(s, "{\"cmd\":\"fault\",\"name\":\"mon\",\"fault\":\"clear\"}");
	check(is_return(qmp_cmd(&c, NULL, 5000)), "clear: the held answer comes");
	simtest_ctl_ok(s, "{\"cmd\":\"fault\",\"name\":\"mon\",\"fault\":"
		       "\"drop-after-reply\",\"match\":\"query-status\"}");
	check(is_return(qmp_cmd(&c, "{\"execute\":\"query-status\"}", 5000)) &&
	      simtest_wait_eof(&c, 5000), "drop-after-reply: reply, then EOF");
	simtest_close(&c);
	g = qmp_open(&c, s, "mon", 5000);
	free(g);
	json_decref(qmp_cmd(&c, "{\"execute\":\"qmp_capabilities\"}", 5000));
	simtest_ctl_ok(s, "{\"cmd\":\"fault\",\"name\":\"mon\",\"fault\":"
		       "\"drop-before-reply\",\"match\":\"stop\"}");
	check(qmp_cmd(&c, "{\"execute\":\"stop\"}", 5000) == NULL &&
	      simtest_wait_eof(&c, 5000), "drop-before-reply: EOF, no reply");
	simtest_close(&c);
	{
		json_t *st = simtest_ctl(s, "{\"cmd\":\"state\",\"name\":\"mon\"}");
		const char *status = json_string_value(json_object_get(
			json_object_get(st, "state"), "status"));

		check(status && !strcmp(status, "running"),
		      "the dropped stop was not executed");
		json_decref(st);
	}
	simtest_ctl_ok(s, "{\"cmd\":\"fault\",\"name\":\"mon\",\"fault\":"
		       "\"no-greeting\"}");
	{
		char p[256];

		snprintf(p, sizeof(p), "%s/mon.sock", s->dir);
		simtest_connect(&c, p);
		g = NULL;
		check(simtest_read_line(&c, 300, &g) == 0,
		      "no-greeting: the client gets nothing");
		free(g);
		simtest_close(&c);
	}
	{
		json_t *lg = simtest_ctl(s, "{\"cmd\":\"log\",\"name\":\"mon\"}");
		json_t *log = json_object_get(lg, "log");

		check(json_array_size(log) > 10 &&
		      json_object_get(json_array_get(log, 0), "t") &&
		      json_object_get(json_array_get(log, 0), "dir"),
		      "log lists the messages (%zu)", json_array_size(log));
		json_decref(lg);
	}
}

/* QEMU-level details that the transcripts do not show */
static void test_builds_and_yank(struct simtest_sim *s)
{
	struct simtest_conn a, b;
	char p[256], p2[256], *g;
	json_t *j, *list;
	bool has_lhb = false, has_status = false;
	size_t i;

	snprintf(p, sizeof(p), "%s/nc.sock", s->dir);
	simtest_ctl_ok(s, "{\"cmd\":\"vm-add\",\"name\":\"nc\",\"qmp\":\"%s\","
		       "\"build\":\"no-colo\"}", p);
	g = qmp_open(&a, s, "nc", 5000);
	free(g);
	json_decref(qmp_cmd(&a, "{\"execute\":\"qmp_capabilities\"}", 5000));
	j = qmp_cmd(&a, "{\"execute\":\"query-commands\"}", 5000);
	list = json_object_get(j, "return");
	for (i = 0; i < json_array_size(list); i++) {
		const char *n = json_string_value(json_object_get(
			json_array_get(list, i), "name"));

		has_lhb |= n && !strcmp(n, "x-colo-lost-heartbeat");
		has_status |= n && !strcmp(n, "query-status");
	}
	check(json_array_size(list) == 213 && has_status && !has_lhb,
	      "no-colo: query-commands lacks the COLO commands (%zu)",
	      json_array_size(list));
	json_decref(j);
	check(err_is(qmp_cmd(&a, "{\"execute\":\"query-colo-status\"}", 5000),
		     "CommandNotFound",
		     "The command query-colo-status has not been found"),
	      "no-colo: query-colo-status is not found");
	simtest_close(&a);

	/* yanking the monitor's own chardev cuts that client, not the other */
	snprintf(p, sizeof(p), "%s/yk.sock", s->dir);
	snprintf(p2, sizeof(p2), "%s/yk2.sock", s->dir);
	simtest_ctl_ok(s, "{\"cmd\":\"vm-add\",\"name\":\"yk\",\"qmp\":\"%s\","
		       "\"qmp2\":\"%s\"}", p, p2);
	g = qmp_open(&a, s, "yk", 5000);
	free(g);
	simtest_connect(&b, p2);
	g = NULL;
	simtest_read_line(&b, 5000, &g);
	free(g);
	json_decref(qmp_cmd(&a, "{\"execute\":\"qmp_capabilities\","
			    "\"arguments\":{\"enable\":[\"oob\"]}}", 5000));
	json_decref(qmp_cmd(&b, "{\"execute\":\"qmp_capabilities\"}", 5000));
	simtest_ctl_ok(s, "{\"cmd\":\"fault\",\"name\":\"yk\",\"fault\":\"delay\","
		       "\"ms\":300,\"match\":\"query-status\"}");
	simtest_send(&a, "{\"execute\":\"query-status\",\"id\":\"a\"}");
	simtest_send(&a, "{\"exec-oob\":\"yank\",\"id\":\"b\",\"arguments\":"
		     "{\"instances\":[]}}");
	j = qmp_cmd(&a, NULL, 5000);
	check(!strcmp(json_string_value(json_object_get(j, "id")) ?: "", "b"),
	      "oob: exec-oob overtakes a slow in-band command");
	json_decref(j);
	check(is_return(qmp_cmd(&a, NULL, 5000)), "oob: the slow reply follows");
	check(err_is(qmp_cmd(&a, "{\"exec-oob\":\"yank\",\"arguments\":"
			     "{\"instances\":[{\"type\":\"block-node\","
			     "\"node-name\":\"#block1\"}]}}", 5000),
		     "DeviceNotFound", "Instance not found"),
	      "yank of an unknown instance");
	check(is_return(qmp_cmd(&a, "{\"exec-oob\":\"yank\",\"arguments\":"
				"{\"instances\":[{\"type\":\"chardev\","
				"\"id\":\"compat_monitor1\"}]}}", 5000)) &&
	      simtest_wait_eof(&b, 5000),
	      "yank of compat_monitor1 closes that monitor's client");
	check(is_return(qmp_cmd(&a, "{\"execute\":\"query-status\"}", 5000)),
	      "the yanking monitor still works");
	simtest_close(&a);
	simtest_close(&b);
	simtest_ctl_ok(s, "{\"cmd\":\"vm-remove\",\"name\":\"nc\"}");
	simtest_ctl_ok(s, "{\"cmd\":\"vm-remove\",\"name\":\"yk\"}");
}

/* random bytes on a QMP and a control connection must not hurt */
static void test_noise(struct simtest_sim *s)
{
	struct simtest_conn q, c2;
	char buf[65536], *g = NULL;
	unsigned int seed = 12345;
	json_t *r;
	size_t i;

	add_vm(s, "noise", false);
	g = qmp_open(&q, s, "noise", 5000);
	free(g);
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(rand_r(&seed) & 0xff);
	/* the sim may answer or close: either is fine, a crash is not */
	if (write(q.fd, buf, sizeof(buf)) < 0)
		printf("# write to the QMP socket failed: %s\n", strerror(errno));
	simtest_close(&q);
	/* a second control client sends one long line of garbage */
	for (i = 0; i < sizeof(buf); i++)
		if (buf[i] == '\n')
			buf[i] = ' ';
	buf[sizeof(buf) - 1] = '\n';
	g = NULL;
	check(simtest_connect(&c2, s->ctl_path) == 0 &&
	      write(c2.fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf) &&
	      simtest_read_line(&c2, 5000, &g) == 1 && strstr(g, "\"ok\":false"),
	      "random bytes on the control socket: an error line");
	free(g);
	simtest_close(&c2);
	r = simtest_ctl(s, "{\"cmd\":\"state\",\"name\":\"noise\"}");
	check(json_is_true(json_object_get(r, "ok")),
	      "the simulator survives random bytes");
	json_decref(r);
	simtest_ctl_ok(s, "{\"cmd\":\"vm-remove\",\"name\":\"noise\"}");
}

/* reads until an event named ev arrives; false on timeout */
static bool wait_event(struct simtest_conn *c, const char *ev, json_t **data)
{
	long long end = simtest_now_ms() + 5000;

	while (simtest_now_ms() < end) {
		json_t *j = qmp_cmd(c, NULL, (int)(end - simtest_now_ms()));
		const char *e = json_string_value(json_object_get(j, "event"));

		if (e && !strcmp(e, ev)) {
			if (data)
				*data = json_incref(json_object_get(j, "data"));
			json_decref(j);
			return true;
		}
		json_decref(j);
		if (!j)
			break;
	}
	return false;
}

static bool data_is(json_t *d, const char *mode, const char *reason)
{
	bool ok = d && !strcmp(json_string_value(json_object_get(d, "mode")) ?: "",
			       mode) &&
		  !strcmp(json_string_value(json_object_get(d, "reason")) ?: "",
			  reason);

	json_decref(d);
	return ok;
}

/* a fast pair P/S with a negotiated client on each (oob on P) */
static bool fast_pair(struct simtest_sim *s, const char *p, const char *sec,
		      struct simtest_conn *pc, struct simtest_conn *sc)
{
	char *g;

	if (!add_vm(s, p, true) || !add_vm(s, sec, true))
		return false;
	g = qmp_open(pc, s, p, 5000);
	free(g);
	g = qmp_open(sc, s, sec, 5000);
	free(g);
	json_decref(qmp_cmd(pc, "{\"execute\":\"qmp_capabilities\",\"arguments\":"
			    "{\"enable\":[\"oob\"]}}", 5000));
	json_decref(qmp_cmd(sc, "{\"execute\":\"qmp_capabilities\"}", 5000));
	return simtest_ctl_ok(s, "{\"cmd\":\"pair\",\"primary\":\"%s\","
			      "\"secondary\":\"%s\"}", p, sec) &&
	       wait_event(pc, "RESUME", NULL) && wait_event(sc, "RESUME", NULL);
}

/* COLO behaviour that the transcripts do not cover end to end */
static void test_model(struct simtest_sim *s)
{
	struct simtest_conn pc, sc;
	json_t *d = NULL, *j;
	char *node;

	/* a killed secondary is noticed by the primary only at a checkpoint */
	check(fast_pair(s, "p1", "s1", &pc, &sc), "fast pair p1/s1");
	simtest_ctl_ok(s, "{\"cmd\":\"kill\",\"name\":\"s1\"}");
	check(qmp_cmd(&pc, NULL, 200) == NULL, "p1 notices nothing by itself");
	simtest_ctl_ok(s, "{\"cmd\":\"checkpoint\",\"name\":\"p1\"}");
	check(wait_event(&pc, "COLO_EXIT", &d) && data_is(d, "primary", "error"),
	      "checkpoint after the kill: COLO_EXIT{primary,error}");
	{
		/* after the error exit: STOP, completed, reply, RESUME, no COLO_EXIT */
		bool replied = false, resumed = false, exit2 = false;
		int n;

		simtest_send(&pc, "{\"execute\":\"x-colo-lost-heartbeat\",\"id\":\"l\"}");
		for (n = 0; n < 8 && !resumed; n++) {
			json_t *m = qmp_cmd(&pc, NULL, 5000);
			const char *e = json_string_value(json_object_get(m, "event"));

			replied |= json_object_get(m, "return") != NULL;
			resumed |= e && !strcmp(e, "RESUME");
			exit2 |= e && !strcmp(e, "COLO_EXIT");
			json_decref(m);
		}
		check(replied && resumed && !exit2,
		      "p1 fails over after the error exit, no second COLO_EXIT");
	}
	{
		json_t *want = json_pack("{s:s,s:s,s:s}", "last-mode", "primary",
					 "mode", "none", "reason", "request");

		j = qmp_cmd(&pc, "{\"execute\":\"query-colo-status\"}", 5000);
		check(json_equal(json_object_get(j, "return"), want),
		      "p1 reports primary/none/request");
		json_decref(j);
		json_decref(want);
	}
	simtest_close(&pc);
	simtest_close(&sc);

	/* a silently lost secondary: the checkpoint waits for TCP's timeout */
	check(fast_pair(s, "p2", "s2", &pc, &sc), "fast pair p2/s2");
	simtest_ctl_ok(s, "{\"cmd\":\"silent-loss\",\"name\":\"s2\"}");
	simtest_ctl_ok(s, "{\"cmd\":\"tune\",\"name\":\"p2\",\"delays\":"
		       "{\"checkpoint_silent\":300000}}");
	simtest_ctl_ok(s, "{\"cmd\":\"checkpoint\",\"name\":\"p2\"}");
	check(qmp_cmd(&pc, NULL, 100) == NULL && wait_event(&pc, "COLO_EXIT", &d) &&
	      data_is(d, "primary", "error"),
	      "silent loss: the checkpoint fails only after the TCP timeout");
	simtest_close(&pc);
	simtest_close(&sc);

	/* partition: stop hangs in the NBD flush until an OOB yank */
	check(fast_pair(s, "p3", "s3", &pc, &sc), "fast pair p3/s3");
	j = qmp_cmd(&pc, "{\"execute\":\"query-yank\"}", 5000);
	node = NULL;
	{
		size_t i;
		json_t *v;

		json_array_foreach(json_object_get(j, "return"), i, v)
			if (json_object_get(v, "node-name"))
				node = strdup(json_string_value(
					json_object_get(v, "node-name")));
	}
	json_decref(j);
	check(node != NULL, "query-yank lists the NBD node (%s)", node ?: "none");
	simtest_ctl_ok(s, "{\"cmd\":\"partition\",\"a\":\"p3\",\"b\":\"s3\"}");
	check(qmp_cmd(&sc, NULL, 100) == NULL, "s3 notices nothing");
	check(simtest_send(&pc, "{\"execute\":\"stop\",\"id\":\"st\"}") == 0 &&
	      wait_event(&pc, "STOP", NULL) && qmp_cmd(&pc, NULL, 300) == NULL,
	      "stop: STOP, then no reply");
	j = simtest_ctl(s, "{\"cmd\":\"state\",\"name\":\"p3\"}");
	check(json_is_true(json_object_get(json_object_get(j, "state"),
					   "monitor_hung")), "state says monitor_hung");
	json_decref(j);
	{
		char req[256];

		snprintf(req, sizeof(req), "{\"exec-oob\":\"yank\",\"id\":\"y\","
			 "\"arguments\":{\"instances\":[{\"type\":\"block-node\","
			 "\"node-name\":\"%s\"}]}}", node ?: "");
		check(simtest_send(&pc, req) == 0, "OOB yank sent");
	}
	free(node);
	{
		/* yank reply, QUORUM_REPORT_BAD, then the stop reply */
		bool yanked = false, quorum = false, stopped = false;
		int n;

		for (n = 0; n < 3; n++) {
			json_t *m = qmp_cmd(&pc, NULL, 5000);
			const char *id = json_string_value(json_object_get(m, "id"));
			const char *e = json_string_value(json_object_get(m, "event"));

			yanked |= id && !strcmp(id, "y");
			quorum |= e && !strcmp(e, "QUORUM_REPORT_BAD") && yanked;
			stopped |= id && !strcmp(id, "st") && quorum;
			json_decref(m);
		}
		check(yanked && quorum && stopped,
		      "yank: reply, QUORUM_REPORT_BAD, then stop's reply");
	}
	j = qmp_cmd(&pc, "{\"execute\":\"query-status\"}", 5000);
	check(!strcmp(json_string_value(json_object_get(json_object_get(j, "return"),
							"status")) ?: "", "paused"),
	      "p3 is paused");
	json_decref(j);
	simtest_close(&pc);
	simtest_close(&sc);

	/* quit: reply, SHUTDOWN, export deleted, then the sockets close */
	check(fast_pair(s, "p4", "s4", &pc, &sc), "fast pair p4/s4");
	check(is_return(qmp_cmd(&sc, "{\"execute\":\"quit\"}", 5000)) &&
	      wait_event(&sc, "SHUTDOWN", NULL) &&
	      wait_event(&sc, "BLOCK_EXPORT_DELETED", NULL) &&
	      simtest_wait_eof(&sc, 5000), "quit: reply, events, EOF");
	check(qmp_cmd(&pc, NULL, 100) == NULL, "the primary notices nothing");
	j = simtest_ctl(s, "{\"cmd\":\"state\",\"name\":\"s4\"}");
	check(!strcmp(json_string_value(json_object_get(json_object_get(j, "state"),
							"status")) ?: "", "exited"),
	      "s4 is listed as exited");
	json_decref(j);
	simtest_close(&pc);
	simtest_close(&sc);

	/* vm-remove of a primary: the secondary sees the reset */
	check(fast_pair(s, "p5", "s5", &pc, &sc), "fast pair p5/s5");
	simtest_close(&pc);
	simtest_ctl_ok(s, "{\"cmd\":\"vm-remove\",\"name\":\"p5\"}");
	check(wait_event(&sc, "COLO_EXIT", &d) && data_is(d, "secondary", "error"),
	      "vm-remove of the primary: COLO_EXIT{secondary,error}");
	simtest_close(&sc);
	{
		static const char *const names[] = { "p1", "s1", "p2", "s2", "p3",
						     "s3", "p4", "s4", "s5" };
		size_t i;

		for (i = 0; i < ARRAY_SIZE(names); i++)
			simtest_ctl_ok(s, "{\"cmd\":\"vm-remove\",\"name\":\"%s\"}",
				       names[i]);
	}
}

static void test_exit(void)
{
	struct simtest_sim s;
	char ctl[256], q[256];
	int status = -1;
	pid_t pid;
	bool gone;

	if (simtest_start(&s) < 0) {
		check(false, "simulator starts for the exit test");
		simtest_stop(&s);
		return;
	}
	add_vm(&s, "x", false);
	snprintf(ctl, sizeof(ctl), "%s", s.ctl_path);
	snprintf(q, sizeof(q), "%s/x.sock", s.dir);
	check(exists(ctl) && exists(q), "sockets exist before exit");
	pid = s.pid;
	json_decref(simtest_ctl(&s, "{\"cmd\":\"exit\"}"));
	for (int i = 0; i < 500 && waitpid(pid, &status, WNOHANG) == 0; i++)
		simtest_sleep_ms(10);
	gone = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	if (gone)
		s.pid = 0;
	check(gone && !exists(ctl) && !exists(q),
	      "exit: rc 0, control and QMP sockets removed");
	simtest_stop(&s);

	if (simtest_start(&s) < 0) {
		check(false, "simulator starts for the SIGTERM test");
		simtest_stop(&s);
		return;
	}
	add_vm(&s, "y", false);
	snprintf(ctl, sizeof(ctl), "%s", s.ctl_path);
	snprintf(q, sizeof(q), "%s/y.sock", s.dir);
	pid = s.pid;
	kill(pid, SIGTERM);
	status = -1;
	for (int i = 0; i < 500 && waitpid(pid, &status, WNOHANG) == 0; i++)
		simtest_sleep_ms(10);
	gone = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	if (gone)
		s.pid = 0;
	check(gone && !exists(ctl) && !exists(q),
	      "SIGTERM: rc 0, sockets removed");
	simtest_stop(&s);
}

int main(void)
{
	struct simtest_sim s;

	setvbuf(stdout, NULL, _IOLBF, 0);
	alarm(120);
	if (simtest_start(&s) < 0) {
		printf("1..1\nnot ok 1 - the simulator starts\n");
		simtest_stop(&s);
		return 1;
	}
	test_control_errors(&s);
	test_one_client(&s);
	test_monitor(&s);
	simtest_ctl_ok(&s, "{\"cmd\":\"vm-remove\",\"name\":\"solo\"}");
	simtest_ctl_ok(&s, "{\"cmd\":\"vm-remove\",\"name\":\"mon\"}");
	test_builds_and_yank(&s);
	test_process(&s);
	test_noise(&s);
	test_model(&s);
	test_many_vms(&s);
	check(simtest_stop(&s) == 0, "the simulator exits cleanly");
	test_exit();
	printf("1..%d\n", test_num);
	return test_failed ? 1 : 0;
}
