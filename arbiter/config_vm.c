/*
 * config_vm.c: one VM file (a side of a COLO pair on this node) and the
 * vm-add JSON of the control socket: parse, check, print in canonical form,
 * copy, compare (see config.h and colo-arbiter.conf(5)).
 *
 * Must not: do I/O, read a clock, log, or accept a pre/post command that the
 * arbiter must send itself. Lists are bounded (ARB_CMDS_MAX,
 * ARB_YANK_EXCLUDE_MAX, ARB_CMD_TEXT_MAX); a failed parse frees what it
 * built and leaves the caller's struct untouched.
 */
#include "config_lex.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- VM files */

/* QEMU's id_wellformed(), and short enough for an fsm yank name. */
static const char *check_qemu_id(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= FSM_YANK_NAME_MAX)
		return "must be a QEMU id of 1 to 39 characters";
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return "a QEMU id starts with a letter";
	for (size_t i = 1; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-'))
			return "a QEMU id has only A-Z a-z 0-9 _ . -";
	}
	return NULL;
}

enum vm_key {
	VM_KEY_NAME,
	VM_KEY_QMP,
	VM_KEY_ROLE,
	VM_KEY_PEER_NODE,
	VM_KEY_PRE,
	VM_KEY_POST,
	VM_KEY_YANK_EXCLUDE,
	VM_KEY_COUNT
};

static const char *const vm_key_names[VM_KEY_COUNT] = {
	[VM_KEY_NAME] = "name",
	[VM_KEY_QMP] = "qmp",
	[VM_KEY_ROLE] = "role",
	[VM_KEY_PEER_NODE] = "peer-node",
	[VM_KEY_PRE] = "pre-failover",
	[VM_KEY_POST] = "post-failover",
	[VM_KEY_YANK_EXCLUDE] = "yank-exclude",
};

/* Commands the arbiter sends itself, at the point its rules allow: from a
 * list they would bypass the epoch (SAFETY C1) or the freeze rules (H2). */
static const char *const refused_cmds[] = {
	"qmp_capabilities", "x-colo-lost-heartbeat", "cont", "stop", "quit",
};

#define JSON_DEPTH_MAX 32

static const char *check_json_value(const json_t *j, int depth)
{
	const char *k;
	json_t *v;
	size_t i;

	if (depth > JSON_DEPTH_MAX)
		return "arguments nested too deeply";
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		json_object_foreach ((json_t *)j, k, v) {
			const char *why = check_json_value(v, depth + 1);

#if JANSSON_VERSION_HEX >= 0x020e00
			/* 2.14 lets a key built in memory hold a NUL */
			if (strlen(k) != json_object_iter_key_len(json_object_key_to_iter(k)))
				return "NUL in a member name";
#endif
			if (why)
				return why;
		}
		return NULL;
	case JSON_ARRAY:
		json_array_foreach (j, i, v) {
			const char *why = check_json_value(v, depth + 1);

			if (why)
				return why;
		}
		return NULL;
	case JSON_STRING:
		if (strlen(json_string_value(j)) != json_string_length(j))
			return "NUL in a string";
		return NULL;
	default:
		return NULL;
	}
}

/* Builds the canonical text: execute first, arguments with sorted keys. */
char *config_vm_cmd_text(const struct arb_qmp_cmd *cmd)
{
	json_t *ex = json_string(cmd->execute);
	char *es, *as = NULL, *out = NULL;
	struct config_sbuf b = {0};

	es = ex ? json_dumps(ex, JSON_ENCODE_ANY) : NULL;
	json_decref(ex);
	if (!es)
		return NULL;
	if (cmd->args) {
		as = json_dumps(cmd->args, JSON_SORT_KEYS);
		if (!as) {
			free(es);
			return NULL;
		}
	}
	config_sbuf_printf(&b, "{\"execute\": %s", es);
	if (as)
		config_sbuf_printf(&b, ", \"arguments\": %s", as);
	config_sbuf_printf(&b, "}");
	out = config_sbuf_finish(&b);
	free(es);
	free(as);
	return out;
}

static void cmd_clear(struct arb_qmp_cmd *c)
{
	free(c->execute);
	json_decref(c->args);
	c->execute = NULL;
	c->args = NULL;
}

/* 0, or -ENOMEM with *dst cleared */
static int cmd_copy(const struct arb_qmp_cmd *src, struct arb_qmp_cmd *dst)
{
	dst->execute = strdup(src->execute);
	dst->args = src->args ? json_deep_copy(src->args) : NULL;
	if (!dst->execute || (src->args && !dst->args)) {
		cmd_clear(dst);
		return -ENOMEM;
	}
	return 0;
}

static bool cmd_equal(const struct arb_qmp_cmd *a, const struct arb_qmp_cmd *b)
{
	if (strcmp(a->execute, b->execute) != 0 || !a->args != !b->args)
		return false;
	return !a->args || json_equal(a->args, b->args);
}

/* The command as its JSON object, a new reference (NULL: out of memory). */
static json_t *cmd_json(const struct arb_qmp_cmd *c)
{
	json_t *o = json_object();

	if (!o || json_object_set_new(o, "execute", json_string(c->execute)) < 0 ||
	    (c->args && json_object_set(o, "arguments", c->args) < 0)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* A pre/post item, checked; *out gets its own copy (cleared on error). */
static const char *check_cmd(const json_t *j, struct arb_qmp_cmd *out, int *oom)
{
	const char *k, *name, *why;
	json_t *v, *ex = NULL, *args = NULL;
	struct arb_qmp_cmd c = { 0 };
	size_t n;
	char *text;

	*out = c;
	if (!json_is_object(j))
		return "must be a JSON object {\"execute\": ...}";
	json_object_foreach ((json_t *)j, k, v) {
		if (strcmp(k, "execute") == 0)
			ex = v;
		else if (strcmp(k, "arguments") == 0)
			args = v;
		else
			return "only \"execute\" and \"arguments\" are allowed (colo-arbiterd "
			       "sets the id)";
	}
	if (!json_is_string(ex))
		return "\"execute\" must be a command name";
	name = json_string_value(ex);
	n = json_string_length(ex);
	if (n == 0 || n > 63 || strlen(name) != n)
		return "\"execute\" must be a command name";
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
			return "\"execute\" must be a command name";
	}
	for (size_t i = 0; i < ARRAY_SIZE(refused_cmds); i++) {
		if (strcmp(name, refused_cmds[i]) == 0)
			return "this command is sent by colo-arbiterd itself, where its rules "
			       "allow it (SAFETY C1, H2), never from a list";
	}
	if (args && !json_is_object(args))
		return "\"arguments\" must be a JSON object";
	if (args && (why = check_json_value(args, 1)))
		return why;
	c.execute = strdup(name);
	c.args = args ? json_deep_copy(args) : NULL;
	text = c.execute && (!args || c.args) ? config_vm_cmd_text(&c) : NULL;
	if (!text) {
		cmd_clear(&c);
		*oom = 1;
		return "out of memory";
	}
	n = strlen(text);
	free(text);
	if (n > ARB_CMD_TEXT_MAX) {
		cmd_clear(&c);
		return "command too long (max 4000 bytes as JSON)";
	}
	*out = c;
	return NULL;
}

struct vm_parse {
	struct arb_vm_config *vm;
	int line_of[VM_KEY_COUNT];
};

static int vm_key_lookup(const char *key)
{
	for (int k = 0; k < VM_KEY_COUNT; k++) {
		if (config_lex_key_eq(vm_key_names[k], key))
			return k;
	}
	return -1;
}

/* One value for key k: a string for scalars and yank-exclude, a JSON
 * object (borrowed) for pre/post. */
static int vm_set(struct config_lex *ps, struct vm_parse *vp, int k, const char *s, const json_t *j)
{
	struct arb_vm_config *vm = vp->vm;
	const char *key = vm_key_names[k];
	const char *why = NULL;
	uint64_t u = 0;
	int rc, oom = 0;

	if (vp->line_of[k] && k != VM_KEY_PRE && k != VM_KEY_POST && k != VM_KEY_YANK_EXCLUDE) {
		if (vp->line_of[k] > 0)
			config_lex_err(ps, key, "duplicate key (first set on line %d)", vp->line_of[k]);
		else
			config_lex_err(ps, key, "duplicate key");
		return -EINVAL;
	}
	switch (k) {
	case VM_KEY_NAME:
		why = config_lex_ident(s);
		if (!why)
			snprintf(vm->name, sizeof(vm->name), "%s", s);
		break;
	case VM_KEY_QMP:
		why = config_lex_path(s, sizeof(vm->qmp));
		if (!why)
			snprintf(vm->qmp, sizeof(vm->qmp), "%s", s);
		break;
	case VM_KEY_ROLE:
		if (strcmp(s, "primary") != 0 && strcmp(s, "secondary") != 0)
			why = "must be primary or secondary";
		else
			snprintf(vm->role, sizeof(vm->role), "%s", s);
		break;
	case VM_KEY_PEER_NODE:
		rc = config_lex_uint(s, UINT32_MAX, &u);
		if (rc == -EINVAL)
			why = "must be a corosync nodeid (a number)";
		else if (rc < 0 || u == 0)
			why = "out of range (1 to 4294967295)";
		else
			vm->peer_node = (uint32_t)u;
		break;
	case VM_KEY_PRE:
	case VM_KEY_POST: {
		unsigned *n = k == VM_KEY_PRE ? &vm->n_pre : &vm->n_post;
		struct arb_qmp_cmd **list = k == VM_KEY_PRE ? &vm->pre : &vm->post;
		struct arb_qmp_cmd *grown;
		struct arb_qmp_cmd cmd;

		if (*n >= ARB_CMDS_MAX) {
			config_lex_err(ps, key, "too many commands (max %d)", ARB_CMDS_MAX);
			return -EINVAL;
		}
		why = check_cmd(j, &cmd, &oom);
		if (oom)
			return -ENOMEM;
		if (why)
			break;
		grown = realloc(*list, sizeof(**list) * (*n + 1));
		if (!grown) {
			cmd_clear(&cmd);
			return -ENOMEM;
		}
		*list = grown;
		grown[(*n)++] = cmd;
		break;
	}
	case VM_KEY_YANK_EXCLUDE:
		if (vm->n_yank_exclude >= ARB_YANK_EXCLUDE_MAX) {
			config_lex_err(ps, key, "too many ids (max %d)", ARB_YANK_EXCLUDE_MAX);
			return -EINVAL;
		}
		why = check_qemu_id(s);
		for (unsigned i = 0; !why && i < vm->n_yank_exclude; i++) {
			if (strcmp(vm->yank_exclude[i], s) == 0)
				why = "listed twice";
		}
		if (!why) {
			char (*grown)[64] = realloc(vm->yank_exclude,
						    sizeof(*grown) * (vm->n_yank_exclude + 1));

			if (!grown)
				return -ENOMEM;
			vm->yank_exclude = grown;
			snprintf(grown[vm->n_yank_exclude++], sizeof(grown[0]), "%s", s);
		}
		break;
	default:
		why = "unknown key";
	}
	if (why) {
		config_lex_err(ps, key, "%s", why);
		return -EINVAL;
	}
	if (!vp->line_of[k])
		vp->line_of[k] = ps->line > 0 ? ps->line : -1;
	return 0;
}

static int vm_line(struct config_lex *ps, const char *key, const char *v, const char *end, int col,
		   void *opaque)
{
	struct vm_parse *vp = opaque;
	char val[CONFIG_LINE_MAX + 1];
	json_t *j = NULL;
	int k, rc;

	k = vm_key_lookup(key);
	if (k < 0) {
		for (int i = 0; i < CONFIG_KEY_COUNT; i++) {
			if (config_lex_key_eq(config_key_to_str((enum config_key)i), key)) {
				config_lex_err(ps, key, "unknown key (it belongs in colo-arbiter.conf)");
				return -EINVAL;
			}
		}
		config_lex_err(ps, key, "unknown key");
		return -EINVAL;
	}
	if (k == VM_KEY_PRE || k == VM_KEY_POST) {
		rc = config_lex_json(ps, vm_key_names[k], v, end, col, &j);
		if (rc < 0)
			return rc;
		rc = vm_set(ps, vp, k, NULL, j);
		json_decref(j);
		return rc;
	}
	rc = config_lex_scalar(ps, vm_key_names[k], v, end, val);
	if (rc < 0)
		return rc;
	return vm_set(ps, vp, k, val, NULL);
}

static int vm_check_required(struct config_lex *ps, const struct vm_parse *vp)
{
	static const int req[] = {VM_KEY_NAME, VM_KEY_QMP, VM_KEY_ROLE, VM_KEY_PEER_NODE};

	for (size_t i = 0; i < ARRAY_SIZE(req); i++) {
		if (!vp->line_of[req[i]]) {
			ps->line = 0;
			config_lex_err(ps, vm_key_names[req[i]], "required key missing");
			return -EINVAL;
		}
	}
	return 0;
}

void config_vm_free(struct arb_vm_config *vm)
{
	if (!vm)
		return;
	for (unsigned i = 0; vm->pre && i < vm->n_pre; i++)
		cmd_clear(&vm->pre[i]);
	for (unsigned i = 0; vm->post && i < vm->n_post; i++)
		cmd_clear(&vm->post[i]);
	free(vm->pre);
	free(vm->post);
	free(vm->yank_exclude);
	memset(vm, 0, sizeof(*vm));
}

int config_vm_parse(const char *text, size_t len, const char *filename, struct arb_vm_config *vm,
		    struct config_error *err)
{
	struct config_lex ps = {.file = filename ? filename : "-", .err = err};
	struct arb_vm_config tmp;
	struct vm_parse vp = {.vm = &tmp};
	int rc;

	if (!text && len)
		return -EINVAL;
	memset(&tmp, 0, sizeof(tmp));
	rc = config_lex_lines(&ps, text ? text : "", len, vm_line, &vp);
	if (rc == 0)
		rc = vm_check_required(&ps, &vp);
	if (rc < 0) {
		config_vm_free(&tmp);
		return rc;
	}
	*vm = tmp;
	return 0;
}

int config_vm_from_json(const json_t *args, struct arb_vm_config *vm, struct config_error *err)
{
	struct config_lex ps = {.file = "vm-add", .line = 0, .err = err};
	struct arb_vm_config tmp;
	struct vm_parse vp = {.vm = &tmp};
	const char *key;
	json_t *v;
	int rc = 0;

	if (!json_is_object(args)) {
		config_lex_err(&ps, "", "arguments must be a JSON object");
		return -EINVAL;
	}
	memset(&tmp, 0, sizeof(tmp));
	json_object_foreach ((json_t *)args, key, v) {
		int k = vm_key_lookup(key);
		char num[32];
		char shown[64];

		snprintf(shown, sizeof(shown), "%s", key);
		if (k < 0) {
			config_lex_err(&ps, shown, "unknown member");
			rc = -EINVAL;
			break;
		}
		if (vp.line_of[k]) {
			config_lex_err(&ps, vm_key_names[k], "duplicate key");
			rc = -EINVAL;
			break;
		}
		if (k == VM_KEY_PRE || k == VM_KEY_POST || k == VM_KEY_YANK_EXCLUDE) {
			size_t i, max = k == VM_KEY_YANK_EXCLUDE ? ARB_YANK_EXCLUDE_MAX
								 : ARB_CMDS_MAX;
			json_t *item;

			if (!json_is_array(v)) {
				config_lex_err(&ps, vm_key_names[k], "must be an array");
				rc = -EINVAL;
				break;
			}
			if (json_array_size(v) > max) {
				config_lex_err(&ps, vm_key_names[k], "too many items (max %zu)", max);
				rc = -EINVAL;
				break;
			}
			json_array_foreach (v, i, item) {
				if (k == VM_KEY_YANK_EXCLUDE) {
					if (!json_is_string(item) ||
					    strlen(json_string_value(item)) !=
						    json_string_length(item)) {
						config_lex_err(&ps, vm_key_names[k], "items must be strings");
						rc = -EINVAL;
						break;
					}
					rc = vm_set(&ps, &vp, k, json_string_value(item), NULL);
				} else {
					rc = vm_set(&ps, &vp, k, NULL, item);
				}
				if (rc < 0)
					break;
			}
			if (rc < 0)
				break;
			vp.line_of[k] = -1; /* even an empty list counts as given */
			continue;
		}
		if (k == VM_KEY_PEER_NODE) {
			if (!json_is_integer(v) || json_integer_value(v) < 0) {
				config_lex_err(&ps, vm_key_names[k], "must be a corosync nodeid (a number)");
				rc = -EINVAL;
				break;
			}
			snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
			rc = vm_set(&ps, &vp, k, num, NULL);
		} else {
			if (!json_is_string(v) ||
			    strlen(json_string_value(v)) != json_string_length(v)) {
				config_lex_err(&ps, vm_key_names[k], "must be a string");
				rc = -EINVAL;
				break;
			}
			rc = vm_set(&ps, &vp, k, json_string_value(v), NULL);
		}
		if (rc < 0)
			break;
	}
	if (rc == 0)
		rc = vm_check_required(&ps, &vp);
	if (rc < 0) {
		config_vm_free(&tmp);
		return rc;
	}
	*vm = tmp;
	return 0;
}

json_t *config_vm_to_json(const struct arb_vm_config *vm)
{
	json_t *o = json_object();
	json_t *pre = json_array(), *post = json_array(), *yank = json_array();
	bool ok = o && pre && post && yank;

	for (unsigned i = 0; ok && i < vm->n_pre; i++)
		ok = json_array_append_new(pre, cmd_json(&vm->pre[i])) == 0;
	for (unsigned i = 0; ok && i < vm->n_post; i++)
		ok = json_array_append_new(post, cmd_json(&vm->post[i])) == 0;
	for (unsigned i = 0; ok && i < vm->n_yank_exclude; i++)
		ok = json_array_append_new(yank, json_string(vm->yank_exclude[i])) == 0;
	ok = ok && json_object_set_new(o, "name", json_string(vm->name)) == 0 &&
	     json_object_set_new(o, "qmp", json_string(vm->qmp)) == 0 &&
	     json_object_set_new(o, "role", json_string(vm->role)) == 0 &&
	     json_object_set_new(o, "peer-node", json_integer(vm->peer_node)) == 0;
	if (ok) {
		ok = json_object_set_new(o, "pre-failover", pre) == 0;
		pre = NULL;
	}
	if (ok) {
		ok = json_object_set_new(o, "post-failover", post) == 0;
		post = NULL;
	}
	if (ok) {
		ok = json_object_set_new(o, "yank-exclude", yank) == 0;
		yank = NULL;
	}
	json_decref(pre);
	json_decref(post);
	json_decref(yank);
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static bool vm_cmds_print(struct config_sbuf *b, const char *key,
			  const struct arb_qmp_cmd *list, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		char *t = config_vm_cmd_text(&list[i]);

		if (!t)
			return false;
		config_sbuf_printf(b, "%s = %s\n", key, t);
		free(t);
	}
	return true;
}

char *config_vm_print(const struct arb_vm_config *vm)
{
	struct config_sbuf b = {0};

	config_sbuf_printf(&b, "name = ");
	config_sbuf_quoted(&b, vm->name);
	config_sbuf_printf(&b, "\nqmp = ");
	config_sbuf_quoted(&b, vm->qmp);
	config_sbuf_printf(&b, "\nrole = %s\npeer-node = %" PRIu32 "\n", vm->role, vm->peer_node);
	if (!vm_cmds_print(&b, "pre-failover", vm->pre, vm->n_pre) ||
	    !vm_cmds_print(&b, "post-failover", vm->post, vm->n_post))
		b.oom = true;
	for (unsigned i = 0; i < vm->n_yank_exclude; i++) {
		config_sbuf_printf(&b, "yank-exclude = ");
		config_sbuf_quoted(&b, vm->yank_exclude[i]);
		config_sbuf_printf(&b, "\n");
	}
	return config_sbuf_finish(&b);
}

int config_vm_copy(const struct arb_vm_config *src, struct arb_vm_config *dst)
{
	struct arb_vm_config tmp = *src;

	tmp.pre = src->n_pre ? calloc(src->n_pre, sizeof(*tmp.pre)) : NULL;
	tmp.post = src->n_post ? calloc(src->n_post, sizeof(*tmp.post)) : NULL;
	tmp.yank_exclude = src->n_yank_exclude
		? malloc(sizeof(*tmp.yank_exclude) * src->n_yank_exclude) : NULL;
	if ((src->n_pre && !tmp.pre) || (src->n_post && !tmp.post) ||
	    (src->n_yank_exclude && !tmp.yank_exclude))
		goto oom;
	for (unsigned i = 0; i < src->n_pre; i++)
		if (cmd_copy(&src->pre[i], &tmp.pre[i]) < 0)
			goto oom;
	for (unsigned i = 0; i < src->n_post; i++)
		if (cmd_copy(&src->post[i], &tmp.post[i]) < 0)
			goto oom;
	if (src->n_yank_exclude)
		memcpy(tmp.yank_exclude, src->yank_exclude,
		       sizeof(*tmp.yank_exclude) * src->n_yank_exclude);
	*dst = tmp;
	return 0;
oom:
	/* the slots not yet copied are zeroed: cmd_clear() passes them by */
	config_vm_free(&tmp);
	return -ENOMEM;
}

bool config_vm_equal(const struct arb_vm_config *a, const struct arb_vm_config *b)
{
	if (strcmp(a->name, b->name) != 0 || strcmp(a->qmp, b->qmp) != 0 ||
	    strcmp(a->role, b->role) != 0 || a->peer_node != b->peer_node ||
	    a->n_pre != b->n_pre || a->n_post != b->n_post ||
	    a->n_yank_exclude != b->n_yank_exclude)
		return false;
	for (unsigned i = 0; i < a->n_pre; i++) {
		if (!cmd_equal(&a->pre[i], &b->pre[i]))
			return false;
	}
	for (unsigned i = 0; i < a->n_post; i++) {
		if (!cmd_equal(&a->post[i], &b->post[i]))
			return false;
	}
	for (unsigned i = 0; i < a->n_yank_exclude; i++) {
		if (strcmp(a->yank_exclude[i], b->yank_exclude[i]) != 0)
			return false;
	}
	return true;
}
