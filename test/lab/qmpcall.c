/*
 * qmpcall.c: a minimal blocking QMP client for lab scripts: connects to a monitor socket,
 * negotiates (with oob when offered), sends each command given on the command line in
 * order and prints every reply, and the events that arrive meanwhile, as one JSON line
 * each on stdout. A test tool only: it shares no code with the arbiter's own client, so
 * scripts that check the arbiter against QEMU do not check it against itself.
 *
 *   qmpcall [-t SECS] [-e EVENT] [-T] SOCKET CMD...
 *     CMD is a command name ("query-status") or a whole JSON request
 *     ('{"execute":"migrate","arguments":{...}}', or '{"exec-oob":"yank",...}').
 *     -t  per-reply timeout (default 10 s); exit 3 on timeout
 *     -e  after the commands, wait (up to -t) until event EVENT arrives
 *     -T  print "us BYTES" on stderr for each command: microseconds from its write to its
 *         reply, and the bytes of its line (test/bench/bench_qmp_bytes.sh)
 * Exit: 0 all replies were "return", 1 some reply was an error, 2 usage/connection, 3 timeout.
 */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int fd = -1;
static char buf[1 << 20];
static size_t have;
static int timeout_ms = 10000;
static int print_rtt;

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Next line from the socket, or NULL on EOF/timeout (*timed_out says which). */
static json_t *read_msg(long long deadline, int *timed_out)
{
	*timed_out = 0;
	for (;;) {
		char *nl = memchr(buf, '\n', have);

		if (nl) {
			json_error_t e;
			json_t *j = json_loadb(buf, (size_t)(nl - buf), 0, &e);
			size_t used = (size_t)(nl - buf) + 1;

			memmove(buf, buf + used, have - used);
			have -= used;
			if (!j) {
				fprintf(stderr, "qmpcall: bad JSON from QEMU: %s\n", e.text);
				continue;
			}
			return j;
		}
		if (have == sizeof(buf)) {
			fprintf(stderr, "qmpcall: line too long\n");
			return NULL;
		}
		long long left = deadline - now_ms();
		if (left <= 0) {
			*timed_out = 1;
			return NULL;
		}
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, (int)left);

		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			continue;
		ssize_t n = read(fd, buf + have, sizeof(buf) - have);

		if (n <= 0)
			return NULL;
		have += (size_t)n;
	}
}

static void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);

	printf("%s\n", s);
	fflush(stdout);
	free(s);
}

/* Sends req and waits for its reply, printing events seen meanwhile. 0, 1 error, 3 timeout. */
static int call(json_t *req, const char *wait_event, int *event_seen)
{
	char *s = json_dumps(req, JSON_COMPACT);
	size_t len = strlen(s);
	long long deadline = now_ms() + timeout_ms, t0 = now_us();
	int to;

	s = realloc(s, len + 2);
	s[len] = '\n';
	if (write(fd, s, len + 1) != (ssize_t)(len + 1)) {
		free(s);
		return 2;
	}
	free(s);
	for (;;) {
		json_t *m = read_msg(deadline, &to);

		if (!m)
			return to ? 3 : 2;
		print_json(m);
		if (json_object_get(m, "event")) {
			if (wait_event &&
			    strcmp(json_string_value(json_object_get(m, "event")) ?: "", wait_event) == 0)
				*event_seen = 1;
			json_decref(m);
			continue;
		}
		int rc = json_object_get(m, "error") ? 1 : 0;

		if (print_rtt)
			fprintf(stderr, "%lld %zu\n", now_us() - t0, len + 1);
		json_decref(m);
		return rc;
	}
}

int main(int argc, char **argv)
{
	const char *wait_event = NULL;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int opt, worst = 0, event_seen = 0, to;

	while ((opt = getopt(argc, argv, "t:e:T")) != -1) {
		if (opt == 't')
			timeout_ms = atoi(optarg) * 1000;
		else if (opt == 'T')
			print_rtt = 1;
		else if (opt == 'e')
			wait_event = optarg;
		else
			return 2;
	}
	if (optind >= argc || timeout_ms <= 0) {
		fprintf(stderr, "usage: qmpcall [-t SECS] [-e EVENT] [-T] SOCKET CMD...\n");
		return 2;
	}
	if (strlen(argv[optind]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "qmpcall: socket path too long\n");
		return 2;
	}
	strcpy(sa.sun_path, argv[optind]);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "qmpcall: connect %s: %s\n", sa.sun_path, strerror(errno));
		return 2;
	}
	json_t *greeting = read_msg(now_ms() + timeout_ms, &to);

	if (!greeting) {
		fprintf(stderr, "qmpcall: no greeting\n");
		return to ? 3 : 2;
	}
	json_t *caps = json_object_get(json_object_get(greeting, "QMP"), "capabilities");
	int oob = 0;
	size_t i;
	json_t *c;

	json_array_foreach(caps, i, c) if (json_is_string(c) && !strcmp(json_string_value(c), "oob"))
		oob = 1;
	json_decref(greeting);
	json_t *neg = oob ? json_pack("{s:s, s:{s:[s]}}", "execute", "qmp_capabilities",
				      "arguments", "enable", "oob")
			  : json_pack("{s:s}", "execute", "qmp_capabilities");
	int rc = call(neg, NULL, &event_seen);

	json_decref(neg);
	if (rc)
		return rc == 1 ? 2 : rc;
	for (int a = optind + 1; a < argc; a++) {
		json_t *req;

		if (argv[a][0] == '{') {
			json_error_t e;

			req = json_loads(argv[a], 0, &e);
			if (!req || !json_is_object(req)) {
				fprintf(stderr, "qmpcall: argument %d is not a JSON object: %s\n", a,
					req ? "" : e.text);
				json_decref(req);
				return 2;
			}
		} else {
			req = json_pack("{s:s}", "execute", argv[a]);
		}
		rc = call(req, wait_event, &event_seen);
		json_decref(req);
		if (rc > 1)
			return rc;
		if (rc > worst)
			worst = rc;
	}
	if (wait_event && !event_seen) {
		long long deadline = now_ms() + timeout_ms;

		while (!event_seen) {
			json_t *m = read_msg(deadline, &to);

			if (!m)
				return 3;
			print_json(m);
			const char *ev = json_string_value(json_object_get(m, "event"));

			if (ev && strcmp(ev, wait_event) == 0)
				event_seen = 1;
			json_decref(m);
		}
	}
	close(fd);
	return worst;
}
