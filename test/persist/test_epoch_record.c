/*
 * test_epoch_record.c: a VM's epoch log line (epoch_record.c).
 *
 * The text writer gives byte for byte what the jansson tree earlier
 * versions built and dumped gives (the reference below is that code), for
 * seeded random records with and without a broken instance and with
 * counters across the whole signed 64-bit range; every line reads back to
 * the record; a name the log cannot key gives no line; a member missing or
 * of the wrong type is refused.  Must not depend on the cwd.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "epoch_record.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- the reference: the tree earlier versions dumped ---------------------- */

static json_t *ref_inst(const struct fsm_instance *i)
{
	return json_pack("{s:I,s:I}", "pid", (json_int_t)i->pid, "start", (json_int_t)i->start);
}

static json_t *ref_epoch(const struct fsm_epoch *e)
{
	return json_pack("{s:I,s:i,s:I,s:o,s:I,s:o}", "n", (json_int_t)e->n, "kind", (int)e->kind,
			 "holder", (json_int_t)e->holder, "hinst", ref_inst(&e->hinst),
			 "secondary", (json_int_t)e->secondary, "sinst", ref_inst(&e->sinst));
}

static char *ref_text(const struct fsm_persist *r)
{
	json_t *o = json_pack("{s:s,s:i,s:o,s:b,s:{s:I,s:I,s:o},s:I,s:b,s:o,s:b,s:o,s:I}",
			      "vm", r->vm, "version", 1, "epoch", ref_epoch(&r->epoch),
			      "acked", r->acked, "acked_prop", "from_n",
			      (json_int_t)r->acked_prop.from_n, "proposer",
			      (json_int_t)r->acked_prop.proposer, "to", ref_epoch(&r->acked_prop.to),
			      "frozen_n", (json_int_t)r->frozen_n, "frozen", r->frozen, "frozen_inst",
			      ref_inst(&r->frozen_inst), "named", r->named, "named_inst",
			      ref_inst(&r->named_inst), "named_n", (json_int_t)r->named_n);
	char *s;

	if (r->broke)
		json_object_set_new(o, "broke_inst", ref_inst(&r->broke_inst));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* ---- random records --------------------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* small, near a power of two, or anywhere below 2^63 (the reader's range) */
static uint64_t rnd_u64(void)
{
	switch (rnd() % 3) {
	case 0:
		return rnd() % 100;
	case 1:
		return (1ULL << (rnd() % 63)) - rnd() % 2;
	default:
		return rnd() >> 1;
	}
}

static void rnd_inst(struct fsm_instance *i)
{
	i->pid = (uint32_t)rnd();
	i->start = rnd_u64();
}

static void rnd_epoch(struct fsm_epoch *e)
{
	e->n = rnd_u64();
	e->kind = (enum fsm_epoch_kind)(rnd() % (FSM_EPOCH_SOLO + 1));
	e->holder = (uint32_t)rnd();
	rnd_inst(&e->hinst);
	e->secondary = (uint32_t)rnd();
	rnd_inst(&e->sinst);
}

static void rnd_rec(struct fsm_persist *r, unsigned k)
{
	static const char chars[] = "abcXYZ019_.-";

	memset(r, 0, sizeof(*r));
	r->vm[0] = 'v';
	for (unsigned i = 1, n = 1 + k % 40; i < n; i++)
		r->vm[i] = chars[rnd() % (sizeof(chars) - 1)];
	rnd_epoch(&r->epoch);
	r->acked = rnd() & 1;
	r->acked_prop.from_n = rnd_u64();
	r->acked_prop.proposer = (uint32_t)rnd();
	rnd_epoch(&r->acked_prop.to);
	r->frozen_n = rnd_u64();
	r->frozen = rnd() & 1;
	rnd_inst(&r->frozen_inst);
	r->named = rnd() & 1;
	rnd_inst(&r->named_inst);
	r->named_n = rnd_u64();
	r->broke = k % 3 == 0;
	if (r->broke)
		rnd_inst(&r->broke_inst);
}

static void test_text_is_the_tree_dumped(void **state)
{
	(void)state;
	for (unsigned k = 0; k < 5000; k++) {
		struct fsm_persist r, back;
		char *ref, *text;
		size_t len = 0;
		json_t *o;

		rnd_rec(&r, k);
		ref = ref_text(&r);
		text = epoch_record_text(&r, &len);
		assert_non_null(ref);
		assert_non_null(text);
		assert_string_equal(text, ref);
		assert_int_equal(len, strlen(ref));
		o = json_loads(text, 0, NULL);
		assert_non_null(o);
		assert_int_equal(epoch_record_from_json(o, &back), 0);
		assert_memory_equal(&back, &r, sizeof(r));
		json_decref(o);
		free(ref);
		free(text);
	}
}

static void test_bad_name_gives_no_line(void **state)
{
	struct fsm_persist r;
	size_t len = 0;

	(void)state;
	rnd_rec(&r, 1);
	strcpy(r.vm, "a\"b");
	assert_null(epoch_record_text(&r, &len));
	strcpy(r.vm, "");
	assert_null(epoch_record_text(&r, &len));
}

static void test_missing_or_mistyped_member_refused(void **state)
{
	static const char *const drop[] = { "vm", "epoch", "acked", "acked_prop", "frozen_n",
					    "frozen", "frozen_inst", "named", "named_inst",
					    "named_n" };
	struct fsm_persist r, back;
	size_t len;
	char *text;

	(void)state;
	rnd_rec(&r, 2);
	text = epoch_record_text(&r, &len);
	assert_non_null(text);
	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++) {
		json_t *o = json_loads(text, 0, NULL);

		json_object_del(o, drop[i]);
		assert_int_equal(epoch_record_from_json(o, &back), -EINVAL);
		json_object_set_new(o, drop[i], i ? json_string("x") : json_integer(5));
		assert_int_equal(epoch_record_from_json(o, &back), -EINVAL);
		json_decref(o);
	}
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_is_the_tree_dumped),
		cmocka_unit_test(test_bad_name_gives_no_line),
		cmocka_unit_test(test_missing_or_mistyped_member_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
