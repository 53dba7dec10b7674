/*
 * epoch_record.c: a VM's persisted fsm state as its epoch log line, and
 * back (epoch_record.h).
 *
 * Written as text, not built as a jansson tree and dumped: a node loss
 * persists two records per VM on the survivor and one on the witness,
 * and with hundreds of VMs the trees (some thirty allocations each) were a
 * visible share of the time to the last x-colo-lost-heartbeat.  The bytes
 * are those of the tree earlier versions dumped (test_epoch_record checks
 * it), so logs written by either read the same.
 */
#include "epoch_record.h"
#include "epoch_log.h"
#include "json_text.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void inst_text(struct jtext *b, const struct fsm_instance *i)
{
	jtext_kint(b, "{\"pid\":", (long long)i->pid);
	jtext_kint(b, ",\"start\":", (long long)i->start);
	jtext_raw(b, "}");
}

static void epoch_text(struct jtext *b, const struct fsm_epoch *e)
{
	jtext_kint(b, "{\"n\":", (long long)e->n);
	jtext_kint(b, ",\"kind\":", (long long)e->kind);
	jtext_kint(b, ",\"holder\":", (long long)e->holder);
	jtext_raw(b, ",\"hinst\":");
	inst_text(b, &e->hinst);
	jtext_kint(b, ",\"secondary\":", (long long)e->secondary);
	jtext_raw(b, ",\"sinst\":");
	inst_text(b, &e->sinst);
	jtext_raw(b, "}");
}

char *epoch_record_text(const struct fsm_persist *r, size_t *len)
{
	struct jtext b = { 0 };
	char name[EPOCH_LOG_NAME_MAX];
	char *s;

	jtext_kstr(&b, "{\"vm\":", r->vm);
	jtext_kint(&b, ",\"version\":", 1);
	jtext_raw(&b, ",\"epoch\":");
	epoch_text(&b, &r->epoch);
	jtext_kbool(&b, ",\"acked\":", r->acked);
	jtext_kint(&b, ",\"acked_prop\":{\"from_n\":", (long long)r->acked_prop.from_n);
	jtext_kint(&b, ",\"proposer\":", (long long)r->acked_prop.proposer);
	jtext_raw(&b, ",\"to\":");
	epoch_text(&b, &r->acked_prop.to);
	jtext_kint(&b, "},\"frozen_n\":", (long long)r->frozen_n);
	jtext_kbool(&b, ",\"frozen\":", r->frozen);
	jtext_raw(&b, ",\"frozen_inst\":");
	inst_text(&b, &r->frozen_inst);
	jtext_kbool(&b, ",\"named\":", r->named);
	jtext_raw(&b, ",\"named_inst\":");
	inst_text(&b, &r->named_inst);
	jtext_kint(&b, ",\"named_n\":", (long long)r->named_n);
	/* only when set: records stay as older daemons wrote and read them */
	if (r->broke) {
		jtext_raw(&b, ",\"broke_inst\":");
		inst_text(&b, &r->broke_inst);
	}
	jtext_raw(&b, "}");
	s = jtext_done(&b);
	if (s && !epoch_log_line_vm(s, b.n, name)) {
		free(s); /* a name the config would have refused */
		s = NULL;
	}
	if (s)
		*len = b.n;
	return s;
}

/* ---- reading ------------------------------------------------------------- */

static int get_u64(json_t *o, const char *k, uint64_t *out)
{
	json_t *v = json_object_get(o, k);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -EINVAL;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int get_u32(json_t *o, const char *k, uint32_t *out)
{
	uint64_t x;

	if (get_u64(o, k, &x) || x > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)x;
	return 0;
}

static int get_bool(json_t *o, const char *k, bool *out)
{
	json_t *v = json_object_get(o, k);

	if (!json_is_boolean(v))
		return -EINVAL;
	*out = json_is_true(v);
	return 0;
}

static int inst_from(json_t *o, struct fsm_instance *i)
{
	return get_u32(o, "pid", &i->pid) || get_u64(o, "start", &i->start) ? -EINVAL : 0;
}

static int epoch_from(json_t *o, struct fsm_epoch *e)
{
	uint32_t kind;

	if (get_u64(o, "n", &e->n) || get_u32(o, "kind", &kind) || kind > FSM_EPOCH_SOLO ||
	    get_u32(o, "holder", &e->holder) || get_u32(o, "secondary", &e->secondary) ||
	    inst_from(json_object_get(o, "hinst"), &e->hinst) ||
	    inst_from(json_object_get(o, "sinst"), &e->sinst))
		return -EINVAL;
	e->kind = (enum fsm_epoch_kind)kind;
	return 0;
}

int epoch_record_from_json(json_t *o, struct fsm_persist *r)
{
	const char *vm = json_string_value(json_object_get(o, "vm"));
	json_t *ap = json_object_get(o, "acked_prop");

	memset(r, 0, sizeof(*r));
	if (!vm || strlen(vm) >= sizeof(r->vm) || !ap)
		return -EINVAL;
	memcpy(r->vm, vm, strlen(vm) + 1);
	if (epoch_from(json_object_get(o, "epoch"), &r->epoch) ||
	    get_bool(o, "acked", &r->acked) || get_u64(ap, "from_n", &r->acked_prop.from_n) ||
	    get_u32(ap, "proposer", &r->acked_prop.proposer) ||
	    epoch_from(json_object_get(ap, "to"), &r->acked_prop.to) ||
	    get_u64(o, "frozen_n", &r->frozen_n) || get_bool(o, "frozen", &r->frozen) ||
	    inst_from(json_object_get(o, "frozen_inst"), &r->frozen_inst) ||
	    get_bool(o, "named", &r->named) ||
	    inst_from(json_object_get(o, "named_inst"), &r->named_inst) ||
	    get_u64(o, "named_n", &r->named_n))
		return -EINVAL;
	if (json_object_get(o, "broke_inst")) {
		if (inst_from(json_object_get(o, "broke_inst"), &r->broke_inst))
			return -EINVAL;
		r->broke = true;
	}
	return 0;
}
