/*
 * ctl_main.c: colo-arbiterctl, the operator's client of the control socket
 * of colo-arbiterd (protocol in control.h, text in status_render.h).
 *
 * One connection, one request, one reply (watch: then events until
 * interrupted). It decides nothing: the daemon's gates decide, this program
 * only asks and reports. Exit codes (also in --help and the man page):
 * 0 ok, 1 the daemon returned an error, 2 usage error, 3 cannot connect,
 * 4 refused by the safety gate (SafetyRefused), 5 timeout.
 */
#include "control.h"
#include "status_render.h"

#include "compiler.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef CTL_VERSION
#define CTL_VERSION "unknown"
#endif

#define PROG "colo-arbiterctl"

enum ctl_exit {
	CTL_EXIT_OK = 0,
	CTL_EXIT_ERROR = 1,     /* the daemon returned an error */
	CTL_EXIT_USAGE = 2,
	CTL_EXIT_CONNECT = 3,   /* cannot connect / connection lost */
	CTL_EXIT_REFUSED = 4,   /* SafetyRefused */
	CTL_EXIT_TIMEOUT = 5,
};

#define CTL_TIMEOUT_DEFAULT_S 10.0
#define CTL_MAX_LINE ((size_t)64 * 1024 * 1024) /* a reply, not a request */
#define CTL_REQUEST_ID 1

struct ctl_opts {
	const char *socket;
	double timeout_s;
	bool json;
};

struct ctl_conn {
	int fd;
	char *buf;
	size_t len, cap;
	int64_t deadline_ms; /* CLOCK_MONOTONIC; <0: none */
};

static volatile sig_atomic_t ctl_interrupted;
/* watch: SIGINT/SIGTERM are blocked from the flag check until ppoll()
 * unblocks them atomically, so a signal cannot slip in between and leave
 * the wait blocked; they are unblocked again while printing. */
static bool ctl_sig_dance;
static sigset_t ctl_sigs, ctl_wait_mask;
static char **ctl_argv; /* of the command being parsed, for messages */

static const char usage_text[] =
"Usage: " PROG " [--socket PATH] [--timeout S] COMMAND [ARGS]\n"
"\n"
"Talk to colo-arbiterd, the COLO failover arbiter, over its control socket.\n"
"\n"
"Commands:\n"
"  status [--json]            what each VM pair is doing and why\n"
"  vm-add NAME --qmp PATH --role primary|secondary --peer-node ID\n"
"         [--pre-failover JSON]... [--post-failover JSON]...\n"
"         [--yank-exclude ID]...\n"
"                             add the local side of a VM pair\n"
"  vm-remove NAME             stop arbitrating a VM (QEMU is left alone)\n"
"  failover VM [--force [--yes]]\n"
"                             make the local side of VM run alone, through\n"
"                             the daemon's safety gates; --force bypasses\n"
"                             them (asks for confirmation, or needs --yes)\n"
"  watch [--json]             print status changes and decisions as they\n"
"                             happen, until interrupted\n"
"\n"
"Options:\n"
"  -s, --socket PATH   control socket (default " CONTROL_SOCKET_DEFAULT ")\n"
"  -t, --timeout S     seconds to wait for the daemon's reply (default 10)\n"
"  -j, --json          print the daemon's raw JSON reply (status, watch)\n"
"  -h, --help          this text\n"
"  -V, --version       program version\n"
"\n"
"Exit status:\n"
"  0  success\n"
"  1  the daemon returned an error\n"
"  2  usage error (bad command line, or --force not confirmed)\n"
"  3  cannot connect to the daemon (or the connection was lost or refused)\n"
"  4  refused by the daemon's safety gate (error class SafetyRefused)\n"
"  5  timeout waiting for the daemon\n";

static void die_usage(const char *fmt, ...) ATTR_PRINTF(1, 2);

static void die_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '" PROG " --help' for more information.\n");
	exit(CTL_EXIT_USAGE);
}

static void errmsg(const char *fmt, ...) ATTR_PRINTF(1, 2);

static void errmsg(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_signal(int sig)
{
	(void)sig;
	ctl_interrupted = 1;
}

/* ------------------------------------------------------------ socket */

static int ctl_connect(struct ctl_conn *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(sa.sun_path)) {
		errmsg("socket path too long: %s", path);
		return CTL_EXIT_USAGE;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		errmsg("socket: %s", strerror(errno));
		return CTL_EXIT_CONNECT;
	}
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		errmsg("cannot connect to %s: %s%s", path, strerror(e),
		       e == ENOENT || e == ECONNREFUSED ?
		       " (is colo-arbiterd running?)" :
		       e == EACCES ? " (root or the control group required)" : "");
		close(c->fd);
		c->fd = -1;
		return CTL_EXIT_CONNECT;
	}
	return CTL_EXIT_OK;
}

/*
 * Next line from the daemon (malloc'd, without "\n"). 0, or
 * -ETIMEDOUT, -EINTR (signal), -ECONNRESET (EOF), -EMSGSIZE, -errno.
 */
static int ctl_read_line(struct ctl_conn *c, char **line)
{
	for (;;) {
		char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		struct timespec ts, *tsp = NULL;
		ssize_t n;

		if (nl) {
			size_t l = (size_t)(nl - c->buf);

			*line = malloc(l + 1);
			if (!*line)
				return -ENOMEM;
			memcpy(*line, c->buf, l);
			(*line)[l] = '\0';
			memmove(c->buf, nl + 1, c->len - l - 1);
			c->len -= l + 1;
			return 0;
		}
		if (c->len >= CTL_MAX_LINE)
			return -EMSGSIZE;
		if (c->deadline_ms >= 0) {
			int64_t left = c->deadline_ms - mono_ms();

			if (left <= 0)
				return -ETIMEDOUT;
			ts.tv_sec = left / 1000;
			ts.tv_nsec = (left % 1000) * 1000000;
			tsp = &ts;
		}
		if (ctl_sig_dance)
			sigprocmask(SIG_BLOCK, &ctl_sigs, NULL);
		if (ctl_interrupted) {
			if (ctl_sig_dance)
				sigprocmask(SIG_SETMASK, &ctl_wait_mask, NULL);
			return -EINTR;
		}
		n = ppoll(&pfd, 1, tsp, ctl_sig_dance ? &ctl_wait_mask : NULL);
		if (ctl_sig_dance) {
			int e = errno;

			sigprocmask(SIG_SETMASK, &ctl_wait_mask, NULL);
			errno = e;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			continue; /* the deadline check above decides */
		if (c->cap - c->len < 4096) {
			size_t cap = c->cap ? c->cap * 2 : 8192;
			char *p = realloc(c->buf, cap);

			if (!p)
				return -ENOMEM;
			c->buf = p;
			c->cap = cap;
		}
		n = read(c->fd, c->buf + c->len, c->cap - c->len);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		c->len += (size_t)n;
	}
}

static int ctl_read_json(struct ctl_conn *c, const struct ctl_opts *o,
			 json_t **msg)
{
	json_error_t jerr;
	char *line = NULL;
	int r = ctl_read_line(c, &line);

	if (r == -ETIMEDOUT) {
		errmsg("no reply from the daemon within %g s", o->timeout_s);
		return CTL_EXIT_TIMEOUT;
	}
	if (r == -EINTR)
		return -1; /* interrupted: the caller decides */
	if (r == -ECONNRESET) {
		errmsg("the daemon closed the connection");
		return CTL_EXIT_CONNECT;
	}
	if (r < 0) {
		errmsg("reading from %s: %s", o->socket, strerror(-r));
		return CTL_EXIT_CONNECT;
	}
	*msg = json_loads(line, 0, &jerr);
	free(line);
	if (!json_is_object(*msg)) {
		json_decref(*msg);
		*msg = NULL;
		errmsg("protocol error: the daemon sent a line that is not a JSON object (%s)",
		       jerr.text);
		return CTL_EXIT_ERROR;
	}
	return CTL_EXIT_OK;
}

static int ctl_send(struct ctl_conn *c, const struct ctl_opts *o,
		    const char *cmd, json_t *args)
{
	json_t *req = json_pack("{s:s,s:O,s:i}", "execute", cmd, "arguments",
				args, "id", CTL_REQUEST_ID);
	char *text = req ? json_dumps(req, JSON_COMPACT) : NULL;
	size_t len, off = 0;

	json_decref(req);
	if (!text) {
		errmsg("out of memory");
		return CTL_EXIT_ERROR;
	}
	len = strlen(text);
	text[len++] = '\n'; /* overwrites the NUL: text is sent by length */
	while (off < len) {
		ssize_t n = send(c->fd, text + off, len - off, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			errmsg("sending to %s: %s", o->socket, strerror(errno));
			free(text);
			return CTL_EXIT_CONNECT;
		}
		off += (size_t)n;
	}
	free(text);
	return CTL_EXIT_OK;
}

/* Reads the greeting: a refused client gets an error object instead. */
static int ctl_greeting(struct ctl_conn *c, const struct ctl_opts *o)
{
	json_t *m = NULL;
	json_t *err;
	int r = ctl_read_json(c, o, &m);

	if (r < 0)
		return CTL_EXIT_CONNECT;
	if (r)
		return r;
	err = json_object_get(m, "error");
	if (err) {
		const char *desc = json_string_value(json_object_get(err, "desc"));

		errmsg("the daemon refused the connection: %s",
		       desc ? desc : "no reason given");
		json_decref(m);
		return CTL_EXIT_CONNECT;
	}
	if (!json_is_object(json_object_get(m, "colo-arbiter"))) {
		errmsg("protocol error: %s does not greet like colo-arbiterd",
		       o->socket);
		json_decref(m);
		return CTL_EXIT_CONNECT;
	}
	json_decref(m);
	return CTL_EXIT_OK;
}

static bool id_is_ours(const json_t *m)
{
	const json_t *id = json_object_get(m, "id");

	return json_is_integer(id) && json_integer_value(id) == CTL_REQUEST_ID;
}

/*
 * Connects, sends one request, waits for its reply (events are skipped).
 * On success *ret is the "return" value (new reference). The connection
 * stays open in *c for watch.
 */
static int ctl_call(struct ctl_conn *c, const struct ctl_opts *o,
		    const char *cmd, json_t *args, json_t **ret)
{
	int r;

	c->fd = -1;
	c->deadline_ms = mono_ms() + (int64_t)(o->timeout_s * 1000.0);
	r = ctl_connect(c, o->socket);
	if (r)
		return r;
	r = ctl_greeting(c, o);
	if (r)
		return r;
	r = ctl_send(c, o, cmd, args);
	if (r)
		return r;
	for (;;) {
		json_t *m = NULL;
		json_t *err;

		r = ctl_read_json(c, o, &m);
		if (r < 0)
			return CTL_EXIT_CONNECT;
		if (r)
			return r;
		if (json_object_get(m, "event") || !id_is_ours(m)) {
			json_decref(m);
			continue;
		}
		err = json_object_get(m, "error");
		if (err) {
			const char *cls = json_string_value(json_object_get(err, "class"));
			const char *desc = json_string_value(json_object_get(err, "desc"));

			cls = cls ? cls : "GenericError";
			if (!strcmp(cls, CONTROL_ERR_SAFETY)) {
				errmsg("%s refused by the safety gate: %s", cmd,
				       desc ? desc : "no reason given");
				r = CTL_EXIT_REFUSED;
			} else {
				errmsg("%s failed: %s (%s)", cmd,
				       desc ? desc : "no reason given", cls);
				r = CTL_EXIT_ERROR;
			}
			json_decref(m);
			return r;
		}
		if (!json_object_get(m, "return")) {
			errmsg("protocol error: reply without return or error");
			json_decref(m);
			return CTL_EXIT_ERROR;
		}
		*ret = json_incref(json_object_get(m, "return"));
		json_decref(m);
		return CTL_EXIT_OK;
	}
}

static void ctl_close(struct ctl_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
	c->len = c->cap = 0;
}

static int print_out(const char *text)
{
	if (fputs(text, stdout) == EOF || fflush(stdout) == EOF) {
		errmsg("writing output: %s", strerror(errno));
		return CTL_EXIT_ERROR;
	}
	return CTL_EXIT_OK;
}

static int print_json(const json_t *j, size_t flags)
{
	char *text = json_dumps(j, flags | JSON_ENCODE_ANY);
	int r;

	if (!text) {
		errmsg("out of memory");
		return CTL_EXIT_ERROR;
	}
	r = print_out(text);
	free(text);
	return r ? r : print_out("\n");
}

/* Runs one request and prints the return (JSON, or scalar fields). */
static int run_simple(const struct ctl_opts *o, const char *cmd, json_t *args,
		      const char *done)
{
	struct ctl_conn c = { .fd = -1 };
	json_t *ret = NULL;
	int r = ctl_call(&c, o, cmd, args, &ret);

	ctl_close(&c);
	if (r)
		return r;
	if (o->json) {
		r = print_json(ret, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	} else {
		const char *key;
		json_t *v;

		r = print_out(done);
		if (!r && json_is_object(ret)) {
			json_object_foreach(ret, key, v) {
				char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

				if (json_is_string(v))
					printf("  %s: %s\n", key, json_string_value(v));
				else if (t)
					printf("  %s: %s\n", key, t);
				free(t);
			}
			if (fflush(stdout) == EOF)
				r = CTL_EXIT_ERROR;
		}
	}
	json_decref(ret);
	return r;
}

/* ------------------------------------------------------- arguments */

enum {
	OPT_QMP = 256,
	OPT_ROLE,
	OPT_PEER,
	OPT_PRE,
	OPT_POST,
	OPT_YANK,
	OPT_FORCE,
	OPT_YES,
};

/* Options every command accepts, besides its own. */
#define CTL_COMMON_LONGOPTS \
	{ "socket", required_argument, NULL, 's' }, \
	{ "timeout", required_argument, NULL, 't' }, \
	{ "help", no_argument, NULL, 'h' }

static void parse_timeout(struct ctl_opts *o, const char *arg)
{
	char *end;
	double t;

	errno = 0;
	t = strtod(arg, &end);
	if (errno || end == arg || *end || !(t > 0) || t > 86400.0)
		die_usage("--timeout: '%s' is not a number of seconds in (0, 86400]", arg);
	o->timeout_s = t;
}

static void common_opt(struct ctl_opts *o, int ch, const char *cmd)
{
	switch (ch) {
	case 's':
		if (!optarg[0])
			die_usage("--socket: empty path");
		o->socket = optarg;
		return;
	case 't':
		parse_timeout(o, optarg);
		return;
	case 'h':
		fputs(usage_text, stdout);
		exit(CTL_EXIT_OK);
	default:
		if (optopt > 0 && optopt < 256)
			die_usage("%s: invalid option or missing argument: '-%c'",
				  cmd, optopt);
		die_usage("%s: invalid option or missing argument: '%s'", cmd,
			  ctl_argv[optind - 1]);
	}
}

/* A pre/post failover command: one QMP command object. */
static json_t *parse_qmp_cmd(const char *opt, const char *arg)
{
	json_error_t jerr;
	json_t *j = json_loads(arg, 0, &jerr);
	json_t *exe;

	if (!j)
		die_usage("%s: invalid JSON at column %d: %s", opt, jerr.column,
			  jerr.text);
	exe = json_object_get(j, "execute");
	if (!json_is_object(j) || !json_is_string(exe) ||
	    !json_string_length(exe))
		die_usage("%s: expected a QMP command object like "
			  "'{\"execute\":\"nbd-server-stop\"}', got %s", opt, arg);
	return j;
}

static int cmd_status(struct ctl_opts *o, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' }, CTL_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_conn c = { .fd = -1 };
	json_t *args, *ret = NULL;
	char *text = NULL;
	int ch, r;

	while ((ch = getopt_long(argc, argv, "js:t:h", lo, NULL)) != -1) {
		if (ch == 'j')
			o->json = true;
		else
			common_opt(o, ch, "status");
	}
	if (optind != argc)
		die_usage("status: unexpected argument '%s'", argv[optind]);
	args = json_object();
	r = ctl_call(&c, o, "status", args, &ret);
	json_decref(args);
	ctl_close(&c);
	if (r)
		return r;
	if (o->json) {
		r = print_json(ret, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	} else if (status_render(ret, wall_ms(), &text) == 0) {
		r = print_out(text);
		free(text);
	} else {
		errmsg("protocol error: the status reply is not an object");
		r = CTL_EXIT_ERROR;
	}
	json_decref(ret);
	return r;
}

static uint32_t parse_nodeid(const char *arg)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (arg[0] == '-' || arg[0] == '+')
		die_usage("--peer-node: '%s' is not a corosync node id", arg);
	v = strtoull(arg, &end, 10);
	if (errno || end == arg || *end || v == 0 || v > UINT32_MAX)
		die_usage("--peer-node: '%s' is not a corosync node id (1..4294967295)",
			  arg);
	return (uint32_t)v;
}

static int cmd_vm_add(struct ctl_opts *o, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "qmp", required_argument, NULL, OPT_QMP },
		{ "role", required_argument, NULL, OPT_ROLE },
		{ "peer-node", required_argument, NULL, OPT_PEER },
		{ "pre-failover", required_argument, NULL, OPT_PRE },
		{ "post-failover", required_argument, NULL, OPT_POST },
		{ "yank-exclude", required_argument, NULL, OPT_YANK },
		{ "json", no_argument, NULL, 'j' },
		CTL_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	const char *qmp = NULL, *role = NULL, *name;
	uint32_t peer = 0;
	json_t *pre = json_array(), *post = json_array(), *args;
	json_t *yank = json_array();
	char done[160];
	int ch, r;

	while ((ch = getopt_long(argc, argv, "js:t:h", lo, NULL)) != -1) {
		switch (ch) {
		case OPT_QMP:
			if (!optarg[0])
				die_usage("--qmp: empty path");
			qmp = optarg;
			break;
		case OPT_ROLE:
			if (strcmp(optarg, "primary") && strcmp(optarg, "secondary"))
				die_usage("--role: '%s': expected primary or secondary",
					  optarg);
			role = optarg;
			break;
		case OPT_PEER:
			peer = parse_nodeid(optarg);
			break;
		case OPT_PRE:
			json_array_append_new(pre, parse_qmp_cmd("--pre-failover", optarg));
			break;
		case OPT_POST:
			json_array_append_new(post, parse_qmp_cmd("--post-failover", optarg));
			break;
		case OPT_YANK:
			if (!optarg[0])
				die_usage("--yank-exclude: empty yank instance name");
			json_array_append_new(yank, json_string(optarg));
			break;
		case 'j':
			o->json = true;
			break;
		default:
			common_opt(o, ch, "vm-add");
		}
	}
	if (optind >= argc)
		die_usage("vm-add: missing VM name");
	name = argv[optind++];
	if (optind != argc)
		die_usage("vm-add: unexpected argument '%s'", argv[optind]);
	if (!name[0])
		die_usage("vm-add: empty VM name");
	if (!qmp)
		die_usage("vm-add: --qmp PATH is required");
	if (!role)
		die_usage("vm-add: --role primary|secondary is required");
	if (!peer)
		die_usage("vm-add: --peer-node ID is required");
	/* The shape of config_vm_to_json(): the keys of a VM file. */
	args = json_pack("{s:s,s:s,s:s,s:I,s:o,s:o}", "name", name, "qmp", qmp,
			 "role", role, "peer-node", (json_int_t)peer,
			 "pre-failover", pre, "post-failover", post);
	if (args && json_array_size(yank))
		json_object_set(args, "yank-exclude", yank);
	json_decref(yank);
	if (!args)
		die_usage("vm-add: arguments are not valid UTF-8");
	snprintf(done, sizeof(done), "VM %s added (%s here, peer on node %" PRIu32 ").\n",
		 name, role, peer);
	r = run_simple(o, "vm-add", args, done);
	json_decref(args);
	return r;
}

static int cmd_vm_remove(struct ctl_opts *o, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' }, CTL_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	char done[128];
	json_t *args;
	int ch, r;

	while ((ch = getopt_long(argc, argv, "js:t:h", lo, NULL)) != -1) {
		if (ch == 'j')
			o->json = true;
		else
			common_opt(o, ch, "vm-remove");
	}
	if (optind >= argc || !argv[optind][0])
		die_usage("vm-remove: missing VM name");
	if (optind + 1 != argc)
		die_usage("vm-remove: unexpected argument '%s'", argv[optind + 1]);
	args = json_pack("{s:s}", "name", argv[optind]);
	if (!args)
		die_usage("vm-remove: the VM name is not valid UTF-8");
	snprintf(done, sizeof(done), "VM %s removed.\n", argv[optind]);
	r = run_simple(o, "vm-remove", args, done);
	json_decref(args);
	return r;
}

/* --force without --yes: the operator types "yes" on a terminal. */
static bool confirm_force(const char *vm)
{
	char line[64];

	if (!isatty(STDIN_FILENO))
		die_usage("failover --force: stdin is not a terminal: add --yes to confirm");
	fprintf(stderr, "Type 'yes' to force the failover of %s: ", vm);
	fflush(stderr);
	if (!fgets(line, sizeof(line), stdin))
		return false;
	line[strcspn(line, "\r\n")] = '\0';
	return !strcmp(line, "yes");
}

static int cmd_failover(struct ctl_opts *o, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "yes", no_argument, NULL, OPT_YES },
		{ "json", no_argument, NULL, 'j' },
		CTL_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	bool force = false, yes = false;
	const char *vm;
	char done[160];
	json_t *args;
	int ch, r;

	while ((ch = getopt_long(argc, argv, "jys:t:h", lo, NULL)) != -1) {
		switch (ch) {
		case OPT_FORCE:
			force = true;
			break;
		case OPT_YES:
		case 'y':
			yes = true;
			break;
		case 'j':
			o->json = true;
			break;
		default:
			common_opt(o, ch, "failover");
		}
	}
	if (optind >= argc || !argv[optind][0])
		die_usage("failover: missing VM name");
	vm = argv[optind];
	if (optind + 1 != argc)
		die_usage("failover: unexpected argument '%s'", argv[optind + 1]);
	if (yes && !force)
		die_usage("failover: --yes only confirms --force");
	if (force) {
		fprintf(stderr,
			"WARNING: --force BYPASSES THE SAFETY GATES (quorum, fencing, epochs).\n"
			"If the other side of %s is still running, both copies will run\n"
			"alone and diverge (split brain), and data written on one of them\n"
			"will be lost. Use it only when you know the other side is down.\n",
			vm);
		if (!yes && !confirm_force(vm)) {
			errmsg("failover of %s not confirmed: nothing done", vm);
			return CTL_EXIT_USAGE;
		}
	}
	args = json_pack("{s:s,s:b}", "name", vm, "force", force);
	if (!args)
		die_usage("failover: the VM name is not valid UTF-8");
	snprintf(done, sizeof(done), "Failover of %s requested%s.\n", vm,
		 force ? " (forced)" : "");
	r = run_simple(o, "failover", args, done);
	json_decref(args);
	return r;
}

static int cmd_watch(struct ctl_opts *o, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' }, CTL_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_conn c = { .fd = -1 };
	struct sigaction sa = { .sa_handler = on_signal };
	json_t *args, *ret = NULL;
	int ch, r;

	while ((ch = getopt_long(argc, argv, "js:t:h", lo, NULL)) != -1) {
		if (ch == 'j')
			o->json = true;
		else
			common_opt(o, ch, "watch");
	}
	if (optind != argc)
		die_usage("watch: unexpected argument '%s'", argv[optind]);
	/* Interrupting a watch is the normal way to end it: exit 0. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigemptyset(&ctl_sigs);
	sigaddset(&ctl_sigs, SIGINT);
	sigaddset(&ctl_sigs, SIGTERM);
	sigprocmask(SIG_SETMASK, NULL, &ctl_wait_mask);
	sigdelset(&ctl_wait_mask, SIGINT);
	sigdelset(&ctl_wait_mask, SIGTERM);
	ctl_sig_dance = true;
	args = json_object();
	r = ctl_call(&c, o, "watch", args, &ret);
	json_decref(args);
	json_decref(ret);
	if (r) {
		ctl_close(&c);
		return ctl_interrupted ? CTL_EXIT_OK : r;
	}
	c.deadline_ms = -1; /* events come when they come */
	while (!r) {
		json_t *m = NULL;
		char *text = NULL;

		r = ctl_read_json(&c, o, &m);
		if (r < 0) {
			r = CTL_EXIT_OK; /* interrupted */
			break;
		}
		if (r)
			break;
		if (!json_object_get(m, "event")) {
			json_decref(m);
			continue;
		}
		if (o->json)
			r = print_json(m, JSON_COMPACT | JSON_PRESERVE_ORDER);
		else if (status_render_event(m, &text) == 0)
			r = print_out(text);
		free(text);
		json_decref(m);
	}
	ctl_close(&c);
	return r;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "version", no_argument, NULL, 'V' },
		{ "json", no_argument, NULL, 'j' },
		CTL_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_opts o = {
		.socket = CONTROL_SOCKET_DEFAULT,
		.timeout_s = CTL_TIMEOUT_DEFAULT_S,
	};
	const char *cmd;
	int ch;

	opterr = 0; /* our own messages, then exit 2 */
	ctl_argv = argv;
	while ((ch = getopt_long(argc, argv, "+Vjs:t:h", lo, NULL)) != -1) {
		switch (ch) {
		case 'V':
			printf(PROG " " CTL_VERSION "\n");
			return CTL_EXIT_OK;
		case 'j':
			o.json = true;
			break;
		default:
			common_opt(&o, ch, PROG);
		}
	}
	if (optind >= argc)
		die_usage("missing command");
	cmd = argv[optind];
	argc -= optind;
	argv += optind;
	ctl_argv = argv;
	optind = 0; /* full getopt reset: each command parses its own */
	if (!strcmp(cmd, "status"))
		return cmd_status(&o, argc, argv);
	if (!strcmp(cmd, "vm-add"))
		return cmd_vm_add(&o, argc, argv);
	if (!strcmp(cmd, "vm-remove"))
		return cmd_vm_remove(&o, argc, argv);
	if (!strcmp(cmd, "failover"))
		return cmd_failover(&o, argc, argv);
	if (!strcmp(cmd, "watch"))
		return cmd_watch(&o, argc, argv);
	if (!strcmp(cmd, "help"))
		return fputs(usage_text, stdout) == EOF ? CTL_EXIT_ERROR : CTL_EXIT_OK;
	die_usage("unknown command '%s'", cmd);
}
