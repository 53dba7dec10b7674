/*
 * test_real_qemu.c: the QMP client against a real qemu-system-x86_64 (-machine none, TCG).
 * The simulator is checked against recorded transcripts; this checks the client against
 * the thing itself: greeting, oob negotiation, the command probe, query-yank, SO_PEERCRED,
 * COLO queries outside COLO, the GenericError of x-colo-lost-heartbeat, OOB commands, one
 * client per monitor socket, and QEMU going away. Every QEMU started is killed by its PID
 * in teardown, also when an assertion fails.
 */
#include "qmp_client.h"
#include "common/loop_wait.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

struct qemu {
	pid_t pid;
	char dir[64];
	char qmp[128];
	char qmp2[128];
};

struct ctx {
	qb_loop_t *loop;
	struct qemu q;
	struct qmp_client *c;
	enum qmp_client_state state;
	char last_reason[256];
	int n_results;
	struct {
		enum qmp_result_kind kind;
		enum qmp_error_class err_class;
		json_t *ret;
	} res[16];
};

static const char *qemu_bin(void)
{
	const char *b = getenv("QEMU_SYSTEM_X86_64");

	return b && *b ? b : "qemu-system-x86_64";
}

static int qemu_start(struct qemu *q, const char *extra)
{
	char *argv[24];
	int n = 0;

	snprintf(q->dir, sizeof(q->dir), "/tmp/colo-rq.XXXXXX");
	if (!mkdtemp(q->dir))
		return -errno;
	snprintf(q->qmp, sizeof(q->qmp), "unix:%s/qmp.sock,server=on,wait=off", q->dir);
	snprintf(q->qmp2, sizeof(q->qmp2), "unix:%s/qmp2.sock,server=on,wait=off", q->dir);
	argv[n++] = (char *)qemu_bin();
	argv[n++] = "-machine";
	argv[n++] = "none";
	argv[n++] = "-nodefaults";
	argv[n++] = "-display";
	argv[n++] = "none";
	argv[n++] = "-qmp";
	argv[n++] = q->qmp;
	argv[n++] = "-qmp";
	argv[n++] = q->qmp2;
	if (extra) {
		argv[n++] = "-incoming";
		argv[n++] = (char *)extra;
	}
	argv[n] = NULL;
	q->pid = fork();
	if (q->pid < 0)
		return -errno;
	if (q->pid == 0) {
		int fd = open("/dev/null", O_RDWR);

		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	/* Keep the socket paths without the QEMU option suffix for the client. */
	snprintf(q->qmp, sizeof(q->qmp), "%s/qmp.sock", q->dir);
	snprintf(q->qmp2, sizeof(q->qmp2), "%s/qmp2.sock", q->dir);
	return 0;
}

static void qemu_stop(struct qemu *q)
{
	char p[160];

	if (q->pid > 0) {
		kill(q->pid, SIGKILL);
		waitpid(q->pid, NULL, 0);
		q->pid = 0;
	}
	if (q->dir[0]) {
		snprintf(p, sizeof(p), "%s/qmp.sock", q->dir);
		unlink(p);
		snprintf(p, sizeof(p), "%s/qmp2.sock", q->dir);
		unlink(p);
		rmdir(q->dir);
		q->dir[0] = '\0';
	}
}

/* ---- running the loop until a condition holds (the shared loop_wait) ---- */

struct ctx_cond {
	struct ctx *x;
	int (*cond)(struct ctx *x, void *arg);
	void *arg;
};

static bool ctx_cond_eval(void *data)
{
	struct ctx_cond *c = data;

	return c->cond(c->x, c->arg) != 0;
}

static int run_until(struct ctx *x, int (*cond)(struct ctx *, void *), void *arg, int secs)
{
	struct ctx_cond c = {x, cond, arg};

	return loop_wait(x->loop, ctx_cond_eval, &c, secs);
}

static int is_state(struct ctx *x, void *arg)
{
	return x->state == *(enum qmp_client_state *)arg;
}

static int n_results_at_least(struct ctx *x, void *arg)
{
	return x->n_results >= *(int *)arg;
}

static int process_gone(struct ctx *x, void *arg)
{
	(void)arg;
	return x->q.pid > 0 && waitpid(x->q.pid, NULL, WNOHANG) == x->q.pid;
}

/* ---- client callbacks ---- */

static void on_state(struct qmp_client *c, enum qmp_client_state old_state,
		     enum qmp_client_state new_state, const char *reason, void *opaque)
{
	struct ctx *x = opaque;

	(void)c;
	(void)old_state;
	x->state = new_state;
	snprintf(x->last_reason, sizeof(x->last_reason), "%s", reason ? reason : "");
}

static void on_result(struct qmp_client *c, const struct qmp_result *r, void *opaque)
{
	struct ctx *x = opaque;

	(void)c;
	if (x->n_results >= (int)(sizeof(x->res) / sizeof(x->res[0])))
		return;
	x->res[x->n_results].kind = r->kind;
	x->res[x->n_results].err_class = r->err_class;
	x->res[x->n_results].ret = r->ret ? json_incref(r->ret) : NULL;
	x->n_results++;
}

static const struct qmp_client_callbacks callbacks = {
	.on_state = on_state,
};

static struct qmp_client *client_for(struct ctx *x, const char *path)
{
	struct qmp_client_config cfg = {
		.path = path,
		.backoff_min_ms = 20,
		.backoff_max_ms = 200,
		.greeting_timeout_ms = 10000,
		.negotiate_timeout_ms = 10000,
		.probe_timeout_ms = 10000,
	};
	return qmp_client_new(x->loop, &cfg, &callbacks, x);
}

static int setup_with(void **state, const char *incoming)
{
	struct ctx *x = calloc(1, sizeof(*x));
	enum qmp_client_state ready = QMP_CLIENT_READY;

	assert_non_null(x);
	x->loop = qb_loop_create();
	assert_non_null(x->loop);
	*state = x;
	if (qemu_start(&x->q, incoming) < 0)
		return -1;
	x->c = client_for(x, x->q.qmp);
	assert_non_null(x->c);
	assert_int_equal(qmp_client_start(x->c), 0);
	/* TCG start-up on a loaded 2-core machine can take seconds. */
	if (!run_until(x, is_state, &ready, 30)) {
		print_error("QEMU never became READY: last state %s (%s)\n",
			    qmp_client_state_to_str(x->state), x->last_reason);
		return -1;
	}
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, NULL);
}

static int setup_incoming(void **state)
{
	return setup_with(state, "defer");
}

static int teardown(void **state)
{
	struct ctx *x = *state;

	if (!x)
		return 0;
	qmp_client_free(x->c);
	qemu_stop(&x->q);
	for (int i = 0; i < x->n_results; i++)
		json_decref(x->res[i].ret);
	qb_loop_destroy(x->loop);
	free(x);
	return 0;
}

/* Sends one command and runs the loop until its result arrives. */
static int exec_wait(struct ctx *x, const char *name, json_t *args, unsigned flags)
{
	int want = x->n_results + 1;
	int64_t id = qmp_client_execute(x->c, name, args, flags, 20000, on_result, x);

	assert_true(id > 0);
	assert_true(run_until(x, n_results_at_least, &want, 30));
	return want - 1;
}

static void test_greeting_oob_and_probe(void **state)
{
	struct ctx *x = *state;
	const struct qmp_version *v = qmp_client_version(x->c);

	assert_non_null(v);
	assert_true(v->major >= 7);
	assert_true(qmp_client_oob(x->c));
	assert_int_equal(qmp_client_has_command(x->c, "x-colo-lost-heartbeat"), 1);
	assert_int_equal(qmp_client_has_command(x->c, "query-colo-status"), 1);
	assert_int_equal(qmp_client_has_command(x->c, "yank"), 1);
	assert_int_equal(qmp_client_has_command(x->c, "no-such-command-here"), 0);
	assert_int_equal(qmp_client_peer_pid(x->c), x->q.pid);
}

static void test_yank_list_never_selects_monitors(void **state)
{
	struct ctx *x = *state;
	const struct qmp_yank_list *all = qmp_client_yank(x->c);
	struct qmp_yank_list peer;
	json_t *args;
	size_t i;
	int monitors = 0;

	assert_non_null(all);
	for (i = 0; i < all->n; i++)
		if (all->v[i].type == QMP_YANK_CHARDEV &&
		    qmp_yank_is_monitor_chardev(all->v[i].name))
			monitors++;
	/* Both -qmp monitors are yank instances in QEMU 7.2: exactly what must be spared. */
	assert_int_equal(monitors, 2);
	assert_int_equal(qmp_yank_select_peer(all, NULL, 0, &peer), 0);
	for (i = 0; i < peer.n; i++)
		assert_false(peer.v[i].type == QMP_YANK_CHARDEV &&
			     qmp_yank_is_monitor_chardev(peer.v[i].name));
	/* What is selected must be accepted by QEMU's own yank, over OOB. */
	args = qmp_yank_list_to_args(&peer);
	assert_non_null(args);
	qmp_yank_list_free(&peer);
	int r = exec_wait(x, "yank", args, QMP_CMD_OOB);
	assert_int_equal(x->res[r].kind, QMP_RESULT_RETURN);
	assert_int_equal(qmp_client_state(x->c), QMP_CLIENT_READY);
}

static void test_colo_status_outside_colo(void **state)
{
	struct ctx *x = *state;
	struct qmp_colo_status cs;
	struct qmp_msg_error err;
	int r = exec_wait(x, "query-colo-status", NULL, 0);

	assert_int_equal(x->res[r].kind, QMP_RESULT_RETURN);
	assert_int_equal(qmp_colo_status_parse(x->res[r].ret, &cs, &err), 0);
	assert_int_equal(cs.mode, QMP_COLO_MODE_NONE);
	assert_int_equal(cs.last_mode, QMP_COLO_MODE_NONE);
	assert_int_equal(cs.reason, QMP_COLO_REASON_NONE);
}

static void test_lost_heartbeat_outside_colo_is_generic_error(void **state)
{
	struct ctx *x = *state;
	int r = exec_wait(x, "x-colo-lost-heartbeat", NULL, 0);

	assert_int_equal(x->res[r].kind, QMP_RESULT_ERROR);
	assert_int_equal(x->res[r].err_class, QMP_ERROR_CLASS_GENERIC);
	/* Resending is safe: the same answer, and the monitor is still usable. */
	r = exec_wait(x, "x-colo-lost-heartbeat", NULL, 0);
	assert_int_equal(x->res[r].err_class, QMP_ERROR_CLASS_GENERIC);
	r = exec_wait(x, "query-status", NULL, 0);
	assert_int_equal(x->res[r].kind, QMP_RESULT_RETURN);
}

static void test_query_status_running(void **state)
{
	struct ctx *x = *state;
	struct qmp_vm_status vs;
	struct qmp_msg_error err;
	int r = exec_wait(x, "query-status", NULL, 0);

	assert_int_equal(x->res[r].kind, QMP_RESULT_RETURN);
	assert_int_equal(qmp_vm_status_parse(x->res[r].ret, &vs, &err), 0);
	assert_int_equal(vs.status, QMP_RUN_STATE_RUNNING);
	assert_true(vs.running);
}

static void test_incoming_defer_is_inmigrate(void **state)
{
	struct ctx *x = *state;
	struct qmp_vm_status vs;
	struct qmp_colo_status cs;
	struct qmp_msg_error err;
	int r = exec_wait(x, "query-status", NULL, 0);

	assert_int_equal(qmp_vm_status_parse(x->res[r].ret, &vs, &err), 0);
	assert_int_equal(vs.status, QMP_RUN_STATE_INMIGRATE);
	assert_false(vs.running);
	r = exec_wait(x, "query-colo-status", NULL, 0);
	assert_int_equal(qmp_colo_status_parse(x->res[r].ret, &cs, &err), 0);
	assert_int_equal(cs.mode, QMP_COLO_MODE_NONE);
}

static void test_second_monitor_is_independent(void **state)
{
	struct ctx *x = *state;
	struct ctx y = {.loop = x->loop, .q = x->q};
	enum qmp_client_state ready = QMP_CLIENT_READY;

	y.c = client_for(&y, x->q.qmp2);
	assert_non_null(y.c);
	assert_int_equal(qmp_client_start(y.c), 0);
	assert_true(run_until(&y, is_state, &ready, 30));
	assert_int_equal(qmp_client_peer_pid(y.c), x->q.pid);
	/* The first connection is unaffected. */
	int r = exec_wait(x, "query-status", NULL, 0);
	assert_int_equal(x->res[r].kind, QMP_RESULT_RETURN);
	qmp_client_free(y.c);
}

static void test_quit_then_connection_lost(void **state)
{
	struct ctx *x = *state;
	enum qmp_client_state down = QMP_CLIENT_DISCONNECTED;
	int r = exec_wait(x, "quit", NULL, 0);

	assert_int_equal(x->res[r].kind, QMP_RESULT_RETURN);
	assert_true(run_until(x, is_state, &down, 30));
	assert_true(run_until(x, process_gone, NULL, 30));
	x->q.pid = 0;
	assert_int_equal(qmp_client_execute(x->c, "query-status", NULL, 0, 1000, on_result, x),
			 -ENOTCONN);
}

static void test_kill_fails_pending_as_not_delivered(void **state)
{
	struct ctx *x = *state;
	enum qmp_client_state down = QMP_CLIENT_DISCONNECTED;
	int want;

	/* Stop QEMU's process first so the command cannot be answered, then kill it:
	 * the command is pending when the connection drops. */
	assert_int_equal(kill(x->q.pid, SIGSTOP), 0);
	int64_t id = qmp_client_execute(x->c, "query-status", NULL, 0, 60000, on_result, x);
	assert_true(id > 0);
	want = x->n_results;
	run_until(x, n_results_at_least, &(int){want + 1}, 1); /* flush the write */
	assert_int_equal(x->n_results, want);
	assert_int_equal(kill(x->q.pid, SIGKILL), 0);
	assert_true(run_until(x, is_state, &down, 30));
	assert_true(run_until(x, n_results_at_least, &(int){want + 1}, 30));
	assert_int_equal(x->res[want].kind, QMP_RESULT_NOT_DELIVERED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_greeting_oob_and_probe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_yank_list_never_selects_monitors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_colo_status_outside_colo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lost_heartbeat_outside_colo_is_generic_error,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_status_running, setup, teardown),
		cmocka_unit_test_setup_teardown(test_incoming_defer_is_inmigrate, setup_incoming,
						teardown),
		cmocka_unit_test_setup_teardown(test_second_monitor_is_independent, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_quit_then_connection_lost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill_fails_pending_as_not_delivered, setup,
						teardown),
	};
	const char *bin = qemu_bin();
	char which[512];

	snprintf(which, sizeof(which), "command -v '%s' >/dev/null 2>&1", bin);
	if (system(which) != 0) {
		const char *req = getenv("COLO_REQUIRE_REAL");

		if (req && strcmp(req, "1") == 0) {
			printf("1..1\nnot ok 1 - %s not found (COLO_REQUIRE_REAL=1)\n", bin);
			return 1;
		}
		printf("1..0 # SKIP %s not installed\n", bin);
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("real_qemu", tests, NULL, NULL);
}
