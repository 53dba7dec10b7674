/*
 * sim_main.c: command line of test/sim/sim: random runs (the make check
 * budget or a soak count), replay of one seed with a readable timeline, the
 * fixed SAFETY.md §6 schedules, the mechanism-removal searches, and the
 * shrinking of a failing schedule.
 *
 * Must not: let anything but the seed decide a run (the only clock read
 * measures schedules per second for the report).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim.h"

static const struct {
	const char *name;
	enum sim_profile prof;
	uint32_t disable;
} mechs[] = {
	{ "quorum_gate", SP_QUORUM_GATE, FSM_MECH_QUORUM_GATE },
	{ "ring_id_agreement", SP_RING_ID, FSM_MECH_RING_ID_AGREEMENT },
	{ "fence_wait", SP_FENCE_WAIT, FSM_MECH_FENCE_WAIT },
	{ "procdown_guard", SP_PROCDOWN, FSM_MECH_PROCDOWN_GUARD },
	/* a watchdog would reset the stalled node in time too */
	{ "own_liveness", SP_OWN_LIVENESS, FSM_MECH_OWN_LIVENESS | SIM_NO_WATCHDOG },
	{ "epoch_cas", SP_EPOCH_CAS, FSM_MECH_EPOCH_CAS },
	{ "eligibility", SP_ELIGIBILITY, FSM_MECH_ELIGIBILITY },
	{ "freeze_confirm", SP_FREEZE_CONFIRM, FSM_MECH_FREEZE_CONFIRM },
	{ "yank_first", SP_YANK_FIRST, FSM_MECH_YANK_FIRST },
	{ "watchdog", SP_WATCHDOG, SIM_NO_WATCHDOG },
	{ "watchdog_release", SP_WATCHDOG, SIM_WD_HOLD_ALWAYS },
};

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_disable(const char *arg, uint32_t *out)
{
	char buf[512], *tok, *save = NULL;

	*out = 0;
	snprintf(buf, sizeof(buf), "%s", arg);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		unsigned b;

		if (!strcmp(tok, "watchdog") || !strcmp(tok, "watchdog_release")) {
			*out |= tok[8] ? SIM_WD_HOLD_ALWAYS : SIM_NO_WATCHDOG;
			continue;
		}
		for (b = 0; b < FSM_MECH_COUNT; b++)
			if (!strcmp(tok, fsm_mechanism_to_str((enum fsm_mechanism)(1u << b))))
				break;
		if (b == FSM_MECH_COUNT) {
			fprintf(stderr, "sim: unknown mechanism '%s'\n", tok);
			return -EINVAL;
		}
		*out |= 1u << b;
	}
	return 0;
}

static void print_disable(uint32_t d)
{
	bool any = false;

	for (unsigned b = 0; b < FSM_MECH_COUNT; b++)
		if (d & (1u << b)) {
			printf("%s%s", any ? "," : "", fsm_mechanism_to_str((enum fsm_mechanism)(1u << b)));
			any = true;
		}
	if (d & SIM_NO_WATCHDOG) {
		printf("%swatchdog", any ? "," : "");
		any = true;
	}
	if (d & SIM_WD_HOLD_ALWAYS) {
		printf("%swatchdog_release", any ? "," : "");
		any = true;
	}
	if (!any)
		printf("none");
}

/* Drop faults and noise while the same invariant still breaks. */
static void shrink(struct sim_world *w, struct sim_schedule *s, int inv)
{
	bool progress = true;

	while (progress) {
		progress = false;
		for (unsigned k = 0; k < s->n; k++) {
			struct sim_schedule t = *s;

			memmove(&t.f[k], &t.f[k + 1], (t.n - k - 1) * sizeof(t.f[0]));
			t.n--;
			if (sim_run(w, &t, 0) && w->v.inv == inv) {
				*s = t;
				progress = true;
				break;
			}
		}
		if (progress)
			continue;
		{
			struct sim_schedule t = *s;

			t.p.msg_loss_pm = 0;
			t.p.fence_fail_pm = 0;
			t.p.freeze_colo_primaries = false;
			if (memcmp(&t.p, &s->p, sizeof(t.p)) &&
			    sim_run(w, &t, 0) && w->v.inv == inv) {
				*s = t;
				progress = true;
			}
		}
		for (unsigned v = s->p.vms; !progress && v > 1; v--) {
			struct sim_schedule t = *s;
			bool refs = false;

			t.p.vms = v - 1;
			for (unsigned k = 0; k < t.n; k++)
				if (t.f[k].vm >= t.p.vms)
					refs = true;
			if (!refs && sim_run(w, &t, 0) && w->v.inv == inv) {
				*s = t;
				progress = true;
			}
		}
	}
}

static void report(struct sim_world *w, struct sim_schedule *s, bool do_shrink)
{
	int inv = w->v.inv;

	printf("# VIOLATION seed=%llu invariant %d: %s\n",
	       (unsigned long long)s->seed, inv, w->v.what);
	if (do_shrink) {
		shrink(w, s, inv);
		printf("# shrunk to %u fault(s):\n", s->n);
	}
	sim_schedule_print(s);
	printf("# timeline:\n");
	sim_run(w, s, 1);
	fflush(stdout);
}

static int run_random(struct sim_world *w, uint64_t start, uint64_t count,
		      enum sim_profile prof, uint32_t disable, bool quiet)
{
	struct sim_schedule s;
	double t0 = mono_s(), dt;
	uint64_t steps = 0, sim_ms = 0, limits = 0, breaks = 0;

	for (uint64_t k = 0; k < count; k++) {
		sim_schedule_random(&s, start + k, prof);
		s.p.disable |= disable;
		if (sim_run(w, &s, 0)) {
			report(w, &s, true);
			return 1;
		}
		steps += w->steps;
		limits += w->limit_stalls;
		breaks += w->limit_breaks;
		sim_ms += (uint64_t)(w->now - w->t0);
	}
	dt = mono_s() - t0;
	if (!quiet)
		printf("# %llu random schedules (seeds %llu..%llu, profile %s), 0 violations, "
		       "%.2f s, %.0f schedules/s, %.1f fsm steps and %.1f virtual s per schedule\n",
		       (unsigned long long)count, (unsigned long long)start,
		       (unsigned long long)(start + count - 1), sim_profile_to_str(prof),
		       dt, dt > 0 ? (double)count / dt : 0.0,
		       count ? (double)steps / (double)count : 0.0,
		       count ? (double)sim_ms / 1000.0 / (double)count : 0.0);
	if (!quiet)
		printf("# %llu VM(s) ended stalled by an ack held for a transition that "
		       "never committed (known limit, doc/fsm.md section 11)\n",
		       (unsigned long long)limits);
	if (!quiet)
		printf("# %llu VM(s) ended stalled after a replication break whose COLO_EXIT "
		       "reached no arbiter (known limit, doc/fsm.md section 11)\n",
		       (unsigned long long)breaks);
	return 0;
}

static int run_fixed(struct sim_world *w, unsigned which, int verbose)
{
	struct sim_schedule s;
	int bad = 0;

	for (unsigned i = 1; sim_schedule_fixed(&s, i); i++) {
		if (which && i != which)
			continue;
		if (i == 17) {
			struct fsm_config c;
			const char *why = NULL;

			fsm_config_defaults(&c);
			c.local_nodeid = 1;
			c.expected_votes = 2;
			c.two_node = true;
			c.fence_policy = FSM_FENCE_SELF;
			if (fsm_config_check(&c, &why) != -EINVAL) {
				printf("not ok - %s: 'self' under two_node accepted\n", s.name);
				bad++;
				continue;
			}
		}
		if (sim_run(w, &s, verbose)) {
			printf("not ok - fixed %u: %s\n", i, s.name);
			report(w, &s, false);
			bad++;
		} else {
			printf("ok - fixed %u: %s (%llu fsm steps, %.1f virtual s)\n", i, s.name,
			       (unsigned long long)w->steps, (double)(w->now - w->t0) / 1000.0);
		}
	}
	return bad ? 1 : 0;
}

static int search(struct sim_world *w, const char *name, uint32_t extra,
		  uint64_t start, uint64_t count)
{
	struct sim_schedule s;

	for (unsigned m = 0; m < sizeof(mechs) / sizeof(mechs[0]); m++) {
		uint32_t dis = mechs[m].disable | extra;

		if (strcmp(mechs[m].name, name))
			continue;
		for (uint64_t k = 0; k < count; k++) {
			sim_schedule_random(&s, start + k, mechs[m].prof);
			s.p.disable = dis;
			if (sim_run(w, &s, 0)) {
				printf("# %s off (disable=", name);
				print_disable(dis);
				printf("): invariant %d broken at seed %llu after %llu seeds: %s\n",
				       w->v.inv, (unsigned long long)(start + k),
				       (unsigned long long)(k + 1), w->v.what);
				report(w, &s, true);
				return 0;
			}
		}
		printf("# %s off (disable=", name);
		print_disable(dis);
		printf("): no violation in %llu seeds\n", (unsigned long long)count);
		return 1;
	}
	fprintf(stderr, "sim: unknown mechanism %s\n", name);
	return 2;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: sim [--count N] [--start S] [--profile P] [--disable m1,m2]\n"
		"       sim --seed N [--profile P] [--disable ...] [--verbose] [--shrink]\n"
		"       sim --fixed all|I [--verbose]\n"
		"       sim --search MECH [--also m1,m2] [--count N] [--start S]\n");
}

int main(int argc, char **argv)
{
	struct sim_world *w = sim_world_new();
	uint64_t count = 1000, start = 1, seed = 0;
	bool have_seed = false, verbose = false, do_shrink = false;
	enum sim_profile prof = SP_GENERAL;
	uint32_t disable = 0, also = 0;
	const char *fixed = NULL, *srch = NULL;
	int rc = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--verbose")) {
			verbose = true;
		} else if (!strcmp(a, "--shrink")) {
			do_shrink = true;
		} else if (v && !strcmp(a, "--count")) {
			count = strtoull(v, NULL, 0);
			i++;
		} else if (v && !strcmp(a, "--start")) {
			start = strtoull(v, NULL, 0);
			i++;
		} else if (v && !strcmp(a, "--seed")) {
			seed = strtoull(v, NULL, 0);
			have_seed = true;
			i++;
		} else if (v && !strcmp(a, "--profile")) {
			unsigned p;

			for (p = 0; p < SP_COUNT; p++)
				if (!strcmp(v, sim_profile_to_str((enum sim_profile)p)))
					break;
			if (p == SP_COUNT) {
				usage();
				return 2;
			}
			prof = (enum sim_profile)p;
			i++;
		} else if (v && !strcmp(a, "--disable")) {
			if (parse_disable(v, &disable) < 0)
				return 2;
			i++;
		} else if (v && !strcmp(a, "--also")) {
			if (parse_disable(v, &also) < 0)
				return 2;
			i++;
		} else if (v && !strcmp(a, "--fixed")) {
			fixed = v;
			i++;
		} else if (v && !strcmp(a, "--search")) {
			srch = v;
			i++;
		} else {
			usage();
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (fixed) {
		rc = run_fixed(w, strcmp(fixed, "all") ? (unsigned)atoi(fixed) : 0, verbose);
	} else if (srch) {
		rc = search(w, srch, also, start, count);
	} else if (have_seed) {
		struct sim_schedule s;

		sim_schedule_random(&s, seed, prof);
		s.p.disable |= disable;
		sim_schedule_print(&s);
		if (sim_run(w, &s, verbose ? 1 : 0)) {
			rc = 1;
			if (!verbose || do_shrink)
				report(w, &s, do_shrink);
		} else {
			printf("# seed %llu: no violation (%llu fsm steps)\n",
			       (unsigned long long)seed, (unsigned long long)w->steps);
		}
	} else {
		rc = run_random(w, start, count, prof, disable, false);
	}
	sim_world_free(w);
	return rc;
}
