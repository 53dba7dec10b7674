/*
 * test_qmp_client.c: qmp_client against qmp-sim (test/qmp-sim/CONTROL.md).
 *
 * Each test starts its own simulator ($QMP_SIM --control <tmp>/ctl), waits
 * for READY on its stdout, drives it over the control socket, and runs the
 * client on a qb_loop with run_until(condition, seconds). Teardown kills the
 * simulator by pid and removes the temp dir, also when a test fails.
 * Assertions are on outcomes and order, with deadlines of seconds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "compiler.h"
#include "qmp_client.h"
#include "common/loop_wait.h"

#define MAX_REC 256

struct rec_result {
	enum qmp_result_kind kind;
	uint64_t id;
	char command[64];
	char *ret;          /* compact JSON of the return value */
	enum qmp_error_class err_class;
	bool late;
};

struct fx {
	char dir[64];
	char ctl_path[128];
	pid_t sim_pid;
	int ctl_fd;
	qb_loop_t *loop;
	struct qmp_client *c;
	struct qmp_client *c2;
	struct qmp_cmdset_cache *cache; /* freed after c and c2 */
	/* recorded callbacks */
	enum qmp_client_state states[MAX_REC];
	char *state_reasons[MAX_REC];
	size_t n_states;
	char *events[MAX_REC];
	int64_t event_sec[MAX_REC];
	int64_t event_usec[MAX_REC];
	char *event_data[MAX_REC];
	size_t n_events;
	struct rec_result results[MAX_REC];
	size_t n_results;
	char *errors[MAX_REC];
	bool error_fatal[MAX_REC];
	size_t n_errors;
};

static struct fx *fx_of(void **state)
{
	return *state;
}

/* ----------------------------------------------------------- helpers */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* run_until: the shared loop_wait() with this fixture's condition shape. */
struct fx_cond {
	struct fx *fx;
	bool (*cond)(struct fx *, void *);
	void *arg;
};

static bool fx_cond_eval(void *data)
{
	struct fx_cond *c = data;

	return c->cond(c->fx, c->arg);
}

/* Runs the loop until cond holds (true) or the seconds pass (false). cond NULL:
 * just run that long. */
static bool run_until(struct fx *fx, bool (*cond)(struct fx *, void *), void *arg,
		      double seconds)
{
	struct fx_cond c = {fx, cond, arg};

	return loop_wait(fx->loop, cond ? fx_cond_eval : NULL, &c, seconds);
}

/* ------------------------------------------------------- simulator */

static void rm_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char p[512];

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static int ctl_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		close(fd);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int sim_start(struct fx *fx)
{
	const char *sim = getenv("QMP_SIM");
	int pipefd[2];
	char line[256];
	size_t len = 0;
	double until;

	if (!sim || access(sim, X_OK) != 0)
		return -ENOENT;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	fx->sim_pid = fork();
	if (fx->sim_pid < 0)
		return -errno;
	if (fx->sim_pid == 0) {
		char log[160];

		dup2(pipefd[1], 1);
		snprintf(log, sizeof(log), "%s/sim.log", fx->dir);
		execl(sim, sim, "--control", fx->ctl_path, "--log", log, (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	/* READY on stdout once it listens; 10 s is generous on a busy box. */
	until = now_s() + 10;
	while (now_s() < until && len < sizeof(line) - 1) {
		struct pollfd p = { .fd = pipefd[0], .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(pipefd[0], line + len, sizeof(line) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		line[len] = '\0';
		if (strstr(line, "READY"))
			break;
	}
	close(pipefd[0]);
	line[len] = '\0';
	if (!strstr(line, "READY"))
		return -ETIMEDOUT;
	fx->ctl_fd = ctl_connect(fx->ctl_path);
	return fx->ctl_fd < 0 ? -errno : 0;
}

/* One control request; returns the reply (new reference). Fails the test
 * on no reply within 10 s. */
static json_t *ctl_raw(struct fx *fx, json_t *req)
{
	char *s = json_dumps(req, JSON_COMPACT);
	char buf[65536];
	size_t len = 0;
	double until = now_s() + 10;
	json_t *reply = NULL;

	json_decref(req);
	assert_non_null(s);
	assert_int_equal(write(fx->ctl_fd, s, strlen(s)), (ssize_t)strlen(s));
	assert_int_equal(write(fx->ctl_fd, "\n", 1), 1);
	free(s);
	while (now_s() < until) {
		struct pollfd p = { .fd = fx->ctl_fd, .events = POLLIN };
		char *nl;
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(fx->ctl_fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			fail_msg("control socket closed");
		len += (size_t)n;
		buf[len] = '\0';
		nl = memchr(buf, '\n', len);
		if (nl) {
			reply = json_loadb(buf, (size_t)(nl - buf), 0, NULL);
			break;
		}
		if (len >= sizeof(buf) - 1)
			fail_msg("control reply too long");
	}
	if (!reply)
		fail_msg("no control reply");
	return reply;
}

/* A request that must succeed. */
static json_t *ctl(struct fx *fx, json_t *req)
{
	json_t *reply = ctl_raw(fx, req);

	if (!json_is_true(json_object_get(reply, "ok"))) {
		char *s = json_dumps(reply, JSON_COMPACT);

		fail_msg("control request failed: %s", s ? s : "?");
	}
	return reply;
}

static void ctl_ok(struct fx *fx, json_t *req)
{
	json_decref(ctl(fx, req));
}

static void vm_add(struct fx *fx, const char *name, const char *build)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/%s.sock", fx->dir, name);
	ctl_ok(fx, json_pack("{s:s,s:s,s:s,s:s}", "cmd", "vm-add", "name", name,
			     "qmp", path, "build", build));
}

static json_t *vm_state(struct fx *fx, const char *name)
{
	json_t *r = ctl(fx, json_pack("{s:s,s:s}", "cmd", "state", "name", name));
	json_t *st = json_incref(json_object_get(r, "state"));

	json_decref(r);
	assert_non_null(st);
	return st;
}

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static const char greeting[] =
	"{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, "
	"\"major\": 7}, \"package\": \"test\"}, \"capabilities\": [\"oob\"]}}\n";

/* ------------------------------------------------------- callbacks */

static void on_state(struct qmp_client *c, enum qmp_client_state old_state,
		     enum qmp_client_state new_state, const char *reason,
		     void *opaque)
{
	struct fx *fx = opaque;

	(void)c;
	(void)old_state;
	if (fx->n_states < MAX_REC) {
		fx->states[fx->n_states] = new_state;
		fx->state_reasons[fx->n_states] = strdup(reason);
		fx->n_states++;
	}
}

static void on_event(struct qmp_client *c, const char *name, json_t *data,
		     int64_t sec, int64_t usec, void *opaque)
{
	struct fx *fx = opaque;

	(void)c;
	if (fx->n_events < MAX_REC) {
		fx->events[fx->n_events] = strdup(name);
		fx->event_sec[fx->n_events] = sec;
		fx->event_usec[fx->n_events] = usec;
		fx->event_data[fx->n_events] =
			data ? json_dumps(data, JSON_COMPACT) : NULL;
		fx->n_events++;
	}
}

static void record(struct fx *fx, const struct qmp_result *r, bool late)
{
	struct rec_result *x;

	if (fx->n_results >= MAX_REC)
		return;
	x = &fx->results[fx->n_results++];
	x->kind = r->kind;
	x->id = r->id;
	snprintf(x->command, sizeof(x->command), "%s", r->command);
	x->ret = r->ret ? json_dumps(r->ret, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	x->err_class = r->err_class;
	x->late = late;
}

static void on_result(struct qmp_client *c, const struct qmp_result *r,
		      void *opaque)
{
	struct fx *fx = opaque;

	(void)c;
	record(fx, r, false);
}

static void on_late(struct qmp_client *c, const struct qmp_result *r,
		    void *opaque)
{
	struct fx *fx = opaque;

	(void)c;
	record(fx, r, true);
}

static void on_error(struct qmp_client *c, bool fatal, const char *msg,
		     void *opaque)
{
	struct fx *fx = opaque;

	(void)c;
	if (fx->n_errors < MAX_REC) {
		fx->errors[fx->n_errors] = strdup(msg);
		fx->error_fatal[fx->n_errors] = fatal;
		fx->n_errors++;
	}
}

static const struct qmp_client_callbacks test_cbs = {
	.on_state = on_state,
	.on_event = on_event,
	.on_late_reply = on_late,
	.on_error = on_error,
};

/* ------------------------------------------------------ conditions */

static bool cond_state(struct fx *fx, void *arg)
{
	return fx->c && qmp_client_state(fx->c) == (enum qmp_client_state)(intptr_t)arg;
}

static bool cond_state_seen(struct fx *fx, void *arg)
{
	size_t i;

	for (i = 0; i < fx->n_states; i++) {
		if (fx->states[i] == (enum qmp_client_state)(intptr_t)arg)
			return true;
	}
	return false;
}

static const struct rec_result *find_result(struct fx *fx, uint64_t id, bool late)
{
	size_t i;

	for (i = 0; i < fx->n_results; i++) {
		if (fx->results[i].id == id && fx->results[i].late == late)
			return &fx->results[i];
	}
	return NULL;
}

struct want_id {
	uint64_t id;
	bool late;
};

static bool cond_result(struct fx *fx, void *arg)
{
	const struct want_id *w = arg;

	return find_result(fx, w->id, w->late) != NULL;
}

static const struct rec_result *wait_result(struct fx *fx, int64_t id, bool late,
					    double seconds)
{
	struct want_id w = { .id = (uint64_t)id, .late = late };

	assert_true(id > 0);
	run_until(fx, cond_result, &w, seconds);
	return find_result(fx, (uint64_t)id, late);
}

static bool cond_event(struct fx *fx, void *arg)
{
	size_t i;

	for (i = 0; i < fx->n_events; i++) {
		if (!strcmp(fx->events[i], arg))
			return true;
	}
	return false;
}

static bool cond_results(struct fx *fx, void *arg)
{
	return fx->n_results >= (size_t)(intptr_t)arg;
}

static size_t count_states(struct fx *fx, enum qmp_client_state s)
{
	size_t i, n = 0;

	for (i = 0; i < fx->n_states; i++)
		n += fx->states[i] == s;
	return n;
}

static bool has_error(struct fx *fx, bool fatal, const char *needle)
{
	size_t i;

	for (i = 0; i < fx->n_errors; i++) {
		if (fx->error_fatal[i] == fatal && strstr(fx->errors[i], needle))
			return true;
	}
	return false;
}

static void clear_records(struct fx *fx)
{
	size_t i;

	for (i = 0; i < fx->n_states; i++)
		free(fx->state_reasons[i]);
	for (i = 0; i < fx->n_events; i++) {
		free(fx->events[i]);
		free(fx->event_data[i]);
	}
	for (i = 0; i < fx->n_results; i++)
		free(fx->results[i].ret);
	for (i = 0; i < fx->n_errors; i++)
		free(fx->errors[i]);
	fx->n_states = fx->n_events = fx->n_results = fx->n_errors = 0;
}

static void dump_records(struct fx *fx)
{
	size_t i;

	for (i = 0; i < fx->n_states; i++)
		print_message("# state %s: %s\n", qmp_client_state_to_str(fx->states[i]),
			      fx->state_reasons[i]);
	for (i = 0; i < fx->n_errors; i++)
		print_message("# error%s: %s\n", fx->error_fatal[i] ? " (fatal)" : "",
			      fx->errors[i]);
	for (i = 0; i < fx->n_results; i++)
		print_message("# result %" PRIu64 " %s %s%s: %s\n", fx->results[i].id,
			      fx->results[i].command,
			      qmp_result_kind_to_str(fx->results[i].kind),
			      fx->results[i].late ? " (late)" : "",
			      fx->results[i].ret ? fx->results[i].ret : "");
}

/* ---------------------------------------------------------- fixture */

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	int rc;

	if (!fx)
		return -1;
	fx->ctl_fd = -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/qmp-client-XXXXXX");
	if (!mkdtemp(fx->dir)) {
		free(fx);
		return -1;
	}
	snprintf(fx->ctl_path, sizeof(fx->ctl_path), "%s/ctl", fx->dir);
	fx->loop = qb_loop_create();
	*state = fx;
	rc = sim_start(fx);
	if (rc == -ENOENT) {
		/* Without the simulator these tests cannot run at all. */
		print_message("# QMP_SIM (%s) not found: skipping\n",
			      getenv("QMP_SIM") ? getenv("QMP_SIM") : "unset");
		return 0;
	}
	return rc == 0 && fx->loop ? 0 : -1;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	int i;

	if (!fx)
		return 0;
	if (fx->c && (fx->n_results || fx->n_states))
		dump_records(fx);
	qmp_client_free(fx->c);
	qmp_client_free(fx->c2);
	qmp_cmdset_cache_free(fx->cache);
	if (fx->ctl_fd >= 0)
		close(fx->ctl_fd);
	if (fx->sim_pid > 0) {
		kill(fx->sim_pid, SIGTERM);
		for (i = 0; i < 200; i++) {
			if (waitpid(fx->sim_pid, NULL, WNOHANG) == fx->sim_pid)
				break;
			usleep(10000);
		}
		if (i == 200) {
			kill(fx->sim_pid, SIGKILL);
			waitpid(fx->sim_pid, NULL, 0);
		}
	}
	if (fx->loop)
		qb_loop_destroy(fx->loop);
	clear_records(fx);
	rm_tree(fx->dir);
	free(fx);
	return 0;
}

static void need_sim(struct fx *fx)
{
	if (fx->sim_pid <= 0)
		skip();
}

static struct qmp_client_config default_cfg(void)
{
	return (struct qmp_client_config){
		.backoff_min_ms = 20,
		.backoff_max_ms = 200,
		.greeting_timeout_ms = 2000,
		.negotiate_timeout_ms = 2000,
		.probe_timeout_ms = 2000,
	};
}

static struct qmp_client *client_for(struct fx *fx, const char *vm,
				     struct qmp_client_config *over)
{
	struct qmp_client_config cfg = default_cfg();
	char path[160];
	struct qmp_client *c;

	if (over)
		cfg = *over;
	snprintf(path, sizeof(path), "%s/%s.sock", fx->dir, vm);
	cfg.path = path;
	c = qmp_client_new(fx->loop, &cfg, &test_cbs, fx);
	assert_non_null(c);
	return c;
}

/* th: command timeouts through this timer hub instead of loop timers */
static void connect_ready_timers(struct fx *fx, const char *vm, struct timerhub *th)
{
	struct qmp_client_config cfg = default_cfg();

	cfg.timers = th;
	fx->c = client_for(fx, vm, &cfg);
	assert_int_equal(qmp_client_start(fx->c), 0);
	if (!run_until(fx, cond_state, (void *)(intptr_t)QMP_CLIENT_READY, 10))
		fail_msg("client did not reach READY");
}

static void connect_ready(struct fx *fx, const char *vm)
{
	connect_ready_timers(fx, vm, NULL);
}

static int64_t exec(struct fx *fx, const char *name, json_t *args, unsigned flags,
		    unsigned timeout_ms)
{
	return qmp_client_execute(fx->c, name, args, flags, timeout_ms, on_result, fx);
}

/* Runs a command and waits for its final result. */
static const struct rec_result *call(struct fx *fx, const char *name, json_t *args,
				     unsigned flags, unsigned timeout_ms)
{
	int64_t id = exec(fx, name, args, flags, timeout_ms);

	if (id <= 0)
		fail_msg("execute %s: %s", name, strerror((int)-id));
	return wait_result(fx, id, false, 10);
}

static void fault(struct fx *fx, const char *vm, const char *kind, const char *match,
		  int ms)
{
	json_t *req = json_pack("{s:s,s:s,s:s}", "cmd", "fault", "name", vm,
				"fault", kind);

	if (match)
		json_object_set_new(req, "match", json_string(match));
	if (ms >= 0)
		json_object_set_new(req, "ms", json_integer(ms));
	ctl_ok(fx, req);
}

static void pair(struct fx *fx)
{
	vm_add(fx, "p", "colo");
	vm_add(fx, "s", "colo");
	ctl_ok(fx, json_pack("{s:s,s:s,s:s}", "cmd", "pair", "primary", "p",
			     "secondary", "s"));
}

/* ------------------------------------------------------------ tests */

/* Connect, greeting, oob, probe; facts; peer pid. */
static void test_connect_and_probe(void **state)
{
	struct fx *fx = fx_of(state);
	static const enum qmp_client_state order[] = {
		QMP_CLIENT_CONNECTING, QMP_CLIENT_GREETING, QMP_CLIENT_NEGOTIATING,
		QMP_CLIENT_PROBING, QMP_CLIENT_READY,
	};
	const struct qmp_version *v;
	const struct qmp_yank_list *y;
	json_t *log, *e;
	size_t i, j = 0;
	bool asked_oob = false;

	need_sim(fx);
	vm_add(fx, "a", "colo");
	fx->c = client_for(fx, "a", NULL);
	assert_int_equal(qmp_client_execute(fx->c, "query-status", NULL, 0, 0, NULL,
					    NULL), -ENOTCONN);
	assert_int_equal(qmp_client_has_command(fx->c, "query-status"), -EAGAIN);
	assert_int_equal(qmp_client_start(fx->c), 0);
	assert_int_equal(qmp_client_start(fx->c), -EALREADY);
	assert_true(run_until(fx, cond_state, (void *)(intptr_t)QMP_CLIENT_READY, 10));
	for (i = 0; i < fx->n_states && j < ARRAY_SIZE(order); i++) {
		if (fx->states[i] == order[j])
			j++;
	}
	assert_int_equal(j, ARRAY_SIZE(order));
	assert_int_equal(count_states(fx, QMP_CLIENT_DISCONNECTED), 0);
	v = qmp_client_version(fx->c);
	assert_non_null(v);
	assert_int_equal(v->major, 7);
	assert_int_equal(v->minor, 2);
	assert_true(qmp_client_oob(fx->c));
	assert_int_equal(qmp_client_has_command(fx->c, "x-colo-lost-heartbeat"), 1);
	assert_int_equal(qmp_client_has_command(fx->c, "query-yank"), 1);
	assert_int_equal(qmp_client_has_command(fx->c, "no-such-command"), 0);
	y = qmp_client_yank(fx->c);
	assert_non_null(y);
	for (i = 0; i < y->n; i++)
		assert_int_not_equal(y->v[i].type, QMP_YANK_UNKNOWN);
	/* SO_PEERCRED names the simulator process (its "state" reports a
	 * simulated QEMU pid, not the real one). */
	assert_int_equal(qmp_client_peer_pid(fx->c), fx->sim_pid);
	assert_true(qmp_client_fd(fx->c) >= 0);

	/* The simulator saw qmp_capabilities with oob, then the probes. */
	log = ctl(fx, json_pack("{s:s,s:s}", "cmd", "log", "name", "a"));
	json_array_foreach(json_object_get(log, "log"), i, e) {
		json_t *msg = json_object_get(e, "msg");

		if (!strcmp(jstr(e, "dir"), "in") &&
		    !strcmp(jstr(msg, "execute"), "qmp_capabilities")) {
			json_t *en = json_object_get(json_object_get(msg, "arguments"),
						     "enable");

			asked_oob = !strcmp(json_string_value(json_array_get(en, 0)),
					    "oob");
		}
	}
	json_decref(log);
	assert_true(asked_oob);
}

/* A QEMU without replication: the owner can see "no COLO support". */
static void test_no_colo_build(void **state)
{
	struct fx *fx = fx_of(state);
	const struct rec_result *r;

	need_sim(fx);
	vm_add(fx, "n", "no-colo");
	connect_ready(fx, "n");
	assert_int_equal(qmp_client_has_command(fx->c, "x-colo-lost-heartbeat"), 0);
	assert_int_equal(qmp_client_has_command(fx->c, "query-status"), 1);
	r = call(fx, "x-colo-lost-heartbeat", NULL, 0, 5000);
	assert_non_null(r);
	assert_int_equal(r->kind, QMP_RESULT_ERROR);
	assert_int_equal(r->err_class, QMP_ERROR_CLASS_COMMAND_NOT_FOUND);
}

static bool cond_both_ready(struct fx *fx, void *arg)
{
	(void)arg;
	return fx->c && fx->c2 && qmp_client_state(fx->c) == QMP_CLIENT_READY &&
	       qmp_client_state(fx->c2) == QMP_CLIENT_READY;
}

/* issue 5: one copy of a command list per distinct list, not per client;
 * each client still answers from its own QEMU's list, and a list goes
 * with its last client. */
static void test_shared_cmdset(void **state)
{
	struct fx *fx = fx_of(state);
	struct qmp_client_config cfg = {
		.backoff_min_ms = 20, .backoff_max_ms = 200,
		.greeting_timeout_ms = 2000, .negotiate_timeout_ms = 2000,
		.probe_timeout_ms = 2000,
	};

	need_sim(fx);
	fx->cache = qmp_cmdset_cache_new();
	assert_non_null(fx->cache);
	cfg.cmdset_cache = fx->cache;
	vm_add(fx, "a", "colo");
	vm_add(fx, "b", "colo");
	vm_add(fx, "n", "no-colo");
	fx->c = client_for(fx, "a", &cfg);
	fx->c2 = client_for(fx, "b", &cfg);
	assert_int_equal(qmp_client_start(fx->c), 0);
	assert_int_equal(qmp_client_start(fx->c2), 0);
	assert_true(run_until(fx, cond_both_ready, NULL, 10));
	assert_int_equal(qmp_cmdset_cache_sets(fx->cache), 1);
	assert_int_equal(qmp_client_has_command(fx->c, "x-colo-lost-heartbeat"), 1);
	assert_int_equal(qmp_client_has_command(fx->c2, "x-colo-lost-heartbeat"), 1);

	/* a different build: its own list, next to the shared one */
	qmp_client_free(fx->c);
	fx->c = NULL;
	assert_int_equal(qmp_cmdset_cache_sets(fx->cache), 1); /* b holds it */
	fx->c = client_for(fx, "n", &cfg);
	assert_int_equal(qmp_client_start(fx->c), 0);
	assert_true(run_until(fx, cond_both_ready, NULL, 10));
	assert_int_equal(qmp_cmdset_cache_sets(fx->cache), 2);
	assert_int_equal(qmp_client_has_command(fx->c, "x-colo-lost-heartbeat"), 0);
	assert_int_equal(qmp_client_has_command(fx->c, "query-status"), 1);
	assert_int_equal(qmp_client_has_command(fx->c2, "x-colo-lost-heartbeat"), 1);

	/* the last client of a list takes it along */
	qmp_client_free(fx->c2);
	fx->c2 = NULL;
	assert_int_equal(qmp_cmdset_cache_sets(fx->cache), 1);
	assert_int_equal(qmp_client_has_command(fx->c, "query-status"), 1);
	qmp_client_free(fx->c);
	fx->c = NULL;
	assert_int_equal(qmp_cmdset_cache_sets(fx->cache), 0);
}

/* Several commands in flight (more than the in-band window): each result
 * goes to its own id, in order. */
static void test_several_in_flight(void **state)
{
	struct fx *fx = fx_of(state);
	static const char *const cmds[] = {
		"query-status", "query-colo-status", "query-migrate", "query-status",
		"query-colo-status", "query-commands", "query-status",
	};
	int64_t ids[ARRAY_SIZE(cmds)];
	size_t i;

	need_sim(fx);
	vm_add(fx, "a", "colo");
	connect_ready(fx, "a");
	for (i = 0; i < ARRAY_SIZE(cmds); i++) {
		ids[i] = exec(fx, cmds[i], NULL, 0, 5000);
		assert_true(ids[i] > 0);
		if (i)
			assert_true(ids[i] > ids[i - 1]);
	}
	assert_int_equal(qmp_client_pending(fx->c), ARRAY_SIZE(cmds));
	assert_non_null(wait_result(fx, ids[ARRAY_SIZE(cmds) - 1], false, 10));
	for (i = 0; i < ARRAY_SIZE(cmds); i++) {
		const struct rec_result *r = find_result(fx, (uint64_t)ids[i], false);

		assert_non_null(r);
		assert_int_equal(r->kind, QMP_RESULT_RETURN);
		assert_string_equal(r->command, cmds[i]);
		/* The content fits the command: matched by id, not by order. */
		if (!strcmp(cmds[i], "query-status"))
			assert_non_null(strstr(r->ret, "\"running\""));
		else if (!strcmp(cmds[i], "query-colo-status"))
			assert_non_null(strstr(r->ret, "\"last-mode\""));
		else if (!strcmp(cmds[i], "query-commands"))
			assert_non_null(strstr(r->ret, "\"x-colo-lost-heartbeat\""));
		/* In-band replies come in order. */
		assert_ptr_equal(r, &fx->results[i]);
	}
	assert_int_equal(qmp_client_pending(fx->c), 0);
}

/* Events, with QEMU's timestamps; set-up events of a pair. */
static void test_events(void **state)
{
	struct fx *fx = fx_of(state);
	size_t i;
	bool resume = false, colo = false;

	need_sim(fx);
	vm_add(fx, "p", "colo");
	vm_add(fx, "s", "colo");
	connect_ready(fx, "p");
	ctl_ok(fx, json_pack("{s:s,s:s,s:s}", "cmd", "pair", "primary", "p",
			     "secondary", "s"));
	assert_true(run_until(fx, cond_event, "RESUME", 5));
	for (i = 0; i < fx->n_events; i++) {
		assert_true(fx->event_sec[i] > 1600000000);
		assert_true(fx->event_usec[i] >= 0 && fx->event_usec[i] < 1000000);
		if (!strcmp(fx->events[i], "MIGRATION") && fx->event_data[i] &&
		    strstr(fx->event_data[i], "\"colo\""))
			colo = true;
		if (!strcmp(fx->events[i], "RESUME")) {
			resume = true;
			assert_true(colo); /* MIGRATION colo came first */
		}
	}
	assert_true(resume);
}

/* delay: the reply arrives late. A shorter timeout gives TIMEOUT, the
 * connection stays, and the reply goes to on_late_reply. */
static void delay_timeout_late_reply(struct fx *fx, struct timerhub *th)
{
	const struct rec_result *r;
	int64_t id;
	double t0;

	need_sim(fx);
	vm_add(fx, "a", "colo");
	connect_ready_timers(fx, "a", th);
	fault(fx, "a", "delay", "query-status", 1500);
	t0 = now_s();
	id = exec(fx, "query-status", NULL, 0, 300);
	r = wait_result(fx, id, false, 5);
	assert_non_null(r);
	assert_int_equal(r->kind, QMP_RESULT_TIMEOUT);
	assert_true(now_s() - t0 < 1.5); /* well before the reply */
	assert_int_equal(qmp_client_state(fx->c), QMP_CLIENT_READY);
	r = wait_result(fx, id, true, 10);
	assert_non_null(r);
	assert_int_equal(r->kind, QMP_RESULT_RETURN);
	assert_string_equal(r->command, "query-status");
	assert_non_null(strstr(r->ret, "running"));
	/* Exactly one result to the owner's callback. */
	assert_int_equal(fx->n_results, 2);
	assert_int_equal(count_states(fx, QMP_CLIENT_DISCONNECTED), 0);
	/* A delay within the timeout is just a slow reply. */
	fault(fx, "a", "delay", "query-status", 300);
	r = call(fx, "query-status", NULL, 0, 5000);
	assert_non_null(r);
	assert_int_equal(r->kind, QMP_RESULT_RETURN);
}

static void test_delay_timeout_late_reply(void **state)
{
	delay_timeout_late_reply(fx_of(state), NULL);
}

/* the same with the timeouts in a timer hub, as the daemon runs them */
static void test_delay_timeout_late_reply_timerhub(void **state)
{
	struct fx *fx = fx_of(state);
	struct timerhub *th;

	need_sim(fx);
	th = timerhub_new(fx->loop, QB_LOOP_MED);
	assert_non_null(th);
	delay_timeout_late_reply(fx, th);
	qmp_client_free(fx->c);
	fx->c = NULL;
	assert_int_equal(timerhub_count(th), 0);
	timerhub_free(th);
}

static const struct rec_result *colo_status(struct fx *fx)
{
	const struct rec_result *r = call(fx, "query-colo-status", NULL, 0, 5000);

	assert_non_null(r);
	assert_int_equal(r->kind, QMP_RESULT_RETURN);
	return r;
}

/* drop-before-reply: NOT_DELIVERED, reconnect, and the command did not run. */
static void test_drop_before_reply(void **state)
{
	struct fx *fx = fx_of(state);
	const struct rec_result *r;
	json_t *st;
	int64_t id;

	need_sim(fx);
	pair(fx);
	connect_ready(fx, "p");
	fault(fx, "p", "drop-before-reply", "x-colo-lost-heartbeat", -1);
	id = exec(fx, "x-colo-lost-heartbeat", NULL, 0, 5000);
	r = wait_result(fx, id, false, 5);
	assert_non_null(r);
	assert_int_equal(r->kind, QMP_RESULT_NOT_DELIVERED);
	assert_true(count_states(fx, QMP_CLIENT_DISCONNECTED) >= 1);
	assert_true(run_until(fx, cond_state, (void *)(intptr_t)QMP_CLIENT_READY, 10));
	st = vm_state(fx, "p");
	assert_string_equal(jstr(st, "mode"), "primary");
	json_decref(st);
	r = colo_status(fx);
	assert_non_null(strstr(r->ret, "\"mode\":\"primary\""));
}

/* drop-after-reply: the reply was read, so the command counts as delivered;
 * the command behind it is NOT_DELIVERED; the query after the reconnect
 * shows the failover happened. */
static void test_drop_after_reply(void **state)
{
	struct fx *fx = fx_of(state);
	const struct rec_result *r;
	int64_t id, id2;

	need_sim(fx);
	pair(fx);
	connect_ready(fx, "p");
	fault(fx, "p", "drop-after-reply", "x-colo-lost-heartbeat", -1);
	id = exec(fx, "x-colo-lost-heartbeat", NULL, 0, 5000);
	id2 = exec(fx, "query-status", NULL, 0, 5000);
	assert_non_null(wait_result(fx, id2, false, 5));
	r = find_result(fx, (uint64_t)id, false);
	assert_non_null(r);
	assert_int_equal(r->kind, QMP_RESULT_RETURN);
	r = find_result(fx, (uint64_t)id2, false);
	assert_int_equal(r->kind, QMP_RESULT_NOT_DELIVERED);
	assert_true(run_until(fx, cond_state, (void *)(intptr_t)QMP_CLIENT_READY, 10));
	assert_int_equal(count_states(fx, QMP_CLIENT_DISCONNECTED), 1);
	r = colo_status(fx);
	assert_non_null(strstr(r->ret, "\"last-mode\":\"primary\""));
	assert_non_null(strstr(r->ret, "\"mode\":\"none\""));
}

/* Waits for a loss with a pending command, then for READY again. */
static void expect_fatal_and_reconnect(struct fx *fx, int64_t pending,
				       const char *needle)
{
	const struct rec_result *r;

	assert_true(run_until(fx, cond_state_seen,
			      (void *)(intptr_t)QMP_CLIENT_DISCONNECTED, 5));
	if (!has_error(fx, true, needle))
		fail_msg("no fatal error containing \"%s\"", needle);
	if (pending > 0) {
		r = find_result(fx, (uint64_t)pending, false);
		assert_non_null(r);
		assert_int_equal(r->kind, QMP_RESULT_NOT_DELIVERED);
	}
	assert_true(run_until(fx, cond_state, (void *)(intptr_t)QMP_CLIENT_READY, 10));
	assert_non_null(call(fx, "query-status", NULL, 0, 5000));
}

static int64_t pending_slow_command(struct fx *fx)
{
	int64_t id;

	/* The simulator's delayed command also holds its dispatcher (like a
	 * slow QEMU command): keep it shorter than the negotiation timeout. */
	fault(fx, "a", "delay", "query-migrate", 1000);
	id = exec(fx, "query-migrate", NULL, 0, 10000);
	assert_true(id > 0);
	run_until(fx, NULL, NULL, 0.2);
	return id;
}

static void test_garbage(void **state)
{
	struct fx *fx = fx_of(state);
	int64_t id;

	need_sim(fx);
	vm_add(fx, "a", "colo");
	connect_ready(fx, "a");
	id = pending_slow_command(fx);
	fault(fx, "a", "garbage", NULL, -1);
	expect_fatal_and_reconnect(fx, id, "invalid message");
}

/* Reads one line the client wrote to our end of a socketpair. */
static char *peer_read_line(struct fx *fx, int fd)
{
	static char buf[8192];
	size_t len = 0;
	double until = now_s() + 5;

	while (now_s() < until && len < sizeof(buf) - 1) {
		ssize_t n;
		char *nl;

		run_until(fx, NULL, NULL, 0.02); /* let the client write */
		n = recv(fd, buf + len, sizeof(buf) - 1 - len, MSG_DONTWAIT);
		if (n > 0) {
			len += (size_t)n;
			buf[len] = '\0';
			nl = strchr(buf, '\n');
			if (nl) {
				*nl = '\0';
				return buf;
			}
		}
	}
	fail_msg("no line from the client");
	return NULL;
}

/* Without the simulator (it cannot send NUL bytes): a socketpair as the
 * monitor, through adopt_fd. A torn first line after adoption is skipped;
 * a NUL byte later is fatal; the client then reconnects to its path. */
static void test_adopt_socketpair_torn_line_and_nul(void **state)
{
	struct fx *fx = fx_of(state);
	struct qmp_client_adopt a = { .oob = false };
	static const char nul_line[] = "{\"ret\0urn\": {}}\n";
	static const char torn[] = "\"id\": \"cab-3\"}\n";
	static const char stop_ev[] = "{\"timestamp\": {\"seconds\": 1795630822, "
		"\"microseconds\": 123456}, \"event\": \"STOP\"}\n";
	char reply[256];
	size_t reply_len;
	json_t *cmd;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	fx->c = client_for(fx, "absent", NULL);
	/* The tail of a line the previous owner had half read. */
	assert_int_equal(write(sv[1], torn, strlen(torn)), (ssize_t)strlen(torn));
	assert_int_equal(qmp_client_adopt_fd(fx->c, sv[0], &a), 0);
	cmd = json_loads(peer_read_line(fx, sv[1]), 0, NULL);
	assert_non_null(cmd);
	assert_string_equal(jstr(cmd, "execute"), "query-commands");
	snprintf(reply, sizeof(reply),
		 "{\"return\": [{\"name\": \"query-status\"}], \"id\": \"%s\"}\n",
		 jstr(cmd, "id"));
	json_decref(cmd);
	/* An event during set-up (PROBING) is delivered too. */
	assert_int_equal(write(sv[1], stop_ev, strlen(stop_ev)),
			 (ssize_t)strlen(stop_ev));
	assert_true(run_until(fx, cond_event, "STOP", 5));
	assert_int_equal(qmp_client_state(fx->c), QMP_CLIENT_PROBING);
	assert_int_equal(fx->event_sec[0], 1795630822);
	assert_int_equal(fx->event_usec[0], 123456);
	reply_len = strlen(reply);
	assert_int_equal(write(sv[1], reply, reply_len), (ssize_t)reply_len);
	assert_true(run_until(fx, cond_state, (void *)(intptr_t)QMP_CLIENT_READY, 5));
	assert_true(has_error(fx, false, "torn first line"));
	assert_int_equal(qmp_client_has_command(fx->c, "query-status"), 1);
	assert_null(qmp_client_yank(fx->c)); /* this "QEMU" has no query-yank */
	assert_int_equal(qmp_client_peer_pid(fx->c), getpid());
	assert_int_equal(exec(fx, "yank", NULL, QMP_CMD_OOB, 100), -ENOTSUP);

	assert_int_equal(write(sv[1], nul_line, sizeof(nul_line) - 1),
			 (ssize_t)sizeof(nul_line) - 1);
	assert_true(run_until(fx, cond_state_seen,
			      (void *)(intptr_t)QMP_CLIENT_DISCONNECTED, 5));
	/* Offsets count from the adoption: torn line, reply, then "{\"ret". */
	snprintf(reply, sizeof(reply), "NUL byte in the stream at stream offset %zu",
		 strlen(torn) + strlen(stop_ev) + reply_len + 5);
	assert_true(has_error(fx, true, reply));
	/* Reconnects through the configured path (absent here). */
	assert_true(run_until(fx, cond_state_seen,
			      (void *)(intptr_t)QMP_CLIENT_CONNECTING, 5));
	close(sv[1]);
}

static void test_non_object(void **state)
{
	struct fx *fx = fx_of(state);

	need_sim(fx);
	vm_add(fx, "a", "colo");
	connect_ready(fx, "a");
	ctl_ok(fx, json_pack("{s:s,s:s,s:s,s:s}", "cmd", "fault", "name", "a",
			     "fault", "garbage", "bytes", "[1, 2]\n"));
	expect_fatal_and_reconnect(fx, 0, "not a JSON object");
}

/* A reply with an id we never sent is reported, not fatal. */
static void test_unknown_id_not_fatal(void **state)
{
	struct fx *fx = fx_of(state);

	need_sim(fx);
	vm_add(fx, "a", "colo");
	connect_ready(fx, "a");
	ctl_ok(fx, json_pack("{s:s,s:s,s:s,s:s}", "cmd", "fault", "name", "a",
			     "fault", "garbage", "bytes",
			     "{\"return\": {}, \"id\": \"cab-999999\"}\n"
			     "{\"return\": {}, \"id\": \"libvirt-1\"}\n"));
	assert_non_null(call(fx, "query-status", NULL, 0, 5000));
	assert_true(has_error(fx, false, "unknown id cab-999999"));
	assert_true(has_error(fx, false, "foreign id \"libvirt-1\""));
	assert_int_equal(count_states(fx, QMP_CLIENT_DISCONNECTED), 0);
}

static void test_oversize(void **state)
{
	struct fx *fx = fx_of(state);
	int64_t id;

	need_sim(fx);
	vm_add(fx, "a", "colo");
	connect_ready(fx, "a");
	id = pending_slow_command(fx);
	fault(fx, "a", "oversize", NULL, -1);
	expect_fatal_and_reconnect(fx, id, "line longer than the maximum");
}

/* No greeting: closed after the greeting timeout, fine on the next try. */
static void test_no_greeting(void **state)
{
	struct fx *fx = fx_of(state);
	struct qmp_client_config cfg = {
		.backoff_min_ms = 20, .backoff_max_ms = 200,
		.greeting_timeout_ms = 400,
	};
	double t0;

	need_sim(fx);
	vm_add(fx, "a", "colo");
	fault(fx, "a", "no-greeting", NULL, -1);
	fx->c = client_for(fx, "a", &cfg);
	t0 = now_s();
	assert_int_equal(qmp_client_start(fx->c), 0);
	assert_true(run_until(fx, cond_state_seen,
			      (void *)(intptr_t)QMP_CLIENT_DISCONNECTED, 5));
	assert_true(now_s() - t0 >= 0.35);
	assert_true(has_error(fx, true, "no greeting within 400 ms"));
	assert_true(run_until(fx, cond_state, (void *)(intptr_t)QMP_CLIENT_READY, 10));
}

static bool cond_connects(struct fx *fx, void *arg)
{
	return count_states(fx, QMP_CLIENT_CONNECTING) >= (size_t)(intptr_t)arg;
}

/* qmp_capabilities unanswered: closed after the negotiation timeout, then
 * reconnected. The simulator's faults do not cover qmp_capabilities, so a
 * listening socket of the test plays a QEMU that greets and then stalls. */
static void test_negotiation_timeout(void **state)
{
	struct fx *fx = fx_of(state);
	struct qmp_client_config cfg = {
		.backoff_min_ms = 20, .backoff_max_ms = 200,
		.negotiate_timeout_ms = 400,
	};
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	json_t *cmd;
	int lfd, cfd;
	char byte;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/stall.sock", fx->dir);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	fx->c = client_for(fx, "stall", &cfg);
	assert_int_equal(qmp_client_start(fx->c), 0);
	/* connect() completes through the backlog; then we greet. */
	assert_true(run_until(fx, cond_state, (void *)(intptr_t)QMP_CLIENT_GREETING, 5));
	cfd = accept(lfd, NULL, NULL);
	assert_true(cfd >= 0);
	assert_int_equal(write(cfd, greeting, strlen(greeting)),
			 (ssize_t)strlen(greeting));
	cmd = json_loads(peer_read_line(fx, cfd), 0, NULL);
	assert_string_equal(jstr(cmd, "execute"), "qmp_capabilities");
	json_decref(cmd);
	assert_true(run_until(fx, cond_state_seen,
			      (void *)(intptr_t)QMP_CLIENT_DISCONNECTED, 5));
	assert_true(has_error(fx, true, "qmp_capabilities: no reply within 400 ms"));
	assert_int_equal(count_states(fx, QMP_CLIENT_PROBING), 0);
	/* The client hung up; it tries again. */
	assert_int_equal(recv(cfd, &byte, 1, 0), 0);
	assert_true(run_until(fx, cond_connects, (void *)(intptr_t)2, 5));
	close(cfd);
	close(lfd);
}

/* hang: in-band times out, the connection stays; OOB on a hung *monitor*
 * gets no answer either (the simulator's monitor reads nothing); after
 * clear both replies arrive late. */
static void test_hang(void **state)
{
	struct fx *fx = fx_of(state);
	const struct rec_result *r;
	int64_t id, oid;

	need_sim(fx);
	vm_add(fx, "a", "colo");
	connect_ready(fx, "a");
	fault(fx, "a", "hang", NULL, -1);
	id = exec(fx, "query-status", NULL, 0, 400);
	oid = exec(fx, "yank", json_pack("{s:[]}", "instances"), QMP_CMD_OOB, 400);
	assert_true(oid > 0);
	r = wait_result(fx, id, false, 5);
	assert_non_null(r);
	assert_int_equal(r->kind, QMP_RESULT_TIMEOUT);
	r = wait_result(fx, oid, false, 5);
	assert_non_null(r);
	assert_int_equal(r->kind, QMP_RESULT_TIMEOUT);
	run_until(fx, NULL, NULL, 0.3);
	assert_int_equal(qmp_client_state(fx->c), QMP_CLIENT_READY);
	assert_int_equal(count_states(fx, QMP_CLIENT_DISCONNECTED), 0);
	fault(fx, "a", "clear", NULL, -1);
	r = wait_result(fx, oid, true, 5);
	assert_non_null(r);
	assert_int_equal(r->kind, QMP_RESULT_RETURN);
	r = wait_result(fx, id, true, 5);
	assert_non_null(r);
	assert_int_equal(r->kind, QMP_RESULT_RETURN);
	assert_non_null(call(fx, "query-status", NULL, 0, 5000));
}

/* Largest number of in-band commands QEMU had received and not answered,
 * from the simulator's log of the VM. */
static int max_inband_outstanding(struct fx *fx, const char *vm)
{
	json_t *log = ctl(fx, json_pack("{s:s,s:s}", "cmd", "log", "name", vm));
	json_t *e;
	size_t i;
	int cur = 0, max = 0;

	json_array_foreach(json_object_get(log, "log"), i, e) {
		json_t *msg = json_object_get(e, "msg");

		if (!strcmp(jstr(e, "dir"), "in") && json_object_get(msg, "execute"))
			cur++;
		else if (!strcmp(jstr(e, "dir"), "out") &&
			 (json_object_get(msg, "return") || json_object_get(msg, "error")))
			cur--;
		if (cur > max)
			max = cur;
	}
	json_decref(log);
	return max;
}

/* In-band flow control: on a hung main loop at most the window of in-band
 * commands is written (QEMU stops reading when its queue is full, which
 * would block OOB too); the rest time out in the client's queue and are
 * never sent, so only the written ones get late replies. */
static void test_inband_window(void **state)
{
	struct fx *fx = fx_of(state);
	int64_t ids[QMP_CLIENT_MAX_INBAND_INFLIGHT + 3];
	size_t i, late = 0;

	need_sim(fx);
	vm_add(fx, "a", "colo");
	connect_ready(fx, "a");
	fault(fx, "a", "hang", NULL, -1);
	for (i = 0; i < ARRAY_SIZE(ids); i++) {
		ids[i] = exec(fx, "query-status", NULL, 0, 300);
		assert_true(ids[i] > 0);
	}
	assert_non_null(wait_result(fx, ids[ARRAY_SIZE(ids) - 1], false, 5));
	for (i = 0; i < ARRAY_SIZE(ids); i++) {
		const struct rec_result *r = find_result(fx, (uint64_t)ids[i], false);

		assert_non_null(r);
		assert_int_equal(r->kind, QMP_RESULT_TIMEOUT);
	}
	fault(fx, "a", "clear", NULL, -1);
	assert_non_null(wait_result(fx, ids[QMP_CLIENT_MAX_INBAND_INFLIGHT - 1], true, 5));
	run_until(fx, NULL, NULL, 0.3);
	for (i = 0; i < ARRAY_SIZE(ids); i++)
		late += find_result(fx, (uint64_t)ids[i], true) != NULL;
	assert_int_equal(late, QMP_CLIENT_MAX_INBAND_INFLIGHT);
	assert_true(max_inband_outstanding(fx, "a") <= QMP_CLIENT_MAX_INBAND_INFLIGHT);
	assert_non_null(call(fx, "query-status", NULL, 0, 5000));
}

/* The output queue is bounded: a monitor that reads nothing gets
 * -ENOBUFS, not unbounded memory. */
static void test_output_bounded(void **state)
{
	struct fx *fx = fx_of(state);
	struct qmp_client_config cfg = {
		.backoff_min_ms = 20, .backoff_max_ms = 200, .max_output = 65536,
	};
	char pad[4000];
	int64_t id = 0;
	int i;

	need_sim(fx);
	vm_add(fx, "a", "colo");
	fx->c = client_for(fx, "a", &cfg);
	assert_int_equal(qmp_client_start(fx->c), 0);
	assert_true(run_until(fx, cond_state, (void *)(intptr_t)QMP_CLIENT_READY, 10));
	fault(fx, "a", "hang", NULL, -1);
	memset(pad, 'p', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	/* The kernel's socket buffer fills first, then our 64 KiB. */
	for (i = 0; i < 2000; i++) {
		id = qmp_client_execute(fx->c, "yank",
					json_pack("{s:[],s:s}", "instances", "pad", pad),
					QMP_CMD_OOB, 0, NULL, NULL);
		if (id < 0)
			break;
		if (i % 16 == 0)
			run_until(fx, NULL, NULL, 0.01);
	}
	assert_int_equal(id, -ENOBUFS);
	assert_true(i < 2000);
	assert_int_equal(qmp_client_state(fx->c), QMP_CLIENT_READY);
}

/* Backoff while the socket is absent; connects once it appears. */
static void test_backoff_then_connect(void **state)
{
	struct fx *fx = fx_of(state);
	size_t attempts;
	double t0;

	need_sim(fx);
	fx->c = client_for(fx, "late", NULL); /* 20 ms .. 200 ms */
	assert_int_equal(qmp_client_start(fx->c), 0);
	t0 = now_s();
	run_until(fx, NULL, NULL, 1.2);
	attempts = count_states(fx, QMP_CLIENT_CONNECTING);
	/* 20+40+80+160+200+200+... ms: about 7 in 1.2 s; without backoff it
	 * would be hundreds, with a stuck timer 1. Generous bounds. */
	assert_true(attempts >= 3);
	assert_true(attempts <= 15);
	assert_non_null(strstr(fx->state_reasons[1], "No such file"));
	assert_non_null(strstr(fx->state_reasons[1], "retry in"));
	vm_add(fx, "late", "colo");
	assert_true(run_until(fx, cond_state, (void *)(intptr_t)QMP_CLIENT_READY, 5));
	assert_true(now_s() - t0 < 7);
}

/* The loss of QEMU: NOT_DELIVERED, then reconnect attempts with backoff. */
static void test_vm_killed(void **state)
{
	struct fx *fx = fx_of(state);
	int64_t id;

	need_sim(fx);
	vm_add(fx, "a", "colo");
	connect_ready(fx, "a");
	id = pending_slow_command(fx);
	ctl_ok(fx, json_pack("{s:s,s:s}", "cmd", "kill", "name", "a"));
	assert_non_null(wait_result(fx, id, false, 5));
	assert_int_equal(find_result(fx, (uint64_t)id, false)->kind,
			 QMP_RESULT_NOT_DELIVERED);
	run_until(fx, NULL, NULL, 0.5);
	assert_true(count_states(fx, QMP_CLIENT_CONNECTING) >= 2);
	assert_int_not_equal(qmp_client_state(fx->c), QMP_CLIENT_READY);
	assert_int_equal(qmp_client_peer_pid(fx->c), 0);
}

/* A primary whose secondary vanished: an in-band command that flushes the
 * disk hangs (TIMEOUT); an OOB yank of the peer-facing set answers and
 * unblocks it (late reply). */
static void silent_loss_case(struct fx *fx, const char *cmd)
{
	struct qmp_yank_list sel;
	const struct rec_result *r;
	int64_t id, yid;

	pair(fx);
	connect_ready(fx, "p");
	assert_true(qmp_client_oob(fx->c));
	assert_non_null(qmp_client_yank(fx->c));
	ctl_ok(fx, json_pack("{s:s,s:s}", "cmd", "silent-loss", "name", "s"));
	id = exec(fx, cmd, NULL, 0, 800);
	r = wait_result(fx, id, false, 5);
	assert_non_null(r);
	assert_int_equal(r->kind, QMP_RESULT_TIMEOUT);
	assert_int_equal(qmp_client_state(fx->c), QMP_CLIENT_READY);
	/* In-band is stuck behind it ... */
	assert_int_equal(qmp_client_has_command(fx->c, "yank"), 1);
	assert_int_equal(qmp_yank_select_peer(qmp_client_yank(fx->c), NULL, 0, &sel), 0);
	assert_true(sel.n >= 1);
	/* the selection is the caller's own: the client's list may go */
	qmp_client_yank_forget(fx->c);
	assert_null(qmp_client_yank(fx->c));
	/* ... but OOB answers. */
	yid = exec(fx, "yank", qmp_yank_list_to_args(&sel), QMP_CMD_OOB, 3000);
	qmp_yank_list_free(&sel);
	r = wait_result(fx, yid, false, 5);
	assert_non_null(r);
	assert_int_equal(r->kind, QMP_RESULT_RETURN);
	r = wait_result(fx, id, true, 5);
	assert_non_null(r);
	assert_int_equal(r->kind, QMP_RESULT_RETURN);
	assert_int_equal(count_states(fx, QMP_CLIENT_DISCONNECTED), 0);
}

static void test_silent_loss_stop(void **state)
{
	struct fx *fx = fx_of(state);
	const struct rec_result *r;

	need_sim(fx);
	silent_loss_case(fx, "stop");
	r = call(fx, "query-status", NULL, 0, 5000);
	assert_non_null(r);
	assert_non_null(strstr(r->ret, "\"paused\""));
}

static void test_silent_loss_lost_heartbeat(void **state)
{
	struct fx *fx = fx_of(state);
	const struct rec_result *r;
	size_t i;

	need_sim(fx);
	silent_loss_case(fx, "x-colo-lost-heartbeat");
	/* Confirmed only by the query (DESIGN §2); poll a little. */
	for (i = 0; i < 50; i++) {
		r = colo_status(fx);
		if (strstr(r->ret, "\"reason\":\"request\""))
			break;
		run_until(fx, NULL, NULL, 0.05);
	}
	assert_non_null(strstr(r->ret, "\"mode\":\"none\""));
	assert_non_null(strstr(r->ret, "\"last-mode\":\"primary\""));
}

/* adopt_fd on a negotiated fd: re-probed, READY; and on a hung monitor the
 * probe times out but the connection stays. */
static void test_adopt_fd(void **state)
{
	struct fx *fx = fx_of(state);
	struct qmp_client_adopt a = { .oob = true };
	const struct rec_result *r;
	int fd;

	need_sim(fx);
	vm_add(fx, "a", "colo");
	connect_ready(fx, "a");
	fd = dup(qmp_client_fd(fx->c));
	assert_true(fd >= 0);
	a.version = *qmp_client_version(fx->c);
	/* The old owner goes away; the socket (dup) survives. */
	qmp_client_free(fx->c);
	fx->c = client_for(fx, "a", NULL);
	clear_records(fx);
	assert_int_equal(qmp_client_adopt_fd(fx->c, fd, &a), 0);
	assert_int_equal(qmp_client_adopt_fd(fx->c, fd, &a), -EALREADY);
	assert_int_equal(qmp_client_state(fx->c), QMP_CLIENT_PROBING);
	assert_true(run_until(fx, cond_state, (void *)(intptr_t)QMP_CLIENT_READY, 5));
	assert_int_equal(qmp_client_has_command(fx->c, "x-colo-lost-heartbeat"), 1);
	assert_int_equal(qmp_client_peer_pid(fx->c), fx->sim_pid);
	r = call(fx, "yank", json_pack("{s:[]}", "instances"), QMP_CMD_OOB, 3000);
	assert_non_null(r);
	assert_int_equal(r->kind, QMP_RESULT_RETURN);
}

static void test_adopt_fd_hung(void **state)
{
	struct fx *fx = fx_of(state);
	struct qmp_client_config cfg = {
		.backoff_min_ms = 20, .backoff_max_ms = 200, .probe_timeout_ms = 400,
	};
	struct qmp_client_adopt a = { .oob = true };
	int fd;
	int64_t id;

	need_sim(fx);
	pair(fx);
	connect_ready(fx, "p");
	fd = dup(qmp_client_fd(fx->c));
	qmp_client_free(fx->c);
	fx->c = NULL;
	/* The main loop hangs (flush to the vanished secondary), the monitor
	 * still reads: only OOB gets through. */
	ctl_ok(fx, json_pack("{s:s,s:s}", "cmd", "silent-loss", "name", "s"));
	{
		struct qmp_client *tmp = client_for(fx, "p", &cfg);

		fx->c = tmp;
	}
	/* Hang QEMU's main loop with a stop from "the previous daemon". */
	assert_true(write(fd, "{\"execute\":\"stop\",\"id\":\"old-1\"}\n", 32) == 32);
	clear_records(fx);
	assert_int_equal(qmp_client_adopt_fd(fx->c, fd, &a), 0);
	assert_false(run_until(fx, cond_state, (void *)(intptr_t)QMP_CLIENT_READY, 1.0));
	assert_int_equal(qmp_client_state(fx->c), QMP_CLIENT_PROBING);
	assert_true(has_error(fx, false, "query-commands: no reply within 400 ms"));
	assert_int_equal(qmp_client_execute(fx->c, "query-status", NULL, 0, 1000,
					    on_result, fx), -ENOTCONN);
	id = exec(fx, "yank", json_pack("{s:[]}", "instances"), QMP_CMD_OOB, 3000);
	assert_true(id > 0);
	assert_non_null(wait_result(fx, id, false, 5));
	assert_int_equal(find_result(fx, (uint64_t)id, false)->kind, QMP_RESULT_RETURN);
	assert_int_equal(count_states(fx, QMP_CLIENT_DISCONNECTED), 0);
}

/* Freeing the client cancels pending commands synchronously. */
static void test_free_cancels(void **state)
{
	struct fx *fx = fx_of(state);
	int64_t id1, id2;

	need_sim(fx);
	vm_add(fx, "a", "colo");
	connect_ready(fx, "a");
	fault(fx, "a", "delay", "query-status", 2000);
	id1 = exec(fx, "query-status", NULL, 0, 10000);
	id2 = exec(fx, "query-colo-status", NULL, 0, 10000);
	assert_false(run_until(fx, cond_results, (void *)(intptr_t)1, 0.2));
	qmp_client_free(fx->c);
	fx->c = NULL;
	assert_int_equal(fx->n_results, 2);
	assert_int_equal(find_result(fx, (uint64_t)id1, false)->kind,
			 QMP_RESULT_CANCELLED);
	assert_int_equal(find_result(fx, (uint64_t)id2, false)->kind,
			 QMP_RESULT_CANCELLED);
}

static void on_result_free(struct qmp_client *c, const struct qmp_result *r,
			   void *opaque)
{
	struct fx *fx = opaque;

	record(fx, r, false);
	/* The owner drops the client from inside its own callback. */
	if (fx->c == c) {
		qmp_client_free(c);
		fx->c = NULL;
	}
}

/* Freeing the client from a result callback during a connection loss:
 * every command still gets exactly one callback, nothing else runs. */
static void test_free_inside_callback(void **state)
{
	struct fx *fx = fx_of(state);
	int64_t id1, id2;
	size_t n;

	need_sim(fx);
	vm_add(fx, "a", "colo");
	connect_ready(fx, "a");
	fault(fx, "a", "delay", "query-status", 1000);
	id1 = qmp_client_execute(fx->c, "query-status", NULL, 0, 5000,
				 on_result_free, fx);
	id2 = qmp_client_execute(fx->c, "query-migrate", NULL, 0, 5000,
				 on_result_free, fx);
	assert_true(id1 > 0 && id2 > 0);
	run_until(fx, NULL, NULL, 0.2);
	n = fx->n_states;
	ctl_ok(fx, json_pack("{s:s,s:s}", "cmd", "kill", "name", "a"));
	assert_true(run_until(fx, cond_results, (void *)(intptr_t)2, 5));
	assert_null(fx->c);
	assert_int_equal(find_result(fx, (uint64_t)id1, false)->kind,
			 QMP_RESULT_NOT_DELIVERED);
	assert_int_equal(find_result(fx, (uint64_t)id2, false)->kind,
			 QMP_RESULT_NOT_DELIVERED);
	/* No reconnect attempts, no callbacks after the free. */
	run_until(fx, NULL, NULL, 0.5);
	assert_int_equal(fx->n_results, 2);
	assert_int_equal(fx->n_states, n + 1); /* just the DISCONNECTED */
}

/* Refusals: OOB without oob negotiated; bad arguments. */
static void test_refusals(void **state)
{
	struct fx *fx = fx_of(state);
	struct qmp_client_config cfg = { .no_oob = true };

	need_sim(fx);
	vm_add(fx, "a", "colo");
	fx->c = client_for(fx, "a", &cfg);
	assert_int_equal(qmp_client_start(fx->c), 0);
	assert_true(run_until(fx, cond_state, (void *)(intptr_t)QMP_CLIENT_READY, 10));
	assert_false(qmp_client_oob(fx->c));
	assert_int_equal(exec(fx, "yank", NULL, QMP_CMD_OOB, 1000), -ENOTSUP);
	assert_int_equal(exec(fx, "stop", json_array(), 0, 1000), -EINVAL);
	assert_int_equal(exec(fx, "", NULL, 0, 1000), -EINVAL);
	assert_int_equal(exec(fx, "stop", NULL, 0x80, 1000), -EINVAL);
	assert_non_null(call(fx, "query-status", NULL, 0, 5000));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_connect_and_probe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_cmdset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_colo_build, setup, teardown),
		cmocka_unit_test_setup_teardown(test_several_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delay_timeout_late_reply, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_delay_timeout_late_reply_timerhub, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_drop_before_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop_after_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_adopt_socketpair_torn_line_and_nul,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_non_object, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_id_not_fatal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversize, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_greeting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_negotiation_timeout, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_hang, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inband_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backoff_then_connect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vm_killed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_silent_loss_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_silent_loss_lost_heartbeat, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_adopt_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_adopt_fd_hung, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_cancels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_inside_callback, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("qmp_client", tests, NULL, NULL);
}
