/*
 * test_sim_replay.c: replays the recorded QEMU COLO transcripts
 * (test/data/qemu-colo) against qmp-sim and compares, per scenario, every
 * reply (same JSON after normalising timestamps, host/port/path strings and
 * auto node names) and every connection's events (same order), and checks
 * that replies QEMU never sent before a rescue yank do not come early.
 * Harness notes ("kill -9", "net.sh drop", "ss -K", ...) become control
 * requests; a small table adds what a note cannot say. Prints TAP.
 * Never reads /work/shared: only $TEST_DATA.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "simtest.h"

#define WAIT_MS 5000   /* generous: a loaded 2-core machine */
#define GRACE_MS 150   /* time given to the sim to do something wrong */

enum lkind { L_CMD, L_REPLY, L_EVENT, L_NOTE };

struct tline {
	enum lkind k;
	char who[64];
	char *text;
	json_t *j;
	double t;   /* seconds since the recording started */
};

struct rconn {
	char label[64];
	char vm[32];
	int sock;
	bool open, harness_closed, eof_expected;
	struct simtest_conn c;
	json_t *ev_rec;    /* recorded events (normalised) */
	json_t *ev_sim;    /* events the sim sent (normalised) */
	json_t *replies;   /* id text -> reply message */
	json_t *greetings; /* raw greeting lines */
	int unexpected;
};

struct held {
	char label[64];
	char idkey[128];
	size_t rescue;     /* line index of the rescue yank */
	bool checked;
};

struct replay {
	const char *name;
	struct simtest_sim sim;
	struct tline *lines;
	size_t n;
	struct rconn conns[16];
	size_t nconns;
	struct held held[16];
	size_t nheld;
	char block_node[2][32];  /* sim's NBD node name per VM (primary=0) */
	int fails;
	int replies_ok, events_ok, held_ok;
	bool vm_silent[4];
};

/* extra control requests, for what the harness notes do not say */
struct extra {
	const char *scenario;
	const char *note;   /* substring of a "##" line */
	const char *ctl;
};

static const struct extra extras[] = {
	/* d1 on the primary: the hung-up command ran, its COLO_EXIT said
	 * "error" (the recorded race) */
	{ "d-reconnect-primary", "--- d1:",
	  "{\"cmd\":\"tune\",\"name\":\"primary\",\"hangup\":\"execute\","
	  "\"exit-reason\":\"error\"}" },
	{ "d-reconnect-primary", "--- d2:",
	  "{\"cmd\":\"tune\",\"name\":\"primary\",\"exit-reason\":\"request\"}" },
	/* d1 on the secondary: the command was dropped with the connection */
	{ "d-reconnect-secondary", "--- d1:",
	  "{\"cmd\":\"fault\",\"name\":\"secondary\",\"fault\":"
	  "\"drop-before-reply\",\"match\":\"x-colo-lost-heartbeat\","
	  "\"socket\":\"qmp2\"}" },
};

static const char *const scenarios[] = {
	"pair", "a-primary-dies", "b-secondary-dies",
	"b2-secondary-dies-no-checkpoint", "c1-not-in-colo",
	"c2-twice-and-split-brain", "d-reconnect-primary",
	"d-reconnect-secondary",
	"silent-loss/s-loss-plain-run1", "silent-loss/s-loss-lhb-first-run1",
	"silent-loss/s-loss-yank-run1", "silent-loss/p-loss-plain-run1",
	"silent-loss/p-loss-yank-run1", "silent-loss/partition-run1",
	"silent-loss/partition-yank-run1", "silent-loss/reset-p-run1",
	"silent-loss/reset-s-run1",
	"qemu10/setup-broken-10.0.2/setup-broken",
	/* not asked for, but recorded too */
	"silent-loss/s-loss-lhb-first-yank-run1", "silent-loss/setup-run1",
	"measure-0-primary-failover", "measure-0-secondary-failover",
};

static void diag(struct replay *r, const char *fmt, ...) ATTR_PRINTF(2, 3);
static void diag(struct replay *r, const char *fmt, ...)
{
	va_list ap;

	r->fails++;
	if (r->fails > 12)
		return;
	printf("#   %s: ", r->name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* ---------------------------------------------------------- normalising */

/* host/port/path/node-name strings differ between runs */
static char *norm_str(const char *in)
{
	size_t cap = strlen(in) * 2 + 64, o = 0;
	char *out = malloc(cap);
	const char *p = in;

	while (*p) {
		if (isdigit((unsigned char)*p)) {
			const char *q = p;
			int dots = 0;

			while (isdigit((unsigned char)*q) || *q == '.') {
				if (*q == '.')
					dots++;
				q++;
			}
			if (dots == 3) {
				o += (size_t)sprintf(out + o, "IP");
				p = q;
				continue;
			}
			if (!dots && o && out[o - 1] == ':') {
				o += (size_t)sprintf(out + o, "PORT");
				p = q;
				continue;
			}
			memcpy(out + o, p, (size_t)(q - p));
			o += (size_t)(q - p);
			p = q;
			continue;
		}
		if (*p == '#' && !strncmp(p, "#block", 6) &&
		    isdigit((unsigned char)p[6])) {
			p += 6;
			while (isdigit((unsigned char)*p))
				p++;
			o += (size_t)sprintf(out + o, "#blockN");
			continue;
		}
		if (!strncmp(p, "unix:/", 6)) {
			p += 5;
			while (*p && *p != ',' && *p != ' ')
				p++;
			o += (size_t)sprintf(out + o, "unix:PATH");
			continue;
		}
		out[o++] = *p++;
	}
	out[o] = '\0';
	return out;
}

static int label_cmp(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	const char *lx = json_string_value(json_object_get(x, "label"));
	const char *ly = json_string_value(json_object_get(y, "label"));

	return strcmp(lx ? lx : "", ly ? ly : "");
}

static json_t *norm(json_t *j)
{
	const char *k;
	json_t *v, *out;
	size_t i;

	if (json_is_object(j)) {
		out = json_object();
		json_object_foreach(j, k, v) {
			if (!strcmp(k, "timestamp"))
				continue;
			if (!strcmp(k, "setup-time"))
				json_object_set_new(out, k, json_integer(0));
			else if (!strcmp(k, "port") && json_is_string(v))
				json_object_set_new(out, k, json_string("PORT"));
			else if (!strcmp(k, "host") && json_is_string(v))
				json_object_set_new(out, k, json_string("HOST"));
			else
				json_object_set_new(out, k, norm(v));
		}
		return out;
	}
	if (json_is_array(j)) {
		size_t n = json_array_size(j);
		json_t **items = calloc(n + 1, sizeof(*items));
		bool labels = n > 0;

		json_array_foreach(j, i, v) {
			items[i] = norm(v);
			if (!json_object_get(items[i], "label"))
				labels = false;
		}
		/* query-chardev's order is QEMU's hash order */
		if (labels)
			qsort(items, n, sizeof(*items), label_cmp);
		out = json_array();
		for (i = 0; i < n; i++)
			json_array_append_new(out, items[i]);
		free(items);
		return out;
	}
	if (json_is_string(j)) {
		char *s = norm_str(json_string_value(j));

		out = json_string(s);
		free(s);
		return out;
	}
	return json_incref(j);
}

static char *dumps(const json_t *j)
{
	return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

static void idkey(const json_t *id, char *out, size_t len)
{
	char *s = id ? dumps(id) : NULL;

	snprintf(out, len, "%s", s ? s : "null");
	free(s);
}

/* -------------------------------------------------------------- parsing */

static int parse(struct replay *r, const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	if (!f)
		return -1;
	while ((len = getline(&line, &cap, f)) > 0) {
		char *b, *e, *d;
		struct tline t;

		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		b = strstr(line, "s [");
		if (!b || line[0] != '2')
			continue;
		b += 3;
		e = strstr(b, "] ");
		if (!e || (size_t)(e - b) >= sizeof(t.who))
			continue;
		memset(&t, 0, sizeof(t));
		memcpy(t.who, b, (size_t)(e - b));
		{
			char *plus = strstr(line, "Z +");

			t.t = plus ? atof(plus + 3) : 0;
		}
		d = e + 2;
		if (!strncmp(d, "-> ", 3))
			t.k = L_CMD;
		else if (!strncmp(d, "<- ", 3))
			t.k = L_REPLY;
		else if (!strncmp(d, "<~ ", 3))
			t.k = L_EVENT;
		else if (!strncmp(d, "## ", 3))
			t.k = L_NOTE;
		else
			continue;
		t.text = strdup(d + 3);
		if (t.k != L_NOTE) {
			t.j = json_loads(t.text, 0, NULL);
			if (!t.j) {
				free(t.text);
				continue;
			}
		}
		r->lines = realloc(r->lines, (r->n + 1) * sizeof(*r->lines));
		r->lines[r->n++] = t;
	}
	free(line);
	fclose(f);
	/*
	 * "ss -K" is logged when it finished, after the events it caused:
	 * move it before them so that we cause them too.
	 */
	for (size_t k = 0; k < r->n; k++) {
		size_t j = k;
		struct tline note;

		if (r->lines[k].k != L_NOTE || !strstr(r->lines[k].text, " ss -K "))
			continue;
		while (j > 0 && r->lines[j - 1].k == L_EVENT)
			j--;
		note = r->lines[k];
		memmove(&r->lines[j + 1], &r->lines[j],
			(k - j) * sizeof(*r->lines));
		r->lines[j] = note;
	}
	return 0;
}

static size_t reply_index(struct replay *r, size_t i);

/* ------------------------------------------------------------ the sim side */

static struct rconn *conn_get(struct replay *r, const char *label)
{
	struct rconn *c;
	size_t i;
	const char *slash;

	for (i = 0; i < r->nconns; i++)
		if (!strcmp(r->conns[i].label, label))
			return &r->conns[i];
	if (r->nconns == ARRAY_SIZE(r->conns))
		return NULL;
	c = &r->conns[r->nconns++];
	memset(c, 0, sizeof(*c));
	c->c.fd = -1;
	snprintf(c->label, sizeof(c->label), "%s", label);
	slash = strchr(label, '/');
	snprintf(c->vm, sizeof(c->vm), "%.*s",
		 (int)(slash ? (size_t)(slash - label) : strlen(label)), label);
	c->sock = 0;
	if (slash && !strcmp(slash, "/qmp3"))
		c->sock = 2;
	else if (slash)
		c->sock = 1;   /* qmp2 and the spare "arbiter" monitors */
	c->ev_rec = json_array();
	c->ev_sim = json_array();
	c->replies = json_object();
	c->greetings = json_array();
	return c;
}

static void take_line(struct replay *r, struct rconn *c, char *line)
{
	json_t *j = json_loads(line, 0, NULL);

	if (!j) {
		diag(r, "[%s] unparsable line from sim: %.80s", c->label, line);
		c->unexpected++;
		return;
	}
	if (json_object_get(j, "QMP")) {
		json_array_append_new(c->greetings, json_string(line));
	} else if (json_object_get(j, "event")) {
		json_array_append_new(c->ev_sim, norm(j));
	} else if (json_object_get(j, "return") || json_object_get(j, "error")) {
		char k[128];
		json_t *rt = json_object_get(j, "return");

		idkey(json_object_get(j, "id"), k, sizeof(k));
		json_object_set(c->replies, k, j);
		/* learn the sim's auto node name for later yanks */
		if (json_is_array(rt)) {
			size_t i;
			json_t *v;

			json_array_foreach(rt, i, v) {
				const char *nn = json_string_value(
					json_object_get(v, "node-name"));

				if (nn && !strncmp(nn, "#block", 6))
					snprintf(r->block_node[strcmp(c->vm,
						"primary") ? 1 : 0],
						sizeof(r->block_node[0]), "%s", nn);
			}
		}
	} else {
		diag(r, "[%s] unexpected message %.80s", c->label, line);
		c->unexpected++;
	}
	json_decref(j);
}

/* Reads whatever the sim sent on every open connection within ms. */
static void pump(struct replay *r, int ms)
{
	long long end = simtest_now_ms() + ms;

	do {
		size_t i;

		for (i = 0; i < r->nconns; i++) {
			struct rconn *c = &r->conns[i];
			char *line;

			while (c->open && simtest_read_line(&c->c, 0, &line) == 1) {
				take_line(r, c, line);
				free(line);
			}
		}
		if (simtest_now_ms() < end)
			simtest_sleep_ms(2);
	} while (simtest_now_ms() < end);
}

static bool wait_for(struct replay *r, struct rconn *c, const char *idk,
		     size_t nevents, size_t ngreet)
{
	long long end = simtest_now_ms() + WAIT_MS;

	for (;;) {
		char *line;
		int rc;

		if ((!idk || json_object_get(c->replies, idk)) &&
		    json_array_size(c->ev_sim) >= nevents &&
		    json_array_size(c->greetings) >= ngreet)
			return true;
		if (!c->open || simtest_now_ms() > end)
			return false;
		rc = simtest_read_line(&c->c, 50, &line);
		if (rc == 1) {
			take_line(r, c, line);
			free(line);
		} else if (rc < 0) {
			return false;
		}
		pump(r, 0);
	}
}

static void sock_path(struct replay *r, const char *vm, int sock, char *out,
		      size_t len)
{
	static const char *const sfx[] = { "qmp", "qmp2", "qmp3" };
	char name[96];

	snprintf(name, sizeof(name), "%s-%s.sock", vm, sfx[sock]);
	simtest_path(&r->sim, name, out, len);
}

static void conn_close(struct replay *r, struct rconn *c)
{
	if (!c->open)
		return;
	pump(r, 0);
	simtest_close(&c->c);
	c->open = false;
}

static void conn_open(struct replay *r, struct rconn *c)
{
	char path[256];
	size_t i;

	/* one client per socket: whoever held it is gone by now */
	for (i = 0; i < r->nconns; i++) {
		struct rconn *o = &r->conns[i];

		if (o->open && !strcmp(o->vm, c->vm) && o->sock == c->sock) {
			o->harness_closed = true;
			conn_close(r, o);
		}
	}
	sock_path(r, c->vm, c->sock, path, sizeof(path));
	if (simtest_connect(&c->c, path) < 0) {
		diag(r, "[%s] cannot connect to %s", c->label, path);
		return;
	}
	c->open = true;
}

/*
 * A query-colo-status that QEMU held during the migration's completion
 * (answered 20+ ms late) saw mode "none" or "primary": a race. Take the
 * recorded outcome so that the sim does the same.
 */
static bool query_held_before_colo(struct replay *r)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		const struct tline *t = &r->lines[i];
		const char *mode;
		size_t k;

		if (t->k != L_CMD || strcmp(t->who, "primary") ||
		    strcmp(json_string_value(json_object_get(t->j, "execute")) ?: "",
			   "query-colo-status"))
			continue;
		k = reply_index(r, i);
		if (k == (size_t)-1 || r->lines[k].t - t->t < 0.020)
			continue;
		mode = json_string_value(json_object_get(
			json_object_get(r->lines[k].j, "return"), "mode"));
		return mode && !strcmp(mode, "none");
	}
	return false;
}

static void vm_add(struct replay *r, const char *vm, const char *note)
{
	char p[3][256];
	bool q10 = !strncmp(r->name, "qemu10", 6);
	bool incoming = strstr(note, "-incoming") || strstr(vm, "incoming");
	bool three = strstr(note, "qmp3.sock") != NULL;
	int i;

	for (i = 0; i < 3; i++)
		sock_path(r, vm, i, p[i], sizeof(p[i]));
	if (three) {
		if (!simtest_ctl_ok(&r->sim,
			"{\"cmd\":\"vm-add\",\"name\":\"%s\",\"qmp\":\"%s\","
			"\"qmp2\":\"%s\",\"qmp3\":\"%s\",\"incoming\":%s,"
			"\"build\":\"%s\"}", vm, p[0], p[1], p[2],
			incoming ? "true" : "false",
			q10 ? "qemu10-broken" : "colo"))
			diag(r, "vm-add %s failed", vm);
	} else if (!simtest_ctl_ok(&r->sim,
			"{\"cmd\":\"vm-add\",\"name\":\"%s\",\"qmp\":\"%s\","
			"\"qmp2\":\"%s\",\"incoming\":%s,\"build\":\"%s\"}",
			vm, p[0], p[1], incoming ? "true" : "false",
			q10 ? "qemu10-broken" : "colo")) {
		diag(r, "vm-add %s failed", vm);
	}
	if (!strcmp(vm, "primary")) {
		/*
		 * Widen two recorded races so that a busy machine cannot flip
		 * them: the primary's completion window (a query sent ~50 ms
		 * after migrate is held until COLO starts) and the secondary's
		 * COLO start (queried ~2 ms before it). Only cross-side timing
		 * changes; each side's order of events stays as recorded.
		 */
		simtest_ctl_ok(&r->sim,
			"{\"cmd\":\"tune\",\"name\":\"primary\",\"delays\":{"
			"\"mig_block_p\":40000,\"mig_pass2\":140000,"
			"\"mig_colo_p\":141000,\"mig_resume_p\":147000,"
			"\"mig_colo_s\":200000,\"mig_resume_s\":204000,"
			"\"q10_colo_s\":450000,\"q10_resume_s\":452400,"
			"\"q10_exit_s\":452600}}");
		if (query_held_before_colo(r))
			simtest_ctl_ok(&r->sim,
				"{\"cmd\":\"tune\",\"name\":\"primary\","
				"\"migrate-query-race\":\"before-colo\"}");
	}
	if (!strcmp(vm, "secondary"))
		simtest_ctl_ok(&r->sim, "{\"cmd\":\"link\",\"primary\":\"primary\","
			       "\"secondary\":\"secondary\"}");
}

/* The first exec-oob yank with instances after line i: the rescue. */
static size_t rescue_after(struct replay *r, size_t i)
{
	for (i = i + 1; i < r->n; i++) {
		const struct tline *t = &r->lines[i];
		json_t *inst;

		if (t->k != L_CMD)
			continue;
		inst = json_object_get(json_object_get(t->j, "arguments"),
				       "instances");
		if (json_object_get(t->j, "exec-oob") && json_array_size(inst))
			return i;
	}
	return (size_t)-1;
}

static size_t reply_index(struct replay *r, size_t i)
{
	const struct tline *cmd = &r->lines[i];
	json_t *id = json_object_get(cmd->j, "id");
	size_t k;

	for (k = i + 1; k < r->n; k++) {
		const struct tline *t = &r->lines[k];

		if (t->k == L_REPLY && !strcmp(t->who, cmd->who) &&
		    json_equal(json_object_get(t->j, "id"), id))
			return k;
		/* a new greeting: the connection was replaced */
		if (t->k == L_REPLY && !strcmp(t->who, cmd->who) &&
		    json_object_get(t->j, "QMP"))
			return (size_t)-1;
	}
	return (size_t)-1;
}

static void send_cmd(struct replay *r, size_t i)
{
	struct tline *t = &r->lines[i];
	struct rconn *c = conn_get(r, t->who);
	size_t rep = reply_index(r, i), rescue = rescue_after(r, i);
	char *text;
	char *p;

	if (!c || !c->open) {
		diag(r, "line %zu: [%s] not connected", i, t->who);
		return;
	}
	/* keep the recorded pacing of short gaps (QEMU's races depend on it) */
	if (i > 0 && t->t - r->lines[i - 1].t > 0.001 &&
	    t->t - r->lines[i - 1].t <= 0.120)
		simtest_sleep_ms((int)((t->t - r->lines[i - 1].t) * 1000));
	/* the yank before a rescue: nothing that QEMU held may be out yet */
	if (json_object_get(t->j, "exec-oob") &&
	    json_array_size(json_object_get(json_object_get(t->j, "arguments"),
					    "instances"))) {
		size_t h;

		pump(r, GRACE_MS);
		for (h = 0; h < r->nheld; h++) {
			struct held *hd = &r->held[h];
			struct rconn *hc = conn_get(r, hd->label);

			if (hd->rescue != i || hd->checked)
				continue;
			hd->checked = true;
			if (json_object_get(hc->replies, hd->idkey))
				diag(r, "[%s] reply %s came before the rescue",
				     hd->label, hd->idkey);
			else
				r->held_ok++;
		}
	}
	text = strdup(t->text);
	/* the NBD node's auto name is the sim's, not the recorded one */
	p = strstr(text, "\"#block");
	if (p) {
		const char *mine = r->block_node[strcmp(c->vm, "primary") ? 1 : 0];
		char *q = strchr(p + 1, '"');
		char *nt;

		if (q && mine[0]) {
			nt = malloc(strlen(text) + 64);
			sprintf(nt, "%.*s\"%s%s", (int)(p - text), text, mine, q);
			free(text);
			text = nt;
		}
	}
	/* answered only after a later rescue, or never: QEMU held it */
	if (rescue != (size_t)-1 && (rep == (size_t)-1 || rep > rescue) &&
	    r->nheld < ARRAY_SIZE(r->held)) {
		struct held *hd = &r->held[r->nheld++];

		snprintf(hd->label, sizeof(hd->label), "%s", t->who);
		idkey(json_object_get(t->j, "id"), hd->idkey, sizeof(hd->idkey));
		hd->rescue = rescue;
	}
	if (simtest_send(&c->c, text) < 0)
		diag(r, "[%s] send failed", t->who);
	free(text);
}

static void check_reply(struct replay *r, size_t i)
{
	struct tline *t = &r->lines[i];
	struct rconn *c = conn_get(r, t->who);
	char k[128];
	json_t *got, *a, *b;

	if (!c)
		return;
	if (json_object_get(t->j, "QMP")) {
		/* a greeting: (re)connect and compare it byte for byte */
		size_t ng;

		if (c->open) {
			/* the harness gave up on the old connection */
			c->harness_closed = true;
			conn_close(r, c);
		}
		conn_open(r, c);
		ng = json_array_size(c->greetings) + 1;
		if (!wait_for(r, c, NULL, 0, ng)) {
			diag(r, "[%s] no greeting", c->label);
			return;
		}
		if (strcmp(json_string_value(json_array_get(c->greetings,
							    ng - 1)), t->text))
			diag(r, "[%s] greeting differs: %s", c->label,
			     json_string_value(json_array_get(c->greetings,
							      ng - 1)));
		else
			r->replies_ok++;
		return;
	}
	idkey(json_object_get(t->j, "id"), k, sizeof(k));
	if (!wait_for(r, c, k, 0, 0)) {
		diag(r, "[%s] no reply to %s", c->label, k);
		return;
	}
	got = json_object_get(c->replies, k);
	a = norm(t->j);
	b = norm(got);
	if (!json_equal(a, b)) {
		char *x = dumps(a), *y = dumps(b);

		diag(r, "[%s] reply %s differs:\n#     want %.300s\n#     got  %.300s",
		     c->label, k, x, y);
		free(x);
		free(y);
	} else {
		r->replies_ok++;
	}
	json_decref(a);
	json_decref(b);
}

static void note_event(struct replay *r, size_t i)
{
	struct tline *t = &r->lines[i];
	struct rconn *c = conn_get(r, t->who);
	size_t n;

	if (!c)
		return;
	json_array_append_new(c->ev_rec, norm(t->j));
	n = json_array_size(c->ev_rec);
	if (!wait_for(r, c, NULL, n, 0))
		diag(r, "[%s] event #%zu (%s) did not come", c->label, n,
		     json_string_value(json_object_get(t->j, "event")));
}

static void harness_note(struct replay *r, size_t i)
{
	struct tline *t = &r->lines[i];
	const char *s = t->text;
	size_t k;

	for (k = 0; k < ARRAY_SIZE(extras); k++)
		if (!strcmp(extras[k].scenario, r->name) &&
		    strstr(s, extras[k].note) &&
		    !simtest_ctl_ok(&r->sim, "%s", extras[k].ctl))
			diag(r, "extra control request failed");

	if (!strncmp(s, "start ", 6)) {
		char vm[32];

		if (sscanf(s + 6, "%31[^: ]", vm) == 1)
			vm_add(r, vm, s);
	} else if (!strncmp(s, "kill -9 ", 8)) {
		char vm[32];

		if (sscanf(s + 8, "%31s", vm) == 1) {
			int idx = strcmp(vm, "primary") ? 1 : 0;

			if (!r->vm_silent[idx] &&
			    !simtest_ctl_ok(&r->sim, "{\"cmd\":\"kill\","
					    "\"name\":\"%s\"}", vm))
				diag(r, "kill %s failed", vm);
		}
	} else if (strstr(s, "net.sh drop ac-n1") ||
		   strstr(s, "net.sh drop ac-n2")) {
		const char *vm = strstr(s, "ac-n1") ? "primary" : "secondary";

		r->vm_silent[strstr(s, "ac-n1") ? 0 : 1] = true;
		if (!simtest_ctl_ok(&r->sim, "{\"cmd\":\"silent-loss\","
				    "\"name\":\"%s\"}", vm))
			diag(r, "silent-loss failed");
	} else if (strstr(s, "net.sh partition")) {
		if (!simtest_ctl_ok(&r->sim, "{\"cmd\":\"partition\",\"a\":"
				    "\"primary\",\"b\":\"secondary\"}"))
			diag(r, "partition failed");
	} else if (strstr(s, "net.sh heal")) {
		if (!simtest_ctl_ok(&r->sim, "{\"cmd\":\"heal\",\"a\":"
				    "\"primary\",\"b\":\"secondary\"}"))
			diag(r, "heal failed");
	} else if (strstr(s, " ss -K ")) {
		const char *vm = !strcmp(t->who, "ac-n1") ? "primary" :
							     "secondary";

		if (!simtest_ctl_ok(&r->sim, "{\"cmd\":\"reset-migration\","
				    "\"name\":\"%s\"}", vm))
			diag(r, "reset-migration failed");
	} else if (!strncmp(s, "listening", 9) || !strncmp(s, "NO REPLY", 8) ||
		   !strncmp(s, "events by themselves", 20)) {
		pump(r, GRACE_MS);
	} else if (!strncmp(s, "reader stopped", 14)) {
		struct rconn *c = conn_get(r, t->who);

		if (c && c->open) {
			pump(r, 5);
			c->harness_closed = true;
			conn_close(r, c);
		}
	} else if (!strncmp(s, "QMP connection closed by peer", 29)) {
		struct rconn *c = conn_get(r, t->who);

		if (c && c->open) {
			if (!simtest_wait_eof(&c->c, WAIT_MS))
				diag(r, "[%s] the sim did not close", c->label);
			pump(r, 0);
			conn_close(r, c);
		}
	}
}

static void compare_events(struct replay *r, char *summary, size_t slen)
{
	size_t i, off = 0;

	pump(r, GRACE_MS);
	for (i = 0; i < r->nconns; i++) {
		struct rconn *c = &r->conns[i];
		size_t nr = json_array_size(c->ev_rec);
		size_t ns = json_array_size(c->ev_sim), k;
		bool same = true;

		for (k = 0; k < nr && k < ns; k++)
			if (!json_equal(json_array_get(c->ev_rec, k),
					json_array_get(c->ev_sim, k))) {
				char *x = dumps(json_array_get(c->ev_rec, k));
				char *y = dumps(json_array_get(c->ev_sim, k));

				diag(r, "[%s] event #%zu: want %s got %s",
				     c->label, k + 1, x, y);
				free(x);
				free(y);
				same = false;
				break;
			}
		/* a client that hung up early did not read the rest */
		if (ns < nr || (ns > nr && !c->harness_closed)) {
			diag(r, "[%s] %zu events recorded, sim sent %zu",
			     c->label, nr, ns);
			for (k = nr; k < ns && k < nr + 4; k++) {
				char *y = dumps(json_array_get(c->ev_sim, k));

				printf("#     extra: %s\n", y);
				free(y);
			}
			same = false;
		}
		if (same)
			r->events_ok += (int)nr;
		if (nr && off + 40 < slen)
			off += (size_t)snprintf(summary + off, slen - off,
						"%s%s=%zu", off ? " " : "",
						c->label, nr);
	}
}

static bool run_scenario(const char *name, int num)
{
	struct replay r;
	char path[512], summary[512] = "";
	const char *data = getenv("TEST_DATA");
	size_t i;

	memset(&r, 0, sizeof(r));
	r.name = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
	if (!strncmp(name, "qemu10", 6))
		r.name = name;
	snprintf(path, sizeof(path), "%s/qemu-colo/%s.txt",
		 data ? data : "data", name);
	if (parse(&r, path) < 0 || !r.n) {
		printf("not ok %d - %s: cannot read %s\n", num, name, path);
		return false;
	}
	if (simtest_start(&r.sim) < 0) {
		printf("not ok %d - %s: simulator did not start\n", num, name);
		simtest_stop(&r.sim);
		return false;
	}
	for (i = 0; i < r.n; i++) {
		switch (r.lines[i].k) {
		case L_NOTE:
			if (!strcmp(r.lines[i].who, "harness") ||
			    !strncmp(r.lines[i].who, "ac-n", 4) ||
			    strstr(r.lines[i].text, "reader stopped") ||
			    strstr(r.lines[i].text, "closed by peer") ||
			    strstr(r.lines[i].text, "NO REPLY"))
				harness_note(&r, i);
			break;
		case L_CMD:
			send_cmd(&r, i);
			break;
		case L_REPLY:
			check_reply(&r, i);
			break;
		case L_EVENT:
			note_event(&r, i);
			break;
		}
	}
	for (i = 0; i < r.nheld; i++)
		if (!r.held[i].checked)
			diag(&r, "[%s] held reply %s never checked",
			     r.held[i].label, r.held[i].idkey);
	compare_events(&r, summary, sizeof(summary));
	for (i = 0; i < r.nconns; i++) {
		simtest_close(&r.conns[i].c);
		json_decref(r.conns[i].ev_rec);
		json_decref(r.conns[i].ev_sim);
		json_decref(r.conns[i].replies);
		json_decref(r.conns[i].greetings);
	}
	if (simtest_stop(&r.sim) != 0)
		diag(&r, "simulator did not exit cleanly");
	for (i = 0; i < r.n; i++) {
		free(r.lines[i].text);
		json_decref(r.lines[i].j);
	}
	free(r.lines);
	printf("%s %d - %s: %d replies matched, %d events matched (%s), "
	       "%d held until rescue%s\n", r.fails ? "not ok" : "ok", num,
	       name, r.replies_ok, r.events_ok, summary, r.held_ok,
	       r.fails ? ", MISMATCHES above" : "");
	fflush(stdout);
	return !r.fails;
}

int main(int argc, char **argv)
{
	size_t i;
	int failed = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	alarm(240);
	printf("1..%zu\n", ARRAY_SIZE(scenarios));
	for (i = 0; i < ARRAY_SIZE(scenarios); i++) {
		if (argc > 1 && !strstr(scenarios[i], argv[1])) {
			printf("ok %zu - %s # SKIP not selected\n", i + 1,
			       scenarios[i]);
			continue;
		}
		if (!run_scenario(scenarios[i], (int)i + 1))
			failed++;
	}
	return failed ? 1 : 0;
}
